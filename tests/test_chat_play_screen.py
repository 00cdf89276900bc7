"""Cards, lore and the next-prompt view on the chat screen at 80x24, on the real test model."""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Input, TextArea

from card_files import b64, book, text_chunk, v2, world_info, write_json, write_png_card
from helpers import wait_until
from tui_llm.app_factory import make_app
from tui_llm.chat.cards import list_cards
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.dialogs.prompt_view import PromptView
from tui_llm.ui.screens.chat import ChatScreen


def config():
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=8, seed=1),
                     load=LoadSettings(n_ctx=512))


async def type_path(pilot, app, path):
    await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
    app.screen.query_one(Input).value = str(path)
    await pilot.press("ctrl+s")


async def test_import_a_card_pick_a_greeting_attach_lore_and_preview_the_prompt(tmp_path, model_path):
    card = write_png_card(tmp_path / "mira.png", text_chunk("chara", b64(v2(character_book=book(
        [{"keys": ["harbour"], "content": "The harbour froze in 1890.", "name": "harbour"}])))))
    lore = write_json(tmp_path / "sea.json", world_info([{"key": ["ghost"], "content": "Ghosts sail."}]))
    app = make_app(config=config(), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, 60)
        screen = app.screen
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("enter")  # import a card
        await type_path(pilot, app, card)
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "greet" in app.screen.title_text
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: screen.session.character == "Mira")
        assert [t.text for t in screen.session.turns] == ["You again, User? Tea's on."]
        assert screen.session.mode == "chat" and [p.name for p in list_cards()] == ["mira.png"]

        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        labels = [label for _, label in app.screen.options]
        assert "Play mira.png" in labels
        await pilot.press(*["down"] * labels.index("Attach a lorebook (World Info JSON) ..."), "enter")
        await type_path(pilot, app, lore)
        await wait_until(pilot, lambda: len(screen.session.play.lorebooks) == 2)

        await pilot.press(*"any ghost near the harbour?")
        await pilot.press("f7")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptView))
        shown = app.screen.query_one(TextArea).text
        for part in ("Mira is a lighthouse keeper", "The harbour froze in 1890.", "Ghosts sail.",
                     "any ghost near the harbour?", "Stay in Mira's voice."):
            assert part in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert screen.query_one("#prompt", Input).value == "any ghost near the harbour?"

        read: list[str] = []
        real = screen.runner._generate_sync
        screen.runner._generate_sync = lambda prompt, *a, **k: (read.append(prompt), real(prompt, *a, **k))[1]
        await pilot.press("enter")
        await pilot.pause()
        await wait_until(pilot, lambda: not screen.generating and read, 120)
        assert read == [shown]


async def test_a_bad_card_path_is_a_notice_and_changes_nothing(tmp_path, model_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    app = make_app(config=config(), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, 60)
        screen = app.screen
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("enter")
        await type_path(pilot, app, bad)
        await wait_until(pilot, lambda: "truncated" in screen.last_notice)
        assert screen.session.character == "" and list_cards() == []
        assert isinstance(app.screen, ChatScreen)


async def test_f8_shows_each_token_of_the_last_reply_with_its_odds(model_path):
    from tui_llm.ui.dialogs.token_view import TokenView

    app = make_app(config=config(), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, 60)
        screen = app.screen
        await pilot.press("f8")  # nothing written yet: a notice, no dialog
        await wait_until(pilot, lambda: any("No reply yet" in str(n.message) for n in app._notifications))
        assert app.screen is screen

        await pilot.press(*"Name a colour.", "enter")
        await pilot.pause()
        await wait_until(pilot, lambda: not screen.generating and len(screen.session.turns) == 2, 120)
        tokens = screen.runner.last_tokens.tokens
        assert len(tokens) == 8  # max_tokens: the reply ran to its limit
        assert all(0.0 < t.prob <= 1.0 and t.alternatives for t in tokens)
        assert screen.session.turns[-1].text.strip() in "".join(t.text for t in tokens)

        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, TokenView))
        lines = str(app.screen.query_one("#tokens-list").render()).splitlines()
        assert len(lines) == len(tokens)
        assert all(cell_len(line) <= 72 for line in lines)
        assert "8 tokens · mean probability" in str(app.screen.query_one("#tokens-facts").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)


def test_a_token_line_shows_hidden_characters_and_marks_unlikely_tokens():
    from tui_llm.engine.token_probs import Alternative, TokenChoice
    from tui_llm.ui.dialogs.token_view import token_line

    choice = TokenChoice("\x1b[2J\n", 0.05, (Alternative("\x1b[2J\n", 0.05), Alternative(" the", 0.9)))
    line = token_line(choice, 40)
    assert line.plain.startswith('"⏎"') and "\x1b" not in line.plain
    assert '" the" 90.0%' in line.plain and line.plain.count("5.0%") == 1  # itself is not an alternative
    assert any("red" in str(span.style) for span in line.spans)
    long = token_line(TokenChoice("x" * 50, 0.99, tuple(Alternative(f"alt{i}", 0.001) for i in range(5))), 30)
    assert cell_len(long.plain) <= 30 and long.plain.startswith('"xxxxxxxxxxxxxx…')

"""Keys sent in one burst, as SSH delivers them, land where they were aimed.

Each test first shows the keys reach the app in one go (``burst`` does not
wait between keys), then asserts where every character ended up.
"""

from __future__ import annotations

from textual.widgets import Input, TextArea

from helpers import FakeRunner, burst, wait_until
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.settings import SettingsScreen


def config() -> AppConfig:
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=64),
                     load=LoadSettings(n_ctx=512))


async def open_chat(pilot, app) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


async def test_enter_in_a_burst_sends_only_what_was_typed_before_it():
    runner = FakeRunner(["A slow answer that takes its time to arrive."], delay=0.05)
    app = make_app(config=config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        burst(app, "Say hi", "enter", "enter", "xyz", "enter")
        await wait_until(pilot, lambda: not screen.generating and screen.session.turns[-1:]
                         and screen.session.turns[-1].role == "assistant")
        assert [t.text for t in screen.session.turns if t.role == "user"] == ["Say hi"]
        # "xyz" came while the reply streamed: it waits in the prompt, nothing lost.
        assert screen.query_one("#prompt", Input).value == "xyz"
        assert len(runner.requests) == 1


async def test_two_messages_in_one_burst_after_the_reply_are_both_kept():
    runner = FakeRunner(["First.", "Second."])
    app = make_app(config=config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        burst(app, "one", "enter")
        await wait_until(pilot, lambda: len(screen.session.turns) == 2 and not screen.generating)
        burst(app, "two", "enter")
        await wait_until(pilot, lambda: len(screen.session.turns) == 4 and not screen.generating)
        assert [t.text for t in screen.session.turns] == ["one", "First.", "two", "Second."]


async def test_settings_edits_sent_in_a_burst_land_in_the_next_row():
    app = make_app(config=config(), runner=FakeRunner(), start="home")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen)
                         and app.screen.query("#sampler-temperature"))
        screen = app.screen
        screen.query_one("#sampler-temperature", Input).focus()
        await pilot.pause()
        # Down to Min P ("0.1"), go to its end, delete a digit, type "05": "0.05".
        burst(app, "down", "end", "backspace", "05")
        min_p = screen.query_one("#sampler-min_p", Input)
        await wait_until(pilot, lambda: min_p.value == "0.05")
        assert screen.query_one("#sampler-temperature", Input).value == "0"
        burst(app, "end", "backspace", "backspace", "backspace", "backspace", "0.2")
        await wait_until(pilot, lambda: min_p.value == "0.2")


async def test_text_typed_right_after_tab_goes_into_the_next_field():
    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog)
                         and app.focused is app.screen.query_one("#field-character"))
        burst(app, "Ada", "tab", "A kind captain.", "tab", "Hello, sailor.", "ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        session = screen.session
        assert session.character == "Ada"
        assert session.system_prompt == "A kind captain."
        assert session.greeting == "Hello, sailor."


async def test_the_memory_form_keeps_each_field_apart():
    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        memory = app.screen.query_one("#field-memory", TextArea)
        assert app.focused is memory
        burst(app, "The ship is the Wren.", "tab", "Keep it short.", "ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.memory == "The ship is the Wren."
        assert screen.session.authors_note == "Keep it short."


async def test_enter_in_a_one_line_form_saves_it():
    from tui_llm.ui.dialogs.fields import Field

    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_chat(pilot, app)
        results = []
        app.push_screen(FieldsDialog("Rename", [Field("title", "Title", "Old title")]), results.append)
        await wait_until(pilot, lambda: isinstance(app.focused, Input))
        burst(app, "end", "backspace", "backspace", "backspace", "backspace", "backspace", "New", "enter")
        await wait_until(pilot, lambda: results)
        assert results == [{"title": "Old New"}]


# -- keys that open a dialog, and what is typed right behind them -----------------

async def test_text_typed_right_after_f2_goes_into_the_memory_dialog():
    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        prompt = screen.query_one("#prompt", Input)
        burst(app, "f2", "The ship is the Wren.", "tab", "Keep it short.", "ctrl+s", "Hello")
        await wait_until(pilot, lambda: app.screen is screen and prompt.value == "Hello")
        assert screen.session.memory == "The ship is the Wren."
        assert screen.session.authors_note == "Keep it short."


async def test_setup_typed_behind_f3_and_the_prompt_behind_its_save():
    app = make_app(config=config(), runner=FakeRunner(["Ahoy."]), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        burst(app, "Hi", "f3", "Ada", "tab", "A kind captain.", "ctrl+s", " there", "enter")
        await wait_until(pilot, lambda: len(screen.session.turns) == 2 and not screen.generating)
        assert screen.session.character == "Ada"
        assert screen.session.system_prompt == "A kind captain."
        assert screen.session.greeting == ""
        assert [t.text for t in screen.session.turns] == ["Hi there", "Ahoy."]


async def test_escape_in_a_burst_closes_the_dialog_and_the_rest_goes_to_the_prompt():
    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        prompt = screen.query_one("#prompt", Input)
        burst(app, "f2", "lost on purpose", "escape", "kept")
        await wait_until(pilot, lambda: app.screen is screen and prompt.value == "kept")
        assert screen.session.memory == ""


async def test_a_mode_chosen_in_a_burst_then_text_for_the_new_mode():
    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        assert screen.session.mode == "instruct"
        prompt = screen.query_one("#prompt", Input)
        # Mode list: chat, instruct, story, adventure; Enter closes the dialog in a message it sets off.
        burst(app, "ctrl+o", "down", "enter", "Once upon a time")
        await wait_until(pilot, lambda: prompt.value == "Once upon a time")
        assert app.screen is screen
        assert screen.session.mode == "story"


async def test_picking_and_editing_a_turn_in_one_burst():
    app = make_app(config=config(), runner=FakeRunner(["Fine, thanks."]), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        burst(app, "How are you?", "enter")
        await wait_until(pilot, lambda: len(screen.session.turns) == 2 and not screen.generating)
        prompt = screen.query_one("#prompt", Input)
        # F4 lists the turns (the last one chosen); Enter opens the editor from the list's callback;
        # saving an edited input offers to write its reply again, and Esc keeps the turns.
        burst(app, "f4", "up", "enter", "So, ", "ctrl+s", "escape", "next")
        await wait_until(pilot, lambda: app.screen is screen and prompt.value == "next")
        assert [t.text for t in screen.session.turns] == ["So, How are you?", "Fine, thanks."]


async def test_the_command_palette_and_the_keys_dialog_take_what_is_typed_behind_them():
    from textual.command import CommandPalette

    app = make_app(config=config(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        prompt = screen.query_one("#prompt", Input)
        burst(app, "ctrl+p", "memo")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette)
                         and app.screen.query_one(Input).value == "memo")
        burst(app, "escape", "abc", "f1", "escape", "de")
        await wait_until(pilot, lambda: app.screen is screen and prompt.value == "abcde")

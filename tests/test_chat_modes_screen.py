"""The chat screen's modes and keys at 80x24, and the sessions screen.

UI-only tests drive a scripted FakeRunner (it proves nothing about the engine);
the last test runs an adventure turn on the real test model.
"""

from __future__ import annotations


from textual.widgets import Input, OptionList, TextArea

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.chat.sessions import Session, list_sessions, load_session, save_session
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.sessions import SessionsScreen
from tui_llm.ui.widgets.session_turn import SessionTurnView
from tui_llm.ui.widgets.transcript import TurnView
from helpers import FakeRunner, wait_until


def config(max_tokens=64):
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=max_tokens),
                     load=LoadSettings(n_ctx=512))


async def open_chat(pilot, app, session=None):
    app.push_screen(ChatScreen(app.runner, None, session))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


async def send(pilot, screen, text):
    await pilot.press(*text) if text else None
    await pilot.press("enter")
    await pilot.pause()
    await wait_until(pilot, lambda: not screen.generating)


def views(screen):
    return list(screen.query(SessionTurnView))


def notices(screen):
    return [t.text for t in screen.query(TurnView) if t.role == "notice"]


async def test_mode_picker_switches_to_adventure_with_actions_and_story_input():
    runner = FakeRunner(["You see a torch.", "The wind answers."])
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        assert screen.session.mode == "instruct"
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("down", "down", "enter")  # instruct -> story -> adventure
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog)
                         and "scenario" in app.screen.title_text)
        await pilot.press("escape")  # an empty adventure, no scenario
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.mode == "adventure" and screen.session.turns == []
        prompt = screen.query_one("#prompt", Input)
        assert prompt.border_title == "Action >"
        await send(pilot, screen, "look around")
        assert runner.requests[-1].endswith("> look around\n\n")
        assert "\n> " in runner.samplers[-1].stop
        action_view = views(screen)[0]
        assert action_view.role == "action" and "> look around" in str(action_view.render())
        await pilot.press("ctrl+t")
        assert prompt.border_title == "Story"
        await send(pilot, screen, "A cold wind blows.")
        assert [(t.role, t.text) for t in screen.session.turns] == [
            ("action", "look around"), ("assistant", "You see a torch."),
            ("user", "A cold wind blows."), ("assistant", "The wind answers."),
        ]
        assert runner.requests[-1].endswith("You see a torch. A cold wind blows.")


async def test_regenerate_continue_and_undo():
    runner = FakeRunner(["First answer.", "Second answer.", " And more."])
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await send(pilot, screen, "Hello")
        assert screen.session.turns[-1].text == "First answer."
        await pilot.press("ctrl+r")
        await pilot.pause()
        await wait_until(pilot, lambda: not screen.generating)
        assert [t.text for t in screen.session.turns] == ["Hello", "Second answer."]
        assert runner.requests[1] == runner.requests[0]  # the same prompt, asked again
        assert [v.text for v in views(screen)] == ["Hello", "‹ 2/2 › Second answer."]
        await pilot.press("ctrl+g")
        await pilot.pause()
        await wait_until(pilot, lambda: not screen.generating)
        assert screen.session.turns[-1].text == "Second answer. And more."
        # The runner cannot render, so the reply to continue is sent as an open assistant turn.
        assert runner.requests[2][-1] == {"role": "assistant", "content": "Second answer."}
        await pilot.press("ctrl+z")
        assert [t.text for t in screen.session.turns] == ["Hello"]
        await pilot.press("ctrl+z")
        assert screen.session.turns == []
        assert screen.query_one("#prompt", Input).value == "Hello"
        assert views(screen) == []


async def test_edit_a_past_turn():
    runner = FakeRunner(["Paris.", "Yes."])
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await send(pilot, screen, "Capital of France?")
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("up", "enter")  # the latest turn is highlighted; go to the first
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        area = app.screen.query_one(TextArea)
        assert area.text == "Capital of France?"
        area.text = "Capital of Italy?"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))  # write the reply again?
        await pilot.press("escape")  # no: the reply stays
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.turns[0].text == "Capital of Italy?"
        assert views(screen)[0].text == "Capital of Italy?"
        await send(pilot, screen, "Sure?")
        assert runner.requests[-1][0] == {"role": "user", "content": "Capital of Italy?"}


async def test_memory_and_authors_note_editor():
    runner = FakeRunner(["Noted."])
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        dialog = app.screen
        memory, note = dialog.query(TextArea)
        assert dialog.region.height <= 24 and memory.region.height >= 3
        memory.text = "The user is called Ada."
        note.text = "Answer in French."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.memory == "The user is called Ada."
        await send(pilot, screen, "Who am I?")
        request = runner.requests[-1]
        assert request[0] == {"role": "system", "content": "The user is called Ada."}
        assert request[-1]["content"] == "[Author's note: Answer in French.]\n\nWho am I?"
        # Esc leaves things as they were.
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        app.screen.query(TextArea).first().text = "changed"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.memory == "The user is called Ada."


async def test_truncation_is_shown_in_the_transcript_and_status():
    runner = FakeRunner(["Short reply."], n_ctx=160)
    session = Session(mode="chat", character="Bob", memory="Bob is a baker.")
    for n in range(10):
        session.add("user", f"question {n} " + "word " * 8)
        session.add("assistant", f"answer {n} " + "word " * 8)
    app = make_app(config=config(max_tokens=40), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app, session)
        await send(pilot, screen, "Still there?")
        dropped = screen.session.context_start
        assert dropped > 0 and dropped % 2 == 0
        assert any(f"the {dropped} oldest turns" in n for n in notices(screen))
        hidden = [v for v in views(screen) if v.has_class("out-of-context")]
        assert len(hidden) == dropped
        assert f"{dropped} old turns out of context" in str(screen.query_one("#status").render())
        request = runner.requests[-1]
        assert request[0]["content"].endswith("Bob is a baker.")
        assert request[-1] == {"role": "user", "content": "Still there?"}


async def test_escape_keeps_the_partial_reply_and_stream_is_batched(monkeypatch):
    calls = []
    original = SessionTurnView.set_text

    def counting(self, text):
        calls.append(text)
        original(self, text)

    monkeypatch.setattr(SessionTurnView, "set_text", counting)
    runner = FakeRunner([" w" * 400], delay=0.01)
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press(*"go")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen._draft.answer) > 300)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        reply = screen.session.turns[-1]
        assert reply.role == "assistant" and 300 <= len(reply.text) < 800
        assert views(screen)[-1].text.endswith("[stopped]")
        assert len(calls) < 60  # ~150+ pieces arrived, flushed at ~20 Hz


async def test_turns_are_saved_and_reopened_from_the_sessions_screen():
    runner = FakeRunner(["Hi Ada."])
    app = make_app(config=config(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await send(pilot, screen, "I am Ada")
        await wait_until(pilot, lambda: screen.session.path is not None
                         and screen.session.path.exists()
                         and len(load_session(screen.session.path).turns) == 2)
        saved = load_session(screen.session.path)
        assert saved.model == "fake-model" and saved.sampler["max_tokens"] == 64
        app.pop_screen()
        app.push_screen(SessionsScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        reopened = app.screen
        await wait_until(pilot, lambda: len(views(reopened)) == 2)
        assert [v.text for v in views(reopened)] == ["I am Ada", "Hi Ada."]


async def test_sessions_screen_rename_export_delete_and_a_broken_file():
    first = Session(mode="story")
    first.add("user", "A story about a fox.")
    path = save_session(first)
    broken = locations.sessions_dir() / "broken.json"
    broken.write_text("{ nope")
    app = make_app(config=config(), runner=FakeRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(SessionsScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
        screen = app.screen
        menu = screen.query_one(OptionList)
        labels = [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]
        assert any(label.startswith("! broken.json") for label in labels)
        menu.highlighted = [s.path for s in screen.summaries].index(path)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        app.screen.query_one(Input).value = "The Fox"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: load_session(path).title == "The Fox")
        await wait_until(pilot, lambda: app.screen is screen and screen.loaded)
        menu.highlighted = [s.path for s in screen.summaries].index(path)
        await pilot.press("e")
        exported = locations.data_dir() / "exports" / f"{path.stem}.md"
        await wait_until(pilot, exported.exists)
        assert exported.read_text().startswith("# The Fox")
        # Opening the broken file is refused with a notice; the app carries on.
        menu.highlighted = [s.path for s in screen.summaries].index(broken)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and broken.read_text() == "{ nope"
        menu.highlighted = [s.path for s in screen.summaries].index(path)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: not path.exists())
        assert [s.path for s in list_sessions()] == [broken]


async def test_adventure_turn_on_the_real_model(model_path):
    app = make_app(config=config(max_tokens=24), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, 60)
        screen = app.screen
        screen._mode_chosen("adventure")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("escape")  # no scenario
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press(*"open the door")
        await pilot.press("enter")
        await pilot.pause()
        await wait_until(pilot, lambda: not screen.generating, 120)
        turns = screen.session.turns
        assert [t.role for t in turns] == ["action", "assistant"]
        assert turns[1].text.strip() and "\n> " not in turns[1].text
        await wait_until(pilot, lambda: screen.session.path and screen.session.path.exists()
                         and len(load_session(screen.session.path).turns) == 2)

"""Sessions that behave: speakers keep their names, Ctrl+N asks what to carry over,
a reopened session offers its model, adventures start from a scenario, and an
edit can be written again from.

Screen behaviour runs on the scripted runner (UI only); what reaches the model
runs on the real engine and the test model.
"""

from __future__ import annotations

import json

from textual.widgets import Checkbox

from tui_llm.app_factory import make_app
from tui_llm.chat.sessions import Session, load_session, save_session, to_markdown
from tui_llm.config import AppConfig
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen

from helpers import FakeRunner, wait_until


async def open_chat(pilot, app, session=None) -> ChatScreen:
    app.push_screen(ChatScreen(app.runner, None, session))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


def labels(screen: ChatScreen) -> list[str | None]:
    return [view.label for view in screen._views]


# -- 2e: a speaker keeps the name it had ------------------------------------
def test_a_reply_keeps_the_name_it_was_written_under(tmp_path):
    session = Session(mode="chat", character="Ada")
    session.add("user", "hi")
    session.add("assistant", "Hello.")
    session.character = "Bea"
    session.add("assistant", "Hi again.")
    assert [t.speaker for t in session.turns] == ["", "Ada", "Bea"]
    assert "**Ada:**" in to_markdown(session) and "**Bea:**" in to_markdown(session)

    path = save_session(session, tmp_path / "s.json")
    data = json.loads(path.read_text())
    for turn in data["turns"]:
        turn.pop("speaker", None)  # a file written before speakers were kept
    path.write_text(json.dumps(data))
    old = load_session(path)
    assert to_markdown(old).count("**Bea:**") == 2


async def test_renaming_the_character_leaves_earlier_labels_alone():
    runner = FakeRunner(["Hello there.", "Hi again."])
    app = make_app(config=AppConfig(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app, Session(mode="chat", character="Ada"))
        await pilot.press(*"hi", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen._views) == 2)
        screen.conversation.update_setup(character="Bea")
        await pilot.pause()
        assert labels(screen) == ["You", "Ada"]
        await pilot.press(*"again", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen._views) == 4)
        assert labels(screen) == ["You", "Ada", "You", "Bea"]


# -- 2a: Ctrl+N asks what to carry over ---------------------------------------
async def test_ctrl_n_carries_over_nothing_unless_ticked():
    session = Session(mode="story", memory="Ships.", authors_note="Keep it short.", character="Ada")
    runner = FakeRunner(["The sea rose."])
    app = make_app(config=AppConfig(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app, session)
        await pilot.press(*"Once", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen._views) == 2)

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        assert [box.value for box in app.screen.query(Checkbox)] == [False, False, False]
        await pilot.press("escape")  # keeps the session on screen
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session is session and len(screen._views) == 2

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        await pilot.press("space", "ctrl+s")  # ticks Memory, the first
        await wait_until(pilot, lambda: app.screen is screen)
        fresh = screen.session
        assert fresh is not session and fresh.mode == "story" and fresh.turns == []
        assert fresh.memory == "Ships." and fresh.authors_note == "" and fresh.character == ""
        assert screen._views == [] and "carrying over: Memory" in screen.last_notice

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.session.memory == "" and screen.last_notice == "New session"


# -- 2b: a reopened session offers the model it was written with ---------------
async def test_reopening_a_session_offers_its_model(tmp_path):
    from tui_llm.ui.dialogs.choice import ChoiceDialog
    from tui_llm.ui.screens.sessions import SessionsScreen

    wanted, other = tmp_path / "wanted.gguf", tmp_path / "other.gguf"
    wanted.write_bytes(b"GGUF")
    other.write_bytes(b"GGUF")
    session = Session(mode="instruct", model="wanted", model_path=str(wanted))
    session.add("user", "hi")
    save_session(session)
    runner = FakeRunner()
    app = make_app(config=AppConfig(), runner=runner)

    async def reopen(pilot, *keys):
        while not isinstance(app.screen, SessionsScreen):
            app.pop_screen() if len(app.screen_stack) > 2 else app.push_screen(SessionsScreen())
            await pilot.pause()
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("enter")
        for key in keys:
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
            assert "written with wanted.gguf" in app.screen.title_text
            await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        return app.screen

    async with app.run_test(size=(80, 24)) as pilot:
        await runner.load(other)
        chat = await reopen(pilot, "escape")  # keeps the model that is loaded
        await pilot.pause()
        assert runner.loads == [other] and chat.session.turns[0].text == "hi"

        chat = await reopen(pilot, "enter")  # one key loads it
        await wait_until(pilot, lambda: chat.ready)
        assert runner.loads == [other, wanted] and runner.location == str(wanted)

        chat = await reopen(pilot)  # the right model is loaded: nothing to ask
        assert runner.loads == [other, wanted]

        wanted.unlink()
        await runner.load(other)
        chat = await reopen(pilot)  # gone: said, and the session opens with the model there is
        assert runner.loads == [other, wanted, other]
        assert any("no longer at" in str(n.message) for n in app._notifications)

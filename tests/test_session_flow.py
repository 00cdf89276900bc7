"""Sessions that behave: speakers keep their names, Ctrl+N asks what to carry over,
a reopened session offers its model, adventures start from a scenario, and an
edit can be written again from.

Screen behaviour runs on the scripted runner (UI only); what reaches the model
runs on the real engine and the test model.
"""

from __future__ import annotations

import json

import pytest

from textual.widgets import Checkbox, OptionList, TextArea

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


# -- 2c: adventures open with a choice of scenarios -----------------------------
def test_shipped_scenarios_load_and_the_users_join_them(isolated_home):
    from tui_llm import locations
    from tui_llm.chat.scenarios import load_scenarios, user_scenarios_dir

    shipped, problems = load_scenarios()
    assert problems == [] and 4 <= len(shipped) <= 6
    assert all(s.title and s.memory and len(s.opening) > 100 and s.origin == "built-in" for s in shipped)
    assert len({s.title for s in shipped}) == len(shipped)

    folder = user_scenarios_dir()
    assert folder == locations.config_dir() / "scenarios"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text('title = "A Small Door"\nopening = "You find a very small door."\n')
    (folder / "lighthouse.toml").write_text('title = "My Lighthouse"\nopening = "Mine now."\n')
    (folder / "broken.toml").write_text('title = "No opening"\n')
    (folder / "odd.toml").write_text('title = "x"\nopening = "y"\ncolour = "red"\n')
    (folder / "bad.toml").write_text('title = [')
    found, problems = load_scenarios()
    titles = {s.title: s for s in found}
    assert titles["A Small Door"].origin == "user" and titles["A Small Door"].memory == ""
    assert "My Lighthouse" in titles and "The Last Lamp" not in titles  # same file name: the user's wins
    assert len(found) == len(shipped) + 1
    assert len(problems) == 3 and problems[0].startswith("scenario bad.toml skipped: ")
    assert problems[1:] == [
        "scenario broken.toml skipped: a scenario needs a title and an opening",
        "scenario odd.toml skipped: unknown key 'colour' (known: authors_note, game_preamble, memory, "
        "opening, title)",
    ]


async def test_an_adventure_opens_with_a_choice_of_scenarios():
    from tui_llm.ui.dialogs.choice import ChoiceDialog

    runner = FakeRunner(["A gull cries."])
    app = make_app(config=AppConfig(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = ChatScreen(app.runner, None, Session(mode="adventure"))
        app.push_screen(screen)
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        offered = [label for _, label in app.screen.options]
        assert offered[0].startswith("Your own start") and "The Last Lamp" in offered
        await pilot.press("enter")  # the first scenario is highlighted
        await wait_until(pilot, lambda: app.screen is screen and screen.session.turns)
        session = screen.session
        (opening,) = session.turns
        assert opening.role == "assistant" and session.memory and session.game_preamble
        assert session.title == offered[1] and "Scenario:" in screen.last_notice
        await pilot.press(*"look around", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(session.turns) == 3)
        sent = runner.requests[-1]
        assert sent.startswith(session.memory) and opening.text.split("\n")[0] in sent
        assert f"[Author's note: {session.authors_note}]" in sent and sent.endswith("> look around\n\n")


async def test_a_scenario_reaches_the_model(model_path):
    import asyncio

    from tui_llm.chat.conversation import Conversation, NothingToDo
    from tui_llm.chat.scenarios import load_scenarios
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings
    from test_swipes import RecordingRunner

    runner = RecordingRunner()
    await runner.load(model_path, LoadSettings(n_ctx=1024))
    try:
        scenario = load_scenarios()[0][0]
        conversation = Conversation(runner, Session(mode="adventure"),
                                    lambda: SamplerSettings(temperature=0.0, max_tokens=8))
        conversation.start_scenario(scenario)
        with pytest.raises(NothingToDo):
            conversation.start_scenario(scenario)
        await conversation.send("look around")
        prompt = runner.requests[-1]
        assert prompt.startswith(scenario.memory) and scenario.opening.split("\n")[0] in prompt
        assert prompt.endswith("> look around\n\n") and conversation.session.turns[-1].text.strip()
    finally:
        await asyncio.wait_for(runner.close(), 60)


# -- 2d: edit a turn, then write again from it ----------------------------------
async def test_writing_again_from_an_edited_turn(model_path):
    import asyncio

    from tui_llm.chat.conversation import Conversation
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings
    from test_swipes import RecordingRunner

    runner = RecordingRunner()
    await runner.load(model_path, LoadSettings(n_ctx=1024))
    try:
        conversation = Conversation(runner, Session(mode="instruct"),
                                    lambda: SamplerSettings(temperature=0.0, max_tokens=8))
        await conversation.send("Name a fruit.")
        await conversation.send("Name a tree.")
        turns = conversation.session.turns
        old_reply = turns[1].text
        conversation.edit(0, "Name a city.")
        assert conversation.dropped_by_retry() == 2  # the second exchange; its own reply is rewritten
        reply = await conversation.regenerate()
        assert [t.text for t in turns[:1]] == ["Name a city."] and len(turns) == 2
        assert reply is turns[1] and reply.take_count == 2 and reply.all_takes()[0].text == old_reply
        assert runner.requests[-1][-1] == {"role": "user", "content": "Name a city."}
        assert conversation.edited is None and conversation.dropped_by_retry() == 0

        await conversation.send("And a river?")
        conversation.edit(1, "Paris.")  # a reply edited in the middle: written again from there
        assert conversation.dropped_by_retry() == 2
        reply = await conversation.regenerate()
        assert len(turns) == 2 and reply.all_takes()[1].text == "Paris." and reply.take_count == 3
        conversation.edit(0, "Name a sea.")
        await conversation.regenerate(from_edit=False)  # only the last reply: nothing dropped
        assert len(turns) == 2 and turns[0].text == "Name a sea."

        await conversation.send("And a lake?")
        before = list(turns)
        conversation.edit(0, "Name a mountain.")
        conversation.session.memory = "word " * 1500  # more than the context: the reply fails
        assert await conversation.regenerate() is None
        assert turns == before and turns[0].text == "Name a mountain."  # nothing was lost
    finally:
        await asyncio.wait_for(runner.close(), 60)


async def test_editing_a_players_turn_offers_to_write_the_reply_again():
    from tui_llm.ui.dialogs.choice import ChoiceDialog

    runner = FakeRunner(["One.", "Two.", "Three.", "Four."])
    app = make_app(config=AppConfig(), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        for text in ("first", "second"):
            await pilot.press(*text, "enter")
            await wait_until(pilot, lambda: not screen.generating and screen.session.last_reply)
        turns = screen.session.turns
        assert len(turns) == 4

        async def edit_first(new_text):
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
            app.screen.query_one(OptionList).highlighted = 0
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
            app.screen.query_one(TextArea).text = new_text
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
            return [label for _, label in app.screen.options]

        offered = await edit_first("FIRST")
        assert offered[0] == "Write the reply to turn 1 again, dropping the 2 turns after it"
        await pilot.press("escape")  # nothing dropped without a yes
        await wait_until(pilot, lambda: app.screen is screen)
        assert [t.text for t in turns] == ["FIRST", "One.", "second", "Two."]

        await pilot.press("ctrl+r")  # Ctrl+R after the edit asks again before dropping anything
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "Write only the last reply again" in [label for _, label in app.screen.options]
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and len(turns) == 2 and turns[1].text == "Three.")
        assert runner.requests[-1][-1] == {"role": "user", "content": "FIRST"}
        assert [t.text for t in turns[1].all_takes()] == ["One.", "Three."]
        assert len(screen._views) == 2 and screen._views[1].text == "‹ 2/2 › Three."

        offered = await edit_first("again")  # the last exchange: nothing after the reply to drop
        assert offered == ["Write the reply to turn 1 again",
                           "Keep the turns as they are (Ctrl+R offers this again)"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and turns[1].text == "Four.")
        assert turns[1].take_count == 3 and len(turns) == 2

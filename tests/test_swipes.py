"""Swipes: a reply written again keeps every version; the shown one is what the story continues from.

The conversation runs on the real engine and the test model; the key test on
the chat screen uses the scripted runner (it proves the keys, not the engine).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tui_llm.chat import conversation as talk
from tui_llm.chat.conversation import Conversation, NothingToDo
from tui_llm.chat.sessions import Session, SessionError, load_session, save_session
from tui_llm.chat.turn import Take, Turn
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings

from helpers import FakeRunner, wait_until
from test_cli_chat import run_cli

GREEDY = SamplerSettings(temperature=0.0, max_tokens=10, seed=1)


class RecordingRunner(LlamaCppRunner):
    """The real engine; it also keeps each request it was asked to continue."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list = []

    async def stream(self, request, sampler=None, cancel=None):
        self.requests.append(request)
        async for piece in super().stream(request, sampler, cancel):
            yield piece


@pytest.fixture(scope="module")
def runner(model_path):
    runner = RecordingRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=512)))
    yield runner
    asyncio.run(runner.close())


def varied(seeds=iter(range(100, 200))):
    return lambda: GREEDY.with_changes(temperature=1.2, seed=next(seeds))


async def test_regenerate_keeps_both_versions_and_browsing_picks_what_goes_on(runner, tmp_path):
    session = Session(mode="story", memory="A tale of a lighthouse.")
    session.path = tmp_path / "tale.json"
    conversation = Conversation(runner, session, varied(), save=save_session)
    events: list = []
    conversation.subscribe(events.append)
    await conversation.send("The keeper climbed the stairs and")
    first = session.turns[-1].text
    again = await conversation.regenerate()
    assert again is session.turns[-1] and len(session.turns) == 2
    assert again.take_count == 2 and again.shown == 1
    second = again.text
    assert [t.text for t in again.all_takes()] == [first, second]

    assert conversation.browse(-1) is None  # an existing version: nothing to write
    assert session.turns[-1].text == first
    assert events[-1] == talk.TurnChanged(1, again)
    with pytest.raises(NothingToDo):
        conversation.browse(-1)

    reloaded = load_session(session.path)
    assert [t.text for t in reloaded.turns[-1].all_takes()] == [first, second]
    assert reloaded.turns[-1].shown == 0 and reloaded.turns[-1].text == first
    assert json.loads(session.path.read_text())["turns"][1]["text"] == first  # what old readers see

    await conversation.send(" Then")
    prompt = runner.requests[-1]
    assert isinstance(prompt, str)
    assert (first + " Then") in prompt and second not in prompt

    conversation.undo()
    conversation.undo()
    assert conversation.browse(1) is None  # to the second version, already written
    assert session.turns[-1].text == second
    await conversation.go_on()
    assert runner.requests[-1].endswith(second)  # a story goes on from the text shown
    continued = session.turns[-1]
    assert continued.text.startswith(second) and continued.take_count == 2
    assert continued.all_takes()[0].text == first  # the other version is untouched

    third = conversation.browse(1)  # past the last version: a new one is written
    assert third is not None
    turn = await third
    assert turn.take_count == 3 and turn.shown == 2
    assert runner.requests[-1].endswith("The keeper climbed the stairs and")


async def test_a_chat_regenerate_sends_the_shown_version_in_the_next_messages(runner, model_path):
    conversation = Conversation(runner, Session(mode="instruct"), varied())
    await conversation.send("Name a fruit.")
    await conversation.regenerate()
    reply = conversation.session.turns[-1]
    older, newer = (take.text for take in reply.all_takes())
    conversation.browse(-1)
    await conversation.send("Why?")
    messages = runner.requests[-1]
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [older]
    rendered = await runner.render(messages)
    assert older in rendered and (newer not in rendered or newer in older)


async def test_editing_changes_only_the_shown_version(runner):
    conversation = Conversation(runner, Session(mode="instruct"), varied())
    await conversation.send("Say a word.")
    await conversation.regenerate()
    conversation.edit(1, "Edited second.")
    reply = conversation.session.turns[1]
    assert reply.all_takes()[1].text == "Edited second."
    first = reply.all_takes()[0].text
    conversation.browse(-1)
    assert reply.text == first
    conversation.browse(1)
    assert reply.text == "Edited second."


def test_alternatives_round_trip_and_old_files_still_load(tmp_path):
    turn = Turn("assistant", "one")
    turn.add_take(Take("two", "a thought", 1.5, 7))
    turn.show_take(0)
    session = Session(mode="chat", character="Ada", turns=[Turn("user", "hi"), turn])
    path = save_session(session, tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert data["turns"][1]["text"] == "one" and data["turns"][1]["shown"] == 0
    back = load_session(path).turns[1]
    assert [t.text for t in back.all_takes()] == ["one", "two"]
    assert back.all_takes()[1].reasoning == "a thought" and back.all_takes()[1].reasoning_tokens == 7

    del data["turns"][1]["alternatives"], data["turns"][1]["shown"]
    path.write_text(json.dumps(data))
    old = load_session(path).turns[1]
    assert old.text == "one" and old.take_count == 1


@pytest.mark.parametrize("change, words", [
    ({"alternatives": "nope"}, "turn 2's alternatives are malformed"),
    ({"alternatives": []}, "turn 2's alternatives are malformed"),
    ({"alternatives": [{"text": "a"}, {"text": 3}]}, "turn 2's alternative 2 is malformed"),
    ({"alternatives": [{"text": "a"}, {"text": "b", "reasoning": 1}]},
     "turn 2's alternative 2's reasoning is malformed"),
    ({"alternatives": [{"text": "a"}, {"text": "b"}], "shown": 2},
     "turn 2's shown alternative 2 is not one of its 2"),
    ({"alternatives": [{"text": "a"}, {"text": "b"}], "shown": True}, "turn 2's shown alternative"),
    ({"speaker": 5}, "turn 2's speaker is not text"),
])
def test_bad_alternatives_are_the_sessions_usual_clear_error(tmp_path, change, words):
    data = Session(turns=[Turn("user", "hi"), Turn("assistant", "a")]).to_dict()
    data["turns"][1].update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError) as caught:
        load_session(path)
    assert words in str(caught.value) and "the file is kept as it is" in str(caught.value)


def test_cli_regenerate_adds_a_version_to_the_last_reply(model_path, isolated_home, tmp_path):
    story = tmp_path / "tale.json"
    base = ("chat", "--model", str(model_path), "--session", str(story), "--max-tokens", "8")
    first = run_cli(*base, "--mode", "story", "--prompt", "Once upon a time", "--seed", "1",
                    env_home=isolated_home)
    assert first.returncode == 0, first.stderr
    again = run_cli(*base, "--regenerate", "--seed", "2", "--json", env_home=isolated_home)
    assert again.returncode == 0, again.stderr
    printed = json.loads(again.stdout)
    reply = load_session(story).turns[-1]
    assert len(load_session(story).turns) == 2
    assert [t.text.strip() for t in reply.all_takes()] == [first.stdout.strip(), printed["reply"].strip()]
    assert reply.shown == 1

    plain = run_cli(*base, "--regenerate", "--seed", "3", env_home=isolated_home)
    assert plain.returncode == 0, plain.stderr
    reply = load_session(story).turns[-1]
    assert reply.take_count == 3 and reply.text.strip() == plain.stdout.strip()

    for bad, words in (
        (("chat", "--model", str(model_path), "--regenerate"), "--regenerate writes the last reply"),
        ((*base, "--regenerate", "--prompt", "x"), "takes no --prompt"),
        (("chat", "--model", str(model_path)), "give --prompt TEXT"),
    ):
        done = run_cli(*bad, env_home=isolated_home)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
    empty = tmp_path / "empty.json"
    save_session(Session(mode="story"), empty)
    done = run_cli("chat", "--model", str(model_path), "--session", str(empty), "--regenerate",
                   env_home=isolated_home)
    assert done.returncode == 2 and "Nothing to retry yet" in done.stderr


def terminal_keys(app, raw: str) -> None:
    """Feed what a terminal sends, through Textual's own parser, as the app reads it over SSH."""
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    for event in [*parser.feed(raw), *parser.feed("")]:
        event.set_sender(app)
        app._driver.send_message(event)


async def test_the_keys_browse_versions_and_the_transcript_marks_them():
    from textual.widgets import Input

    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.ui.dialogs.keys import KeysDialog
    from tui_llm.ui.screens.chat import ChatScreen

    runner = FakeRunner(["First answer.", "Second answer.", "Third answer."])
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen

        def shown() -> str:
            return screen._views[-1].text

        await pilot.press(*"hi", "enter")
        await wait_until(pilot, lambda: not screen.generating and shown() == "First answer.")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not screen.generating and shown() == "‹ 2/2 › Second answer.")
        terminal_keys(app, "\x1b[1;3D")  # Alt+Left from xterm, or tmux with xterm-keys
        await wait_until(pilot, lambda: shown() == "‹ 1/2 › First answer.")
        terminal_keys(app, "\x1b[C")  # plain Right, on an empty prompt
        await wait_until(pilot, lambda: shown() == "‹ 2/2 › Second answer.")
        terminal_keys(app, "\x1b[1;3C")  # past the last: a new version is written
        await wait_until(pilot, lambda: not screen.generating and shown() == "‹ 3/3 › Third answer.")
        assert len(screen.session.turns) == 2

        prompt = screen.query_one("#prompt", Input)
        await pilot.press(*"ab", "left")  # with text in the prompt, Left moves its cursor
        assert prompt.cursor_position == 1 and screen.session.turns[-1].shown == 2
        terminal_keys(app, "\x1b\x1b[D")  # Alt+Left as ESC + Left (tmux without xterm-keys)
        await pilot.pause()
        assert prompt.cursor_position == 0 and screen.session.turns[-1].shown == 2

        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysDialog))
        rows = dict(app.screen.rows)
        assert "Previous version of the reply" in rows.values()
        assert "Next version (past the last: a new one)" in rows.values()

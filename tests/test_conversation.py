"""The conversation core without any UI: the real engine on the test model, plain pytest."""

from __future__ import annotations

import asyncio

import pytest

from tui_llm.chat import conversation as talk
from tui_llm.chat.conversation import Conversation, ConversationBusy, NothingToDo
from tui_llm.chat.sessions import Session, load_session, save_session
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings

GREEDY = SamplerSettings(temperature=0.0, max_tokens=12, seed=1)
LONG = SamplerSettings(temperature=0.0, max_tokens=300, seed=1)


@pytest.fixture(scope="module")
def runner(model_path):
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=512)))
    yield runner
    asyncio.run(runner.close())


class Recorder:
    def __init__(self, conversation: Conversation) -> None:
        self.events: list[talk.Event] = []
        conversation.subscribe(self.events.append)

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.events]

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]


def make(runner, session=None, sampler=GREEDY, saved=None):
    save = saved.append if saved is not None else None
    conversation = Conversation(runner, session or Session(mode="instruct"), lambda: sampler, save)
    return conversation, Recorder(conversation)


async def test_send_adds_the_input_and_a_streamed_reply_and_saves_both(runner, model_path):
    saved: list[Session] = []
    conversation, seen = make(runner, saved=saved)
    reply = await conversation.send("  Say hello.  ")
    session = conversation.session
    assert [t.role for t in session.turns] == ["user", "assistant"]
    assert session.turns[0].text == "Say hello."
    assert reply is session.turns[1] and reply.text.strip()
    assert seen.kinds()[:2] == ["TurnAdded", "ReplyStarted"]
    assert seen.kinds()[-1] == "ReplyEnded"
    assert "".join(e.piece for e in seen.of(talk.ReplyText)) == reply.text
    assert seen.of(talk.ReplyEnded)[0].turn is reply
    assert saved and saved[-1] is session
    assert session.model_path == str(model_path.resolve())
    assert session.template == runner.template.name
    assert not conversation.busy


async def test_an_action_is_claimed_at_once_so_a_second_enter_cannot_start_twice(runner):
    conversation, _ = make(runner)
    first = conversation.send("Count to three.")
    assert conversation.busy
    with pytest.raises(ConversationBusy):
        conversation.send("And again.")
    with pytest.raises(ConversationBusy):
        conversation.undo()
    await first
    assert [t.role for t in conversation.session.turns] == ["user", "assistant"]


async def test_regenerate_keeps_the_last_reply_as_a_version(runner):
    conversation, seen = make(runner)
    await conversation.send("Name a colour.")
    first = conversation.session.turns[-1]
    first_text = first.text
    conversation._sampler = lambda: GREEDY.with_changes(temperature=1.5, seed=99)
    again = await conversation.regenerate()
    turns = conversation.session.turns
    assert [t.role for t in turns] == ["user", "assistant"]
    assert again is turns[-1] is first  # the same turn, holding both versions
    assert again.take_count == 2 and again.shown == 1 and again.all_takes()[0].text == first_text
    assert seen.of(talk.TurnRemoved)[0].turn is first


async def test_go_on_extends_the_last_reply(runner):
    conversation, seen = make(runner)
    await conversation.send("Tell me about the sea.")
    before = conversation.session.turns[-1].text
    turn = await conversation.go_on()
    assert turn is conversation.session.turns[-1]
    assert turn.text.startswith(before) and len(turn.text) > len(before)
    started = seen.of(talk.ReplyStarted)[-1]
    assert started.continuing and started.base == before
    assert len(conversation.session.turns) == 2


async def test_stop_keeps_what_was_written_and_marks_it_stopped(runner):
    conversation, seen = make(runner, sampler=LONG)

    def stop_after_a_few(event):
        if isinstance(event, talk.ReplyText) and len(seen.of(talk.ReplyText)) >= 4:
            conversation.stop()

    conversation.subscribe(stop_after_a_few)
    reply = await conversation.send("Write a very long story about a lighthouse keeper.")
    ended = seen.of(talk.ReplyEnded)[-1]
    assert ended.stats.cancelled
    assert reply is not None and reply.text.strip()
    assert len(seen.of(talk.ReplyText)) < 20


async def test_a_failed_reply_gives_the_input_back_and_leaves_the_session_as_it_was(runner):
    session = Session(mode="instruct", memory="word " * 600)  # more than the 512-token context
    conversation, seen = make(runner, session=session)
    assert await conversation.send("Hello?") is None
    assert conversation.session.turns == []
    ended = seen.of(talk.ReplyEnded)[-1]
    assert ended.turn is None and "context" in ended.error
    assert seen.of(talk.InputReturned)[-1] == talk.InputReturned("Hello?", "user")
    assert not conversation.busy


async def test_a_failed_regenerate_puts_the_old_reply_back(runner):
    conversation, seen = make(runner)
    await conversation.send("Hi")
    old = conversation.session.turns[-1]
    conversation.session.memory = "word " * 600
    assert await conversation.regenerate() is None
    assert conversation.session.turns[-1] is old
    assert seen.of(talk.TurnAdded)[-1].turn is old


async def test_adventure_actions_and_story_text_take_their_roles(runner):
    conversation, _ = make(runner, session=Session(mode="adventure"))
    await conversation.send("look around")
    await conversation.send("The door creaks.", as_action=False)
    roles = [t.role for t in conversation.session.turns]
    assert roles == ["action", "assistant", "user", "assistant"]


def test_nothing_to_do_is_said_before_anything_changes(runner):
    conversation, seen = make(runner, session=Session(mode="chat"))
    with pytest.raises(NothingToDo):
        conversation.regenerate()
    with pytest.raises(NothingToDo):
        conversation.go_on()
    with pytest.raises(NothingToDo):
        conversation.send("   ")
    assert not conversation.busy and seen.events == []


async def test_an_empty_input_lets_a_story_go_on(runner):
    conversation, _ = make(runner, session=Session(mode="story", memory="A tale of two ships."))
    first = await conversation.send("")
    assert first is not None and [t.role for t in conversation.session.turns] == ["assistant"]
    second = await conversation.send("")
    assert second is first and len(conversation.session.turns) == 1


async def test_undo_edit_mode_and_setup(runner, tmp_path):
    session = Session(mode="instruct")
    session.path = tmp_path / "s.json"
    conversation, seen = make(runner, session=session, saved=[])
    await conversation.send("Hello there")
    assert conversation.undo().role == "assistant"
    assert conversation.undo().role == "user"
    assert seen.of(talk.InputReturned)[-1].text == "Hello there"
    assert conversation.undo() is None

    await conversation.send("Second try")
    conversation.edit(0, "Edited")
    assert seen.of(talk.TurnChanged)[-1] == talk.TurnChanged(0, conversation.session.turns[0])
    assert conversation.session.turns[0].text == "Edited"

    conversation.update_setup(character="Ada", greeting="Hello, I am Ada.", memory="Ships.")
    assert seen.of(talk.SetupChanged)
    with pytest.raises(ValueError):
        conversation.update_setup(title="not a setup field")

    conversation.set_mode("chat")
    assert conversation.session.mode == "chat" and seen.of(talk.SessionReset)

    bare = conversation.new_session()
    assert bare.mode == "chat" and bare.memory == "" and bare.character == "" and bare.turns == []
    conversation.session = session
    fresh = conversation.new_session(keep=("memory", "character", "greeting"))
    assert fresh is conversation.session and fresh.mode == "chat"
    assert fresh.memory == "Ships." and fresh.character == "Ada"
    assert [t.text for t in fresh.turns] == ["Hello, I am Ada."]  # the greeting opens a chat


async def test_the_cli_and_a_saved_file_continue_the_same_session(runner, tmp_path):
    path = tmp_path / "story.json"
    session = Session(mode="story")
    session.path = path
    conversation, _ = make(runner, session=session, saved=[])
    conversation._save_hook = save_session
    await conversation.send("The keeper climbed the stairs")
    reopened = load_session(path)
    again, _ = make(runner, session=reopened)
    again._save_hook = save_session
    await again.send(" and looked out.")
    final = load_session(path)
    assert [t.role for t in final.turns] == ["user", "assistant", "user", "assistant"]


def history_past_the_template_limit() -> Session:
    from tui_llm.prompts.guards import MAX_RENDERED_CHARS

    session = Session(mode="chat", memory="The secret word is PLUM.")
    filler = "The harbour was busy with boats, nets, gulls and salt in the air. " * 30
    while sum(len(turn.text) for turn in session.turns) <= MAX_RENDERED_CHARS:
        session.add("user", f"Question {len(session.turns)}: {filler}")
        session.add("assistant", f"Answer {len(session.turns)}: {filler}")
    return session


async def test_a_history_longer_than_the_template_limit_continues(runner):
    session = history_past_the_template_limit()
    turns_before = len(session.turns)
    conversation, seen = make(runner, session)
    reply = await conversation.send("What is the secret word?")
    assert reply is not None and reply.text.strip()
    assert len(session.turns) == turns_before + 2  # nothing of the history is lost
    notices = [event.text for event in seen.of(talk.Notice)]
    assert any(f"the {session.context_start} oldest turns" in text for text in notices), notices
    assert session.context_start > turns_before - 4  # only the newest turns were sent

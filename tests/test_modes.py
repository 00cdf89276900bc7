"""The four modes: how each builds its prompt, and each one on the real test model."""

from __future__ import annotations

import asyncio

import pytest

from tui_llm.chat.context import assemble
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.chat.modes import ACTION_STOP, GAME_PREAMBLE, build_request, insert_authors_note, story_text
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.chat.sessions import Session, Turn

GREEDY = SamplerSettings(temperature=0.0, max_tokens=12, seed=1)


# -- prompt building (pure) -------------------------------------------------
def test_chat_puts_persona_and_memory_in_the_system_message():
    session = Session(mode="chat", character="Mira", memory="Mira owns a red boat.")
    session.greeting = "Ahoy!"
    session.start_with_greeting()
    session.add("user", "Where is your boat?")
    messages = build_request(session, 0)
    assert messages[0]["role"] == "system"
    assert "You are Mira" in messages[0]["content"]
    assert messages[0]["content"].endswith("Mira owns a red boat.")
    assert messages[1] == {"role": "assistant", "content": "Ahoy!"}
    assert messages[-1] == {"role": "user", "content": "Where is your boat?"}


def test_instruct_without_system_prompt_sends_only_the_turns():
    session = Session(mode="instruct", turns=[Turn("user", "Hi"), Turn("assistant", "Hello")])
    session.add("user", "Bye")
    assert build_request(session, 0) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]


def test_authors_note_goes_into_the_latest_user_message_in_role_modes():
    session = Session(mode="instruct", system_prompt="Be brief.", authors_note="Speak like a pirate.")
    session.add("user", "First")
    session.add("assistant", "Reply")
    session.add("user", "Second")
    messages = build_request(session, 0)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1]["content"] == "First"
    assert messages[-1]["content"] == "[Author's note: Speak like a pirate.]\n\nSecond"


def test_story_is_one_text_with_memory_first():
    session = Session(mode="story", memory="A tale of the sea.")
    session.add("user", "The ship left at dawn.")
    session.add("assistant", " The wind was cold.")
    session.add("user", "Then the storm came")
    prompt = build_request(session, 0)
    assert prompt == "A tale of the sea.\n\nThe ship left at dawn. The wind was cold. Then the storm came"


def test_adventure_sets_actions_off_and_inserts_story_input_as_prose():
    session = Session(mode="adventure", game_preamble=True)
    session.add("user", "You wake in a cave.")
    session.add("action", "look around")
    session.add("assistant", "You see a torch.")
    session.add("user", "It flickers.")
    session.add("action", "take torch")
    prompt = build_request(session, 0)
    assert prompt.startswith(GAME_PREAMBLE + "\n\n")
    assert prompt.endswith(
        "You wake in a cave.\n\n> look around\n\nYou see a torch. It flickers.\n\n> take torch\n\n"
    )


def test_authors_note_sits_a_few_lines_before_the_end_of_a_story():
    text = "\n".join(f"line {n}" for n in range(1, 8))
    with_note = insert_authors_note(text, "Keep it dark.")
    lines = with_note.split("\n")
    assert lines[-4] == "[Author's note: Keep it dark.]"
    assert lines[-3:] == ["line 5", "line 6", "line 7"]
    assert insert_authors_note("short", "Note") == "[Author's note: Note]\nshort"
    assert insert_authors_note(text, "  ") == text


def test_memory_stays_on_top_when_the_start_moves():
    session = Session(mode="story", memory="MEMORY")
    for n in range(5):
        session.add("user", f"Part {n}.")
    prompt = build_request(session, 3)
    assert prompt.startswith("MEMORY\n\nPart 3.")
    assert "Part 2" not in prompt


def test_story_text_joins_user_words_with_a_space_only_when_needed():
    turns = [Turn("user", "Hello"), Turn("user", "world"), Turn("user", ", friend"),
             Turn("assistant", "!")]
    assert story_text(turns) == "Hello world, friend!"


# -- on the real model ------------------------------------------------------
@pytest.fixture(scope="module")
def runner(model_path):
    """One loaded model for the module; each test streams on its own event loop."""
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=512)))
    yield runner
    asyncio.run(runner.close())


async def reply(runner, session, sampler=GREEDY) -> str:
    assembly = await assemble(session, runner, sampler)
    return "".join([piece async for piece in runner.stream(assembly.request, assembly.sampler)])


@pytest.mark.parametrize(
    ("mode", "role", "text"),
    [
        ("chat", "user", "Hello! Who are you?"),
        ("instruct", "user", "Name three colours."),
        ("story", "user", "Once upon a time, in a quiet village by the sea,"),
        ("adventure", "action", "open the door"),
    ],
)
async def test_each_mode_produces_text(runner, mode, role, text):
    session = Session(mode=mode, character="Captain Mira", memory="It is winter.")
    session.add(role, text)
    out = await reply(runner, session)
    assert out.strip()
    assert runner.last_stats.completion_tokens > 0
    if mode in ("story", "adventure"):
        # A raw text prompt: no chat-template markers reached the model.
        assert runner.last_stats.prompt_tokens < 40


async def test_adventure_stops_at_the_next_action(runner):
    session = Session(mode="adventure", game_preamble=True)
    session.add("user", "You stand in a dark cave. A torch burns on the wall.")
    session.add("action", "take torch")
    session.add("assistant", "You take the torch. Its light shows a narrow passage to the north.")
    session.add("action", "go north")
    sampler = SamplerSettings(temperature=0.0, max_tokens=48)
    out = await reply(runner, session, sampler)
    stats = runner.last_stats
    assert out.strip()
    assert stats.finish_reason == "stop"
    assert stats.completion_tokens < 48
    assert ACTION_STOP not in out and "\n>" not in out
    # Without the adventure stop, the same prompt runs on into the next "> ".
    assembly = await assemble(session, runner, sampler)
    free = "".join([p async for p in runner.stream(assembly.request, sampler)])
    assert ACTION_STOP in free
    assert free.split(ACTION_STOP)[0].strip() == out.strip()


async def test_continue_extends_the_reply_from_where_it_stopped(runner):
    session = Session(mode="instruct")
    session.add("user", "Count from one to twenty in words.")
    session.add("assistant", await reply(runner, session))
    before = session.turns[-1].text
    assembly = await assemble(session, runner, GREEDY, continuing=True)
    # The local runner renders the open turn: the prompt ends with the reply itself.
    assert isinstance(assembly.request, str) and assembly.request.endswith(before)
    more = "".join([p async for p in runner.stream(assembly.request, assembly.sampler)])
    assert more.strip()
    # Only the tail was new to the engine: the reply's tokens were already in its cache.
    assert runner.last_stats.evaluated_prompt_tokens <= 3

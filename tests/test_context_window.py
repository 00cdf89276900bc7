"""The context budget on the real test model: what is dropped, what is kept, and the KV cache."""

from __future__ import annotations

import asyncio

import llama_cpp
import pytest

from tui_llm.chat.context import ContextOverflowError, assemble
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.chat.sessions import Session

N_CTX = 256
SHORT = SamplerSettings(temperature=0.0, max_tokens=8, seed=1)
FILLER = "The harbour was busy with boats, nets, gulls and the smell of salt in the morning air."


@pytest.fixture(scope="module")
def runner(model_path):
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=N_CTX)))
    yield runner
    asyncio.run(runner.close())


def engine_prompt_evals(runner) -> int:
    """Prompt tokens llama.cpp itself decoded since the last reset (its perf counters)."""
    return llama_cpp.llama_perf_context(runner._llm.ctx).n_p_eval


def reset_engine_counters(runner) -> None:
    llama_cpp.llama_perf_context_reset(runner._llm.ctx)


async def generate(runner, session, sampler=SHORT):
    assembly = await assemble(session, runner, sampler)
    reset_engine_counters(runner)
    text = "".join([p async for p in runner.stream(assembly.request, assembly.sampler)])
    session.add("assistant", text)
    return assembly, engine_prompt_evals(runner)


def long_chat(pairs: int, mode: str = "chat") -> Session:
    session = Session(mode=mode, character="Mira", memory="The secret word is PLUM.")
    for n in range(pairs):
        session.add("user", f"Question {n}: {FILLER}")
        session.add("assistant", f"Answer {n}: {FILLER}")
    return session


async def test_truncation_keeps_memory_and_latest_input_and_reports_the_drop(runner):
    session = long_chat(8)
    session.add("user", "What is the secret word?")
    assembly = await assemble(session, runner, SamplerSettings(max_tokens=32))
    messages = assembly.request
    assert assembly.dropped_turns > 0
    assert session.context_start == assembly.start == assembly.dropped_turns
    assert assembly.prompt_tokens <= assembly.budget == N_CTX - 32
    assert assembly.prompt_tokens == await runner.count_tokens(await runner.render(messages))
    assert "The secret word is PLUM." in messages[0]["content"]
    assert messages[1]["role"] == "user"  # the kept part starts on a user turn
    assert messages[-1] == {"role": "user", "content": "What is the secret word?"}
    assert f"the {assembly.dropped_turns} oldest turns" in assembly.notice
    assert f"~{assembly.dropped_tokens} tokens" in assembly.notice and assembly.dropped_tokens > 0
    # The engine accepts what was assembled.
    text = "".join([p async for p in runner.stream(messages, SHORT)])
    assert text.strip()


async def test_story_truncation_keeps_memory_on_top(runner):
    session = long_chat(8, mode="story")
    session.add("user", "And then the secret word was spoken:")
    assembly = await assemble(session, runner, SamplerSettings(max_tokens=64))
    assert assembly.dropped_turns > 0
    assert assembly.request.startswith("The secret word is PLUM.\n\n")
    assert assembly.request.endswith("And then the secret word was spoken:")
    assert "Question 0" not in assembly.request


async def test_second_turn_processes_only_the_new_tokens(runner):
    session = Session(mode="instruct", system_prompt="You are brief.")
    session.add("user", "Name a fruit.")
    first, first_evals = await generate(runner, session)
    assert first_evals == runner.last_stats.evaluated_prompt_tokens > 0
    reply = session.turns[-1].text
    session.add("user", "Name a vegetable.")
    second, second_evals = await generate(runner, session)
    # Tokens that did not exist when turn 1 ended: end of the reply, the new message, the cue.
    new = second.prompt_tokens - await runner.count_tokens(await runner.render(first.request) + reply)
    assert second_evals == runner.last_stats.evaluated_prompt_tokens
    assert second_evals <= new + 2
    assert second_evals < second.prompt_tokens / 2


async def test_after_a_chunked_drop_the_next_turn_reuses_the_cache(runner):
    session = long_chat(5)
    session.add("user", "Tell me more.")
    dropped, _ = await generate(runner, session)
    assert dropped.dropped_turns > 0
    # The drop went well below the budget, so the next turn fits without moving the start.
    session.add("user", "And then?")
    kept, evals = await generate(runner, session)
    assert kept.dropped_turns == 0 and kept.start == dropped.start
    assert evals < 40 < kept.prompt_tokens


async def test_memory_too_big_for_the_context_is_a_clear_error(runner):
    session = Session(mode="chat", memory=" ".join([FILLER] * 20))
    session.add("user", "Hello")
    with pytest.raises(ContextOverflowError, match="context holds 256"):
        await assemble(session, runner, SamplerSettings(max_tokens=32))
    assert session.context_start == 0

"""Context shift on the real test model: after old turns are dropped, the rest is not read again."""

from __future__ import annotations

import asyncio

import llama_cpp
import pytest

from tui_llm.chat.context import assemble
from tui_llm.chat.sessions import Session
from tui_llm.engine import kv_shift
from tui_llm.engine.kv_shift import find_shift
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings

N_CTX = 512
SHORT = SamplerSettings(temperature=0.0, max_tokens=16, seed=1)
FILLER = "The harbour was busy with boats, nets, gulls and the smell of salt in the morning air."


def load(model_path) -> LlamaCppRunner:
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=N_CTX)))
    return runner


async def play_until_a_drop(runner):
    """Chat turn by turn until the context is full; the figures of the turn that dropped."""
    session = Session(mode="chat", character="Mira", memory="The secret word is PLUM.")
    for n in range(40):
        session.add("user", f"Question {n}: {FILLER}")
        assembly = await assemble(session, runner, SHORT)
        llama_cpp.llama_perf_context_reset(runner._llm.ctx)
        text = "".join([p async for p in runner.stream(assembly.request, assembly.sampler)])
        evaluated = llama_cpp.llama_perf_context(runner._llm.ctx).n_p_eval
        session.add("assistant", text or "...")
        if assembly.dropped_turns:
            return assembly, evaluated, text
    raise AssertionError("the context never filled")


def test_a_full_context_shifts_instead_of_reading_again(model_path):
    runner = load(model_path)
    try:
        assert runner.capabilities.can_shift_context
        assembly, evaluated, text = asyncio.run(play_until_a_drop(runner))
    finally:
        asyncio.run(runner.close())
    assert "shifted in the engine's cache" in assembly.notice
    assert evaluated == runner.last_stats.evaluated_prompt_tokens
    # Only the new question (and the end of the last reply) is read, not the kept turns.
    assert evaluated < 60 < assembly.prompt_tokens
    assert text.strip()


def test_a_model_that_cannot_shift_reads_the_rest_again_and_says_so(model_path, monkeypatch):
    monkeypatch.setattr(kv_shift, "can_shift", lambda llm: False)
    runner = load(model_path)
    try:
        assert not runner.capabilities.can_shift_context
        assembly, evaluated, text = asyncio.run(play_until_a_drop(runner))
    finally:
        asyncio.run(runner.close())
    assert "cannot shift its cache" in assembly.notice
    assert evaluated > assembly.prompt_tokens / 2
    assert text.strip()


@pytest.mark.parametrize("cached,prompt,expected", [
    # Header 0..3 kept, 4..39 dropped, 40..99 moved down.
    (list(range(100)), [0, 1, 2, 3, *range(40, 100), 500, 501], (4, 40, 60)),
    # Nothing dropped: the prompt only grows; no shift needed.
    (list(range(100)), [*range(100), 7, 8], None),
    # The new part is not in the cache.
    (list(range(100)), [0, 1, *range(1000, 1100)], None),
    # Too little left to be worth moving.
    (list(range(100)), [0, 1, *range(90, 100), 7], None),
])
def test_find_shift(cached, prompt, expected):
    assert find_shift(cached, prompt) == expected

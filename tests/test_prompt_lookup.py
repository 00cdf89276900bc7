"""Prompt lookup: guesses from the context, checked by the real model in one batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings, LoadSettingsError, parse_value
from tui_llm.engine.prompt_lookup import FIRST_DRAFT, PAUSE, ContextDraft, find_continuation
from tui_llm.engine.sampler import SamplerSettings

PASSAGE = ("The keeper climbed the stairs to light the lamp, as he had done for forty years. "
           "The wind pulled at the door and the sea struck the rocks below. ") * 3
COPY = "Copy this text exactly:\n\n" + PASSAGE + "\n\nCopy:\n"
GREEDY = SamplerSettings(temperature=0.0, dry_multiplier=0.0, max_tokens=60, seed=1)


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.intc)


def test_the_guess_follows_the_most_recent_longest_match():
    assert find_continuation(ids(1, 2, 3, 4, 5, 6, 7, 1, 2, 3), 10).tolist() == [4, 5, 6, 7, 1, 2, 3]
    assert find_continuation(ids(1, 2, 3, 8, 9, 1, 2, 3, 5, 5, 1, 2, 3), 2).tolist() == [5, 5]
    # the longest ending n-gram wins over a more recent shorter one
    assert find_continuation(ids(7, 1, 2, 3, 4, 9, 2, 3, 4, 6, 7, 1, 2, 3, 4), 1).tolist() == [9]


def test_no_guess_without_an_earlier_occurrence():
    assert find_continuation(ids(1, 2, 3, 4, 5), 5).size == 0
    assert find_continuation(ids(1, 2), 5).size == 0
    # byte patterns that match across token boundaries are not matches
    assert find_continuation(ids(256, 1, 0, 0, 0, 1, 256, 1), 3).size == 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_rounds(draft: ContextDraft, clock: Clock, context: list[int], truth: list[int], rounds: int,
               step: float = 0.010) -> list[int]:
    """Feed the drafter as llama-cpp-python does, for a model that writes ``truth``.

    Each round the model keeps the guessed tokens that match what it writes,
    plus one token of its own; a round costs ``step`` for one token, and
    step * (1 + guessed) / 2 with a guess (a batch is cheaper than its tokens).
    """
    guesses, written = [], 0
    for _ in range(rounds):
        guess = draft(np.array(context, dtype=np.intc)).tolist()
        kept = 0
        while kept < len(guess) and guess[kept] == truth[written + kept]:
            kept += 1
        clock.now += step if not guess else step * (1 + len(guess)) / 2
        context.extend(truth[written:written + kept + 1])
        written += kept + 1
        guesses.append(len(guess))
    return guesses


def test_guesses_grow_while_they_are_kept_and_pay():
    clock = Clock()
    draft = ContextDraft(clock=clock)
    run_rounds(draft, clock, [500], list(range(501, 520)), 3)  # plain rounds: what one token costs
    draft.reset()
    passage = list(range(100, 160))
    guesses = run_rounds(draft, clock, passage + passage[:4], passage[4:], 5)
    assert guesses == [FIRST_DRAFT, 4, 8, 10, 10]
    assert draft.kept == draft.drafted == sum(guesses[:-1])  # the last guess is not settled yet


def test_guesses_that_lose_stop_for_a_while():
    rng = np.random.default_rng(7)
    clock = Clock()
    draft = ContextDraft(clock=clock)
    context = rng.integers(0, 4, 300).tolist()  # every short n-gram recurs, continuations are noise
    guesses = run_rounds(draft, clock, context, rng.integers(0, 4, 2000).tolist(), 200)
    assert 0 < draft.kept < draft.drafted / 2
    quiet = max(len(run) for run in "".join("x" if g else "." for g in guesses[2:]).split("x"))
    assert quiet >= PAUSE - 1
    assert sum(1 for g in guesses if g) < len(guesses) / 2


def test_the_setting_reads_on_and_off_and_is_off_by_default():
    assert LoadSettings().prompt_lookup is False
    assert parse_value("prompt_lookup", "on") is True
    with pytest.raises(LoadSettingsError):
        LoadSettings(prompt_lookup="yes")


async def test_the_real_model_keeps_guesses_and_its_cache_stays_exact(model_path):
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=1024, n_threads=2, prompt_lookup=True), "chatml")
    try:
        reply = "".join([piece async for piece in runner.stream(COPY, GREEDY)])
        stats = runner.last_stats
        assert stats.drafted_tokens > 0 and stats.draft_kept_tokens > 0
        assert "keeper climbed the stairs" in reply
        llm = runner._llm
        # The reply may end inside a guessed batch: what was never checked is not kept.
        assert llm.n_tokens == stats.prompt_tokens + stats.completion_tokens - 1
        written = llm.detokenize(llm.input_ids[stats.prompt_tokens:llm.n_tokens].tolist()).decode()
        assert reply.startswith(written)
        again = "".join([piece async for piece in runner.stream(COPY, GREEDY)])
        assert runner.last_stats.evaluated_prompt_tokens < runner.last_stats.prompt_tokens
        assert again == reply
    finally:
        await runner.close()


async def test_off_means_no_guesses(model_path):
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=1024, n_threads=2), "chatml")
    try:
        "".join([piece async for piece in runner.stream(COPY, GREEDY)])
        assert runner.last_stats.drafted_tokens == 0
        assert runner._llm.draft_model is None
    finally:
        await runner.close()


def test_the_cli_reports_its_guesses(model_path, isolated_home):
    env = {**os.environ, "TUI_LLM_HOME": str(isolated_home)}
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--mode", "story",
         "--prompt", COPY, "--max-tokens", "40", "--seed", "1", "--ctx", "1024", "--json",
         "--prompt-lookup"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["drafted_tokens"] > 0 and result["draft_kept_tokens"] > 0

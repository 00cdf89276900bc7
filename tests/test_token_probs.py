"""Token probabilities of the last reply, on the real test model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.engine.token_probs import from_logprobs

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


async def test_greedy_tokens_are_the_top_alternative(model_path, tiny_load):
    runner = LlamaCppRunner()
    try:
        await runner.load(model_path, tiny_load)
        greedy = SamplerSettings(temperature=0.0, dry_multiplier=0.0, max_tokens=16)
        text = "".join([p async for p in runner.stream(HELLO, greedy)])
        tokens = runner.last_tokens.tokens
        assert len(tokens) >= runner.last_stats.completion_tokens > 0
        assert text.startswith(tokens[0].text)
        for choice in tokens:
            probs = [a.prob for a in choice.alternatives]
            assert len(probs) == 5 and all(0 < p <= 1 for p in probs)
            assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
            assert choice.alternatives[0].text == choice.text and choice.prob == probs[0]
    finally:
        await runner.close()


def test_server_logprobs_are_read_and_bad_ones_skipped():
    entries = [
        {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Yo", "logprob": -3.0},
                                                          {"token": "Hi", "logprob": -0.1}]},
        {"token": "x", "logprob": "NaN"},
        "junk",
    ]
    choices = from_logprobs(entries)
    assert [c.text for c in choices] == ["Hi"]
    assert [a.text for a in choices[0].alternatives] == ["Hi", "Yo"]


def test_cli_json_includes_logprobs(model_path, isolated_home):
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--ctx", "512",
         "--max-tokens", "6", "--seed", "1", "--json", "--logprobs", "3", "--prompt", "Say hi."],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TUI_LLM_HOME": str(isolated_home)},
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["logprobs"]
    assert rows and all(len(r["top"]) == 3 and 0 < r["prob"] <= 1 for r in rows)
    bad = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--logprobs", "99",
         "--prompt", "x"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TUI_LLM_HOME": str(isolated_home)},
    )
    assert bad.returncode == 2 and "--logprobs must be between 0 and 20" in bad.stderr
    assert "Traceback" not in bad.stderr

"""Continuing a saved session in a new process: restored engine state vs reading it all again.

Each round: turn 1 of a story (~1,200 prompt tokens) with `tui-llm chat
--session --json` in a fresh home, then turn 2 in a second process twice, from
copies of the same session file: once in that home (its saved KV state is
restored) and once in an empty home (no state: the whole history is read).
Figures are `ttft_s` (from the start of generation, state restore and prompt
reading included) and whole-process times, medians over the rounds.

Target: turn 2 in a new process reaches its first token in <= 0.35x turn 1's time.

Usage: python bench/resume.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Figure, footer, header, median, show, test_model

STORY = (
    "The lighthouse keeper counted the ships every night from the gallery. One winter a ship "
    "came in without lights, and the keeper rowed out through the black water to meet it. "
    "Nobody answered his call, and the deck was white with frost. "
) * 24


def chat(model: Path, home: Path, session: Path, prompt: str, *extra: str) -> tuple[float, dict]:
    env = {**os.environ, "TUI_LLM_HOME": str(home)}
    env.pop("TUI_LLM_CONFIG", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model), "--session", str(session),
         "--prompt", prompt, "--max-tokens", "16", "--seed", "1", "--ctx", "4096", "--json", *extra],
        capture_output=True, text=True, env=env, check=True,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = test_model()
    header("resume: turn 2 of a saved story in a new process", f"{args.rounds} rounds, test model")
    turn1, resumed, reread, resumed_wall, reread_wall = [], [], [], [], []
    tokens = (0, 0, 0)
    for _ in range(args.rounds):
        folder = Path(tempfile.mkdtemp(prefix="tui-llm-bench-resume-"))
        try:
            home, empty = folder / "home", folder / "empty"
            session = folder / "story.json"
            _, first = chat(model, home, session, STORY, "--mode", "story")
            shutil.copy(session, folder / "copy.json")
            wall, second = chat(model, home, session, "Then the bell rang.")
            wall_full, full = chat(model, empty, folder / "copy.json", "Then the bell rang.")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        turn1.append(first["ttft_s"])
        resumed.append(second["ttft_s"])
        reread.append(full["ttft_s"])
        resumed_wall.append(wall)
        reread_wall.append(wall_full)
        tokens = (first["prompt_tokens"], second["evaluated_prompt_tokens"], full["evaluated_prompt_tokens"])
    ratio = median(resumed) / median(turn1)
    show([
        Figure(f"turn 1 time to first token ({tokens[0]} prompt tokens)", median(turn1) * 1000, "ms"),
        Figure(f"turn 2, new process, state restored ({tokens[1]} read)", median(resumed) * 1000, "ms"),
        Figure(f"turn 2, new process, history re-read ({tokens[2]} read)", median(reread) * 1000, "ms"),
        Figure("turn 2 restored / turn 1", ratio, "x", "<= 0.35", ratio <= 0.35),
        Figure("turn 2 restored / re-read", median(resumed) / median(reread), "x"),
        Figure("turn 2 whole process, restored", median(resumed_wall), "s"),
        Figure("turn 2 whole process, re-read", median(reread_wall), "s"),
    ])
    footer()


if __name__ == "__main__":
    main()

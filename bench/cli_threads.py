"""`tui-llm chat` headless: which decode thread count is fastest, and the CLI vs a plain script.

Runs the real `tui-llm chat --json` process with `--threads N` for every N
from 1 to the CPU count, and with no `--threads` (the automatic choice), and
beside them a plain llama-cpp-python script that loads the same model and
writes the same number of tokens with the best N. Rounds alternate so
background load hits every variant alike; each figure is a median.

Targets: the automatic choice decodes as fast as the best N (>= 0.95x), and
the whole `tui-llm chat` process takes <= 1/0.95 of the plain script's time.

Usage: python bench/cli_threads.py [--rounds 5] [--tokens 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import psutil

from _common import Figure, STORY_PROMPT, footer, header, median, show, test_model, use_temporary_home

PLAIN = """
import sys, time, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=2048, n_threads=int(sys.argv[3]), verbose=False)
prompt = llm.tokenize(sys.argv[2].encode(), add_bos=True, special=True)
n = 0
for _ in llm.create_completion(prompt, max_tokens=int(sys.argv[4]), temperature=0.0, stream=True):
    n += 1
print(n)
"""


def chat(model: str, tokens: int, threads: int | None) -> tuple[float, dict]:
    extra = ["--threads", str(threads)] if threads else []
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", model, "--prompt", STORY_PROMPT,
         "--max-tokens", str(tokens), "--seed", "1", "--ctx", "2048", "--json", *extra],
        capture_output=True, text=True, check=True, env=os.environ,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def plain(model: str, tokens: int, threads: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN, model, STORY_PROMPT, str(threads), str(tokens)],
                   capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()
    use_temporary_home()
    model = str(test_model())
    counts = list(range(1, (psutil.cpu_count() or 1) + 1))
    header("cli_threads: tui-llm chat decode speed by thread count",
           f"{args.rounds} alternating rounds, {args.tokens} tokens, greedy, test model")
    written: list[int] = []
    speed: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for n in [*counts, None]:
            key = f"--threads {n}" if n else "automatic"
            seconds, report = chat(model, args.tokens, n)
            speed.setdefault(key, []).append(report["decode_tok_s"])
            written.append(report["completion_tokens"])
            wall.setdefault(key, []).append(seconds)
    best = max(counts, key=lambda n: median(speed[f"--threads {n}"]))
    plain_wall = [plain(model, args.tokens, best) for _ in range(args.rounds)]
    figures = [Figure(f"decode, {key}", median(values), "tok/s") for key, values in speed.items()]
    auto_ratio = median(speed["automatic"]) / median(speed[f"--threads {best}"])
    figures.append(Figure(f"automatic / best (--threads {best}), decode", auto_ratio, "x", ">= 0.95",
                          auto_ratio >= 0.95))
    figures.append(Figure(f"plain script, {best} threads, whole process", median(plain_wall), "s"))
    figures.append(Figure("tui-llm chat (automatic), whole process", median(wall["automatic"]), "s"))
    process_ratio = median(plain_wall) / median(wall["automatic"])
    figures.append(Figure("tui-llm chat / plain script, speed", process_ratio, "x", ">= 0.95",
                          process_ratio >= 0.95))
    figures.append(Figure("tokens written by tui-llm chat (fewest)", min(written), "tok"))
    show(figures)
    footer()


if __name__ == "__main__":
    main()

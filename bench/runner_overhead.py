"""What does tui-llm cost on top of llama.cpp? Same model, settings, prompt and tokens, three ways:

- raw: ``llama_cpp.Llama.create_completion(stream=True)`` called directly,
  with the same load settings (the runner's own ``Llama.__getstate__``);
- runner: ``LlamaCppRunner.stream`` consumed on an asyncio loop (the worker
  thread, the queue, the stop check per token);
- chat screen: the headless app at 80x24, Enter pressed in the prompt until the
  whole reply is on screen (session assembly, token counting, template
  rendering, 20 Hz batched display).

With ``--cli``, whole processes instead: ``tui-llm chat --json`` in story mode
(the prompt sent as it is) against a plain llama-cpp-python script that loads
the model and writes the same greedy reply, at every thread count from 1 to
the CPU count, the fastest one counted. Target: the CLI >= 0.95x that script.

Greedy sampling, so all three produce the same tokens; the KV cache is cleared
before every run, so each one evaluates the whole prompt. Runs alternate, in a
different order each round, so background load hits all three alike.
Figures are medians. Target: runner and chat screen >= 0.98 of raw.

Usage: python bench/runner_overhead.py [--runs 9] [--tokens 256] [--threads N] [--cli]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from _common import (
    STORY_PROMPT,
    Figure,
    ReplyWatch,
    footer,
    header,
    median,
    show,
    test_model,
    use_temporary_home,
)


@dataclass
class Run:
    ttft: float
    total: float
    tokens: int
    text: str

    @property
    def decode_rate(self) -> float:
        return (self.tokens - 1) / (self.total - self.ttft)


def run_raw(llm, prompt_tokens: list[int], kwargs: dict, repeat_last_n: int) -> Run:
    llm.reset()
    llm.last_n_tokens_size = repeat_last_n
    pieces: list[str] = []
    start = time.perf_counter()
    first = 0.0
    for chunk in llm.create_completion(prompt=prompt_tokens, stream=True, **kwargs):
        text = chunk["choices"][0].get("text", "")
        if text:
            if not pieces:
                first = time.perf_counter()
            pieces.append(text)
    end = time.perf_counter()
    # Counted as tui_llm's runner counts them: the last sampled token is never evaluated.
    tokens = max(len(pieces), llm.n_tokens - len(prompt_tokens))
    return Run(first - start, end - start, tokens, "".join(pieces))


async def run_runner(runner, prompt: str, sampler) -> Run:
    await runner._call(runner._llm.reset)
    pieces: list[str] = []
    start = time.perf_counter()
    first = 0.0
    async for piece in runner.stream(prompt, sampler):
        if not pieces:
            first = time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    return Run(first - start, end - start, runner.last_stats.completion_tokens, "".join(pieces))


async def run_chat(pilot, screen, watch: ReplyWatch, prompt_text: str) -> Run:
    from textual.widgets import Input

    runner = screen.runner
    await runner._call(runner._llm.reset)
    screen.action_new_chat()
    await pilot.pause()
    watch.updates.clear()
    prompt = screen.query_one("#prompt", Input)
    prompt.value = prompt_text
    start = time.perf_counter()
    await prompt.action_submit()
    await asyncio.sleep(0)
    while screen.generating or not watch.updates:
        await asyncio.sleep(0.01)
    shown = [(t, text) for t, text in watch.updates if text]
    first, end = shown[0][0], shown[-1][0]
    return Run(first - start, end - start, runner.last_stats.completion_tokens, shown[-1][1])


async def main_async(args: argparse.Namespace) -> None:
    import llama_cpp

    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.sampler_chain import completion_kwargs
    from tui_llm.engine.sampler import SamplerSettings
    from tui_llm.ui.screens.chat import ChatScreen

    class RecordingRunner(LlamaCppRunner):
        """The real runner; remembers the last request the chat screen sent."""

        last_request = None

        def stream(self, request, sampler=None, cancel=None):
            self.last_request = (request, sampler)
            return super().stream(request, sampler, cancel)

    model = test_model()
    settings = LoadSettings(n_ctx=2048, n_threads=args.threads)
    sampler = SamplerSettings(temperature=0.0, max_tokens=args.tokens, seed=1)
    runner = RecordingRunner()
    await runner.load(model, settings)
    raw = llama_cpp.Llama(**runner._llm.__getstate__())
    print(f"   threads {raw.n_threads} (prompt {raw.n_threads_batch}), n_batch {raw.n_batch}, "
          f"n_ctx {raw.n_ctx()}, greedy, up to {args.tokens} tokens")

    watch = ReplyWatch()
    app = make_app(config=AppConfig(sampler=sampler, load=settings), runner=runner, start="chat")
    results: dict[str, list[Run]] = {"raw": [], "runner": [], "chat": []}
    async with app.run_test(size=(80, 24)) as pilot:
        while not (isinstance(app.screen, ChatScreen) and app.screen.ready):
            await pilot.pause(0.05)
        screen = app.screen
        # One chat turn first: it tells us the exact prompt and sampler the app sends.
        await run_chat(pilot, screen, watch, STORY_PROMPT)
        request, used_sampler = runner.last_request
        prompt_text = await runner.render(request)
        prompt_tokens = await runner._call(runner._prompt_tokens, prompt_text)
        raw_kwargs = completion_kwargs(used_sampler, runner.stop_strings(used_sampler))
        print(f"   prompt: {len(prompt_tokens)} tokens (the chat screen's rendered request)")
        run_raw(raw, prompt_tokens, raw_kwargs, used_sampler.repeat_last_n)  # warm-up, not counted
        paths = ["raw", "runner", "chat"]
        for run in range(args.runs):
            # A different order each round, so a slow moment does not always hit the same path.
            for path in paths[run % 3:] + paths[: run % 3]:
                if path == "raw":
                    result = run_raw(raw, prompt_tokens, raw_kwargs, used_sampler.repeat_last_n)
                elif path == "runner":
                    result = await run_runner(runner, prompt_text, used_sampler)
                else:
                    result = await run_chat(pilot, screen, watch, STORY_PROMPT)
                results[path].append(result)
    raw.close()

    same = {name: len({r.text.strip() for r in runs}) == 1 for name, runs in results.items()}
    texts = {runs[0].text.strip() for runs in results.values()}
    tokens = {name: runs[0].tokens for name, runs in results.items()}
    print(f"   tokens generated: {tokens}; identical text in every run and path: "
          f"{all(same.values()) and len(texts) == 1}")

    for name, runs in results.items():
        print(f"   {name} decode tok/s per run: {' '.join(f'{r.decode_rate:.0f}' for r in runs)}")
    raw_rate = median([r.decode_rate for r in results["raw"]])
    raw_ttft = median([r.ttft for r in results["raw"]])
    raw_total = median([r.total for r in results["raw"]])
    figures = [
        Figure("raw llama_cpp: decode", raw_rate, "tok/s"),
        Figure("raw llama_cpp: time to first token", raw_ttft * 1000, "ms"),
        Figure("raw llama_cpp: whole reply", raw_total, "s"),
    ]
    for name, label in (("runner", "runner"), ("chat", "chat screen")):
        rate = median([r.decode_rate for r in results[name]])
        ttft = median([r.ttft for r in results[name]])
        total = median([r.total for r in results[name]])
        figures += [
            Figure(f"{label}: decode", rate, "tok/s"),
            Figure(f"{label}: time to first token", ttft * 1000, "ms"),
            Figure(f"{label}: whole reply", total, "s"),
            Figure(f"{label}/raw decode speed", rate / raw_rate, "x", ">= 0.98", rate / raw_rate >= 0.98),
            Figure(f"{label}/raw first-token speed", raw_ttft / ttft, "x", ">= 0.98", raw_ttft / ttft >= 0.98),
            Figure(f"{label}/raw whole-reply speed", raw_total / total, "x", ">= 0.98",
                   raw_total / total >= 0.98),
        ]
    show(figures)
    print("   chat screen times are Enter -> reply text set on screen (updates are batched at 20 Hz,")
    print("   so its decode figure is first-to-last update; the whole-reply ratio is the fair one).")

PLAIN_SCRIPT = """
import sys, llama_cpp
path, threads, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
llm = llama_cpp.Llama(path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0)
sys.stdout.write(f'{out["usage"]["completion_tokens"]} ' + out["choices"][0]["text"])
"""
# Story mode sends this text as it is, so the script and the CLI read the same tokens.
CONTINUATION = ("Once upon a time, in a small village by the sea, there lived an old "
                "lighthouse keeper named")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, done.stdout


def cli_vs_script(args: argparse.Namespace) -> None:
    model = str(test_model())
    home = os.environ["TUI_LLM_HOME"]
    # Greedy and without DRY, as the plain script samples.
    os.makedirs(os.path.join(home, "config"), exist_ok=True)
    with open(os.path.join(home, "config", "config.toml"), "w", encoding="utf-8") as config:
        config.write("[sampler]\ntemperature = 0.0\ndry_multiplier = 0.0\nseed = 1\n")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed tui-llm has its bytecode compiled
    cli = [sys.executable, "-m", "tui_llm", "chat", "--model", model, "--mode", "story",
           "--ctx", "2048", "--max-tokens", str(args.tokens), "--json", "--prompt", CONTINUATION]
    if args.threads:
        cli += ["--threads", str(args.threads)]
    scripts = {n: [sys.executable, "-c", PLAIN_SCRIPT, model, str(n), str(args.tokens), CONTINUATION]
               for n in range(1, (os.cpu_count() or 1) + 1)}
    runs: dict[str, list[float]] = {"cli": [], **{f"script/{n}": [] for n in scripts}}
    replies: dict[str, tuple[int, str]] = {}
    timed(cli, env)  # warm the page cache and Python's bytecode cache, not counted
    for run in range(args.runs):
        order = ["cli", *(f"script/{n}" for n in scripts)]
        for name in order[run % len(order):] + order[: run % len(order)]:
            command = cli if name == "cli" else scripts[int(name.split("/")[1])]
            seconds, out = timed(command, env)
            runs[name].append(seconds)
            if name == "cli":
                data = json.loads(out)
                replies[name] = (data["completion_tokens"], data["reply"])
            else:
                count, text = out.split(" ", 1)
                replies[name] = (int(count), text)
    for name, times in runs.items():
        print(f"   {name:<9} whole process s per run: {' '.join(f'{t:.2f}' for t in times)}")
    best = min((name for name in runs if name != "cli"), key=lambda name: median(runs[name]))
    same = replies["cli"][1].strip() == replies[best][1].strip()
    print(f"   tokens written: CLI {replies['cli'][0]}, fastest script {replies[best][0]}")
    print(f"   fastest plain script: {best} threads; same reply text as the CLI: {same} "
          "(greedy, but threads and batch sizes may differ, and float sums with them)")
    ratio = median(runs[best]) / median(runs["cli"])
    show([
        Figure("plain script, whole process (fastest thread count)", median(runs[best]), "s"),
        Figure("tui-llm chat --json, whole process", median(runs["cli"]), "s"),
        Figure("tui-llm chat / plain script speed", ratio, "x", ">= 0.95", ratio >= 0.95),
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None,
                        help="decode threads (default: the app's automatic choice)")
    parser.add_argument("--cli", action="store_true",
                        help="whole processes: tui-llm chat vs a plain llama-cpp-python script")
    args = parser.parse_args()
    use_temporary_home()
    header("runner_overhead: tui-llm's runner and chat screen vs raw llama_cpp",
           "python bench/runner_overhead.py " + f"--runs {args.runs} --tokens {args.tokens}"
           + (f" --threads {args.threads}" if args.threads else "") + (" --cli" if args.cli else ""))
    if args.cli:
        cli_vs_script(args)
    else:
        asyncio.run(main_async(args))
    footer()


if __name__ == "__main__":
    main()

"""tui-llm's automatic load settings vs llama-cpp-python's defaults, on this machine.

Loads the test model several ways in one process and, alternating between
them, times
- prompt processing: one 500-token prompt evaluated from an empty cache
  (``Llama.eval``, wall clock);
- decode: a greedy reply of up to ``--tokens`` tokens through
  ``create_completion(stream=True)``, wall clock from first to last token.

The ways:
- "llama-cpp-python defaults": ``Llama(model_path, n_ctx)`` and nothing else
  (n_threads = half the CPUs, n_threads_batch = all of them, n_batch 512,
  n_ubatch 512, flash attention off);
- "tui-llm automatic": what ``LlamaCppRunner.load`` does with ``LoadSettings()``
  (decode threads = physical cores but never every CPU, prompt threads =
  physical cores);
- "every physical core": the automatic settings with decode threads = physical
  cores, even when that is every CPU;
- "automatic + flash attention", to see whether it should be on.

Then the decode comparison through the app, which is what a user gets: the
headless chat screen (80x24) streams whole replies from a ``LlamaCppRunner``
loaded with the automatic settings and from one using every physical core.
The screen needs CPU too, and on a small machine that changes the answer.

Target: automatic / defaults >= 1.3x decode (see the README for why a 2-core
machine without SMT cannot get there through the app). Figures are medians.

Usage: python bench/auto_settings.py [--runs 8] [--tokens 128] [--chat-runs 6]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import (
    STORY_PROMPT,
    Figure,
    footer,
    header,
    median,
    show,
    test_model,
    use_temporary_home,
)

N_CTX = 2048
PARAGRAPH = (
    "The keeper of the lighthouse had lived alone on the rock for eleven years. Every evening he "
    "climbed the spiral stairs, trimmed the wick, polished the great lens and wrote the weather "
    "in a leather book. Ships passed far out at sea and none of them ever stopped. "
)


def prompt_processing(llm, tokens: list[int]) -> float:
    llm.reset()
    start = time.perf_counter()
    llm.eval(tokens)
    return len(tokens) / (time.perf_counter() - start)


def decode(llm, prompt: str, max_tokens: int) -> tuple[float, int]:
    llm.reset()
    times: list[float] = []
    for chunk in llm.create_completion(prompt=prompt, max_tokens=max_tokens, temperature=0.0,
                                       seed=1, stream=True):
        if chunk["choices"][0].get("text"):
            times.append(time.perf_counter())
    return (len(times) - 1) / (times[-1] - times[0]), len(times)


def describe(llm) -> str:
    state = llm.__getstate__()
    return (f"threads {state['n_threads']}, prompt threads {state['n_threads_batch']}, "
            f"n_batch {state['n_batch']}, n_ubatch {state['n_ubatch']}, "
            f"flash_attn {'on' if state['flash_attn'] else 'off'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--chat-runs", type=int, default=6)
    args = parser.parse_args()
    use_temporary_home()
    header("auto_settings: tui-llm's automatic load settings vs llama-cpp-python defaults",
           f"python bench/auto_settings.py --runs {args.runs} --tokens {args.tokens} "
           f"--chat-runs {args.chat_runs}")

    import llama_cpp

    from tui_llm.engine.load_settings import LoadSettings, physical_cores
    from tui_llm.engine.llama import LlamaCppRunner

    model = test_model()
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model, LoadSettings(n_ctx=N_CTX)))
    automatic = runner._llm
    state = automatic.__getstate__()
    ways = {
        "llama-cpp-python defaults": llama_cpp.Llama(model_path=str(model), n_ctx=N_CTX, verbose=False),
        "tui-llm automatic": automatic,
        "every physical core": llama_cpp.Llama(**{**state, "n_threads": physical_cores()}),
        "automatic + flash attention": llama_cpp.Llama(**{**state, "flash_attn": True}),
    }
    for name, llm in ways.items():
        print(f"   {name}: {describe(llm)}")

    chat_prompt = f"<|im_start|>user\n{STORY_PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    long_tokens = automatic.tokenize((PARAGRAPH * 12).encode(), add_bos=True)[:500]
    print(f"   prompt processing on {len(long_tokens)} tokens; decode up to {args.tokens} tokens, greedy")
    pp: dict[str, list[float]] = {name: [] for name in ways}
    tg: dict[str, list[float]] = {name: [] for name in ways}
    counts: dict[str, int] = {}
    for name, llm in ways.items():  # the first decode on a fresh context is slow: not counted
        decode(llm, chat_prompt, 4)
    names = list(ways)
    for run in range(args.runs):
        # A different order each round, so a slow moment does not always hit the same way.
        for name in names[run % len(names):] + names[: run % len(names)]:
            llm = ways[name]
            pp[name].append(prompt_processing(llm, long_tokens))
            rate, counts[name] = decode(llm, chat_prompt, args.tokens)
            tg[name].append(rate)
    print(f"   tokens per reply: {counts}")

    base_pp, base_tg = median(pp["llama-cpp-python defaults"]), median(tg["llama-cpp-python defaults"])
    figures: list[Figure] = []
    for name in ways:
        figures += [
            Figure(f"{name}: prompt processing", median(pp[name]), "tok/s"),
            Figure(f"{name}: decode", median(tg[name]), "tok/s"),
        ]
        print(f"   {name}: prompt {min(pp[name]):.0f}-{max(pp[name]):.0f}, "
              f"decode {min(tg[name]):.1f}-{max(tg[name]):.1f} tok/s (range over runs)")
    auto_tg, auto_pp = median(tg["tui-llm automatic"]), median(pp["tui-llm automatic"])
    figures += [
        Figure("automatic/defaults decode", auto_tg / base_tg, "x", ">= 1.3", auto_tg / base_tg >= 1.3),
        Figure("automatic/defaults prompt processing", auto_pp / base_pp, "x", ">= 1.0",
               auto_pp / base_pp >= 1.0),
        Figure("every-core/defaults decode (raw engine only)",
               median(tg["every physical core"]) / base_tg, "x"),
    ]
    show(figures)
    for llm in ways.values():
        if llm is not automatic:
            llm.close()
    asyncio.run(runner.close())
    if args.chat_runs:
        show(asyncio.run(through_chat(model, args)))
    footer()


async def through_chat(model, args) -> list[Figure]:
    """Decode speed of whole replies on the chat screen: automatic vs every physical core."""
    from _common import ReplyWatch, submit

    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.engine.load_settings import LoadSettings, physical_cores
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.sampler import SamplerSettings
    from tui_llm.ui.screens.chat import ChatScreen

    automatic = LoadSettings(n_ctx=N_CTX)
    settings = {
        "chat screen, tui-llm automatic": automatic,
        "chat screen, every physical core": automatic.with_changes(
            n_threads=physical_cores(), n_threads_batch=physical_cores()),
    }
    runners = {}
    for name, load in settings.items():
        runners[name] = LlamaCppRunner()
        await runners[name].load(model, load)
        print(f"   {name}: threads {runners[name]._llm.n_threads}, "
              f"prompt threads {runners[name]._llm.n_threads_batch}")
    sampler = SamplerSettings(temperature=0.0, max_tokens=args.tokens * 2, seed=1)
    watch = ReplyWatch()
    rates: dict[str, list[float]] = {name: [] for name in runners}
    app = make_app(config=AppConfig(sampler=sampler), runner=LlamaCppRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        names = list(runners)
        for run in range(args.chat_runs + 1):
            for name in names[run % 2:] + names[: run % 2]:
                runner = runners[name]
                await runner._call(runner._llm.reset)
                screen = ChatScreen(runner)
                await app.push_screen(screen)
                while not screen.ready:
                    await pilot.pause(0.02)
                watch.updates.clear()
                await submit(screen, STORY_PROMPT)
                while screen.generating:
                    await asyncio.sleep(0.02)
                shown = [t for t, text in watch.updates if text]
                tokens = runner.last_stats.completion_tokens
                if run:  # the first round warms both up
                    rates[name].append((tokens - 1) / (shown[-1] - shown[0]))
                app.pop_screen()
                await pilot.pause()
        for runner in runners.values():
            await runner.close()
    for name, values in rates.items():
        print(f"   {name}: decode {' '.join(f'{v:.0f}' for v in values)} tok/s per reply")
    auto = median(rates["chat screen, tui-llm automatic"])
    every = median(rates["chat screen, every physical core"])
    return [
        Figure("chat screen, tui-llm automatic: decode", auto, "tok/s"),
        Figure("chat screen, every physical core: decode", every, "tok/s"),
        Figure("chat screen: automatic/every-core decode", auto / every, "x", ">= 1.0", auto / every >= 1.0),
    ]


if __name__ == "__main__":
    main()

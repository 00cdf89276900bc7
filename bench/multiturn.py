"""Time to first token over a growing conversation: is the KV prefix reused?

Plays a 20-turn chat the way the chat screen does (a ``Session``,
``context_window.assemble``, ``LlamaCppRunner.stream``) and times each turn
from "Enter" (assembly, token counting, rendering) to the first token.
Beside it, the same request on a second runner whose cache is cleared before
every turn: the naive frontend that re-evaluates the whole conversation.

Target: turn 20 <= 1.5x turn 1 (with reuse).

Usage: python bench/multiturn.py [--turns 20] [--reply-tokens 48]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import Figure, footer, header, median, show, test_model, use_temporary_home

TOPICS = ["the sea", "lighthouses", "the moon", "bread", "rivers", "owls", "glass", "winter",
          "maps", "bees", "trains", "salt", "clocks", "forests", "bridges", "tea", "stars",
          "paper", "wind", "copper"]


async def first_token(runner, request, sampler, start: float) -> tuple[float, str]:
    """Seconds from ``start`` to the first streamed piece, and the whole reply."""
    first = 0.0
    pieces: list[str] = []
    async for piece in runner.stream(request, sampler):
        if not pieces:
            first = time.perf_counter()
        pieces.append(piece)
    return first - start, "".join(pieces)


async def main_async(args: argparse.Namespace) -> None:
    from tui_llm.chat.context import assemble
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.sampler import SamplerSettings
    from tui_llm.chat.sessions import Session

    model = test_model()
    settings = LoadSettings(n_ctx=4096)
    sampler = SamplerSettings(temperature=0.0, max_tokens=args.reply_tokens, seed=1)
    app_runner, naive_runner = LlamaCppRunner(), LlamaCppRunner()
    await app_runner.load(model, settings)
    await naive_runner.load(model, settings)
    for runner in (app_runner, naive_runner):  # the first decode on a fresh context is slow
        await first_token(runner, "Hello", sampler.with_changes(max_tokens=2), 0.0)
    reuse: list[list[float]] = [[] for _ in range(args.turns)]
    naive: list[list[float]] = [[] for _ in range(args.turns)]
    rows: list[tuple[int, int]] = []
    for _ in range(args.rounds):
        await app_runner._call(app_runner._llm.reset)
        session = Session(mode="chat")
        rows = []
        for turn in range(args.turns):
            session.add("user", f"Tell me one short fact about {TOPICS[turn % len(TOPICS)]}.")
            start = time.perf_counter()
            assembly = await assemble(session, app_runner, sampler)
            ttft, reply = await first_token(app_runner, assembly.request, assembly.sampler, start)
            stats = app_runner.last_stats
            rows.append((stats.prompt_tokens, stats.evaluated_prompt_tokens))
            reuse[turn].append(ttft)

            await naive_runner._call(naive_runner._llm.reset)
            start = time.perf_counter()
            await assemble(session, naive_runner, sampler)
            one_token = assembly.sampler.with_changes(max_tokens=1)
            naive_ttft, _ = await first_token(naive_runner, assembly.request, one_token, start)
            naive[turn].append(naive_ttft)
            session.add("assistant", reply.strip() or "(nothing)")

    print(f"   medians of {args.rounds} conversations (greedy, so every round is the same)")
    print(f"   {'turn':>4} {'prompt':>7} {'evaluated':>9} {'reuse ms':>9} {'naive ms':>9}")
    for turn, (prompt_tokens, evaluated) in enumerate(rows):
        print(f"   {turn + 1:>4} {prompt_tokens:>7} {evaluated:>9} "
              f"{median(reuse[turn]) * 1000:>9.1f} {median(naive[turn]) * 1000:>9.1f}")
    first, last = median(reuse[0]), median(reuse[-1])
    naive_first, naive_last = median(naive[0]), median(naive[-1])
    show([
        Figure("turn 1 time to first token", first * 1000, "ms"),
        Figure(f"turn {args.turns} time to first token", last * 1000, "ms"),
        Figure(f"turn {args.turns} / turn 1", last / first, "x", "<= 1.5", last / first <= 1.5),
        Figure(f"naive turn {args.turns} (full re-evaluation)", naive_last * 1000, "ms"),
        Figure(f"naive turn {args.turns} / turn 1", naive_last / naive_first, "x"),
    ])
    await app_runner.close()
    await naive_runner.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--reply-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    use_temporary_home()
    header("multiturn: time to first token, turns 1..N of one conversation",
           f"python bench/multiturn.py --turns {args.turns} --reply-tokens {args.reply_tokens} "
           f"--rounds {args.rounds}")
    asyncio.run(main_async(args))
    footer()


if __name__ == "__main__":
    main()

"""Playing past a full context: time to first token per turn, with and without context shift.

A story of ~250-token turns (a ~200-token passage, then a 48-token reply)
played into a 1,024-token context on the real runner and the real context
budget (``chat.context.assemble``), once as it is (the kept turns are shifted
in the KV cache) and once with shifting switched off (the kept turns are read
again after each drop). Time to first token is the runner's own
(``GenerationStats.time_to_first_token``).

Target: after the context fills, no turn's first token takes more than 2x an
early turn's (turn 2: the first turn that reads only its own new text).

Usage: python bench/context_shift.py [--turns 8]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import Figure, footer, header, show, test_model, use_temporary_home

PASSAGE = (
    "The keeper climbed the stairs with the lamp oil, counted the ships on the dark water, wrote "
    "their names in the log, listened to the wind in the rigging of the old tower, and thought "
    "of the letter that had come with the supply boat, sealed in green wax, addressed to "
    "someone who had left the island many years before. "
)


async def play(model, turns: int, shift: bool) -> list[tuple[float, int, int, bool]]:
    from tui_llm.chat.context import assemble
    from tui_llm.chat.sessions import Session
    from tui_llm.engine import kv_shift
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings

    if not shift:
        kv_shift.can_shift = lambda llm: False
    runner = LlamaCppRunner()
    await runner.load(model, LoadSettings(n_ctx=1024))
    sampler = SamplerSettings(temperature=0.0, max_tokens=48, seed=1)
    session = Session(mode="story", memory="A story about a lighthouse keeper on a northern island.")
    rows = []
    try:
        for n in range(turns):
            session.add("user", f"Chapter {n + 1}. {PASSAGE * 2}")
            assembly = await assemble(session, runner, sampler)
            text = "".join([p async for p in runner.stream(assembly.request, assembly.sampler)])
            session.add("assistant", text or " ")
            stats = runner.last_stats
            rows.append((stats.time_to_first_token, stats.prompt_tokens, stats.evaluated_prompt_tokens,
                         bool(assembly.dropped_turns)))
    finally:
        await runner.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8)
    args = parser.parse_args()
    use_temporary_home()
    model = test_model()
    header("context_shift: ~250-token story turns into a 1,024-token context",
           f"{args.turns} turns, test model, time to first token per turn")
    results = {}
    for shift in (True, False):
        rows = asyncio.run(play(model, args.turns, shift))
        label = "shift" if shift else "re-read"
        results[label] = rows
        for n, (ttft, prompt, evaluated, dropped) in enumerate(rows, 1):
            mark = " (turns dropped)" if dropped else ""
            print(f"   {label:<8} turn {n}: {ttft * 1000:8.1f} ms, prompt {prompt}, read {evaluated}{mark}")
    figures = []
    for label, rows in results.items():
        early = rows[1][0]
        filled = next((i for i, row in enumerate(rows) if row[3]), None)
        worst = max(row[0] for row in rows[filled:]) if filled is not None else float("nan")
        ratio = worst / early
        figures.append(Figure(f"{label}: worst turn after the context filled / turn 2", ratio, "x",
                              "<= 2" if label == "shift" else "", ratio <= 2 if label == "shift" else None))
        most_read = max(row[2] for row in rows[filled:]) if filled is not None else 0
        figures.append(Figure(f"{label}: most tokens read in a turn after it filled / turn 2",
                              most_read / rows[1][2], "x"))
    show(figures)
    footer()


if __name__ == "__main__":
    main()

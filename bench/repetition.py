"""Does the DRY default keep the small test model from looping?

For several prompts and seeds, a 256-token reply from the test model with
the old default (DRY off) and the new one (SamplerSettings(): DRY 0.8), and
the share of repeated 4-grams of tokens in each reply: 0 = no 4-gram twice,
near 1 = one phrase over and over. Also the share of replies that loop
(over half their 4-grams repeated).

Target: the new default repeats less than the old, on the median and in loops.

Usage: python bench/repetition.py [--tokens 256] [--seeds 3] [--multipliers 0,0.8]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import Figure, footer, header, median, show, test_model, use_temporary_home

PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "List as many animals as you can.",
    "Explain in detail how a computer works.",
    "Write a poem about the sea.",
    "Describe your ideal day, hour by hour.",
]


def repeated_share(tokens: list[int], n: int = 4) -> float:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


async def measure(args: argparse.Namespace) -> None:
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings

    runner = LlamaCppRunner()
    await runner.load(test_model(), LoadSettings(n_ctx=1024))
    multipliers = [float(m) for m in args.multipliers.split(",")]
    figures: list[Figure] = []
    medians: dict[float, float] = {}
    loops: dict[float, float] = {}
    for multiplier in multipliers:
        shares = []
        for prompt in PROMPTS:
            for seed in range(1, args.seeds + 1):
                sampler = SamplerSettings(max_tokens=args.tokens, seed=seed, dry_multiplier=multiplier)
                text = "".join([p async for p in runner.stream([{"role": "user", "content": prompt}], sampler)])
                shares.append(repeated_share(await runner.tokenize(text)))
        medians[multiplier] = median(shares)
        loops[multiplier] = sum(s > 0.5 for s in shares) / len(shares)
        figures.append(Figure(f"DRY {multiplier:g}: median repeated 4-grams", medians[multiplier], "share"))
        figures.append(Figure(f"DRY {multiplier:g}: mean repeated 4-grams", sum(shares) / len(shares), "share"))
        figures.append(Figure(f"DRY {multiplier:g}: replies that loop (>50%)", loops[multiplier], "share"))
    await runner.close()
    old, new = multipliers[0], SamplerSettings().dry_multiplier
    if new in medians and new != old:
        figures.append(Figure(
            "new default vs old: median repeated 4-grams", medians[new] - medians[old], "diff",
            "< 0", medians[new] < medians[old] or medians[old] == 0,
        ))
    show(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--multipliers", default="0,0.8", help="DRY multipliers, the old default first")
    args = parser.parse_args()
    use_temporary_home()
    header("Repetition with and without DRY",
           f"test model, {len(PROMPTS)} prompts x {args.seeds} seeds, {args.tokens}-token replies, "
           "Min P preset otherwise")
    asyncio.run(measure(args))
    footer()


if __name__ == "__main__":
    main()

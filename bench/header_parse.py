"""GGUF header parsing: the test model's header (49k vocabulary strings, 49k merges).

Times ``models.gguf`` walking the file from scratch (the first read of a
file), and reading it as a later run does (the in-process memo cleared, the
walk's outcome read back from the header cache), best and median of N reads.

Target: <= 10 ms for the test model.

Usage: python bench/header_parse.py [--reads 30]
"""

from __future__ import annotations

import argparse
import time

from _common import Figure, footer, header, median, show, test_model, use_temporary_home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()
    from tui_llm.models import gguf

    model = test_model()
    header("header_parse: GGUF header of the test model", f"{args.reads} reads of each kind")
    walks, cached = [], []
    use_temporary_home()
    for _ in range(args.reads):
        started = time.perf_counter()
        gguf._read_gguf(model)
        walks.append(time.perf_counter() - started)
    gguf.read_gguf(model)  # the first read of this file, which fills the header cache
    for _ in range(args.reads):
        gguf._read_unchanged.cache_clear()
        started = time.perf_counter()
        gguf.read_gguf(model)
        cached.append(time.perf_counter() - started)
    show([
        Figure("first read (header walked), best", min(walks) * 1000, "ms"),
        Figure("first read (header walked), median", median(walks) * 1000, "ms"),
        Figure("later runs (header cache), median", median(cached) * 1000, "ms",
               "<= 10", median(cached) <= 0.010),
    ])
    footer()


if __name__ == "__main__":
    main()

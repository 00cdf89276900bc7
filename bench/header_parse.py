"""GGUF header parsing: the test model's header (49k vocabulary strings, 49k merges).

Times ``models.gguf`` parsing the file from scratch (the in-process memo of
unchanged files bypassed), best and median of N reads.

Target: <= 10 ms for the test model.

Usage: python bench/header_parse.py [--reads 30]
"""

from __future__ import annotations

import argparse
import time

from _common import Figure, footer, header, median, show, test_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()
    from tui_llm.models import gguf

    model = test_model()
    header("header_parse: GGUF header of the test model", f"{args.reads} reads, memo bypassed")
    times = []
    for _ in range(args.reads):
        started = time.perf_counter()
        gguf._read_gguf(model)
        times.append(time.perf_counter() - started)
    show([
        Figure("header parse, best", min(times) * 1000, "ms"),
        Figure("header parse, median", median(times) * 1000, "ms", "<= 10", median(times) <= 0.010),
    ])
    footer()


if __name__ == "__main__":
    main()

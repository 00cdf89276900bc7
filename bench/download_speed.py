"""How fast does tui_llm.hub.downloads move bytes, and what does a resume cost?

Serves the test model from the test hub (tests/hubserver.py) on 127.0.0.1 and
times, for the same file:
- huggingface_hub's own hf_hub_download (the reference),
- tui_llm.hub.downloads.download_file from scratch (transfer + SHA-256 + rename),
- a resume after the connection dropped at half the file (fetches only the rest),
- the check of a file already in place (hashing only).
Loopback has no network limit, so these figures are the per-byte overhead of
the client code (the CPU ceiling), not a prediction for a real line.

Usage: python bench/download_speed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hubserver import Fault, HubServer  # noqa: E402
from testmodel import fetch_test_model  # noqa: E402

REPO = "bench/SmolLM2-GGUF"
FILE = "model.gguf"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from huggingface_hub import hf_hub_download

    from tui_llm.hub.downloads import download_file

    model = fetch_test_model()
    size = model.stat().st_size
    figures: dict[str, list[float]] = {"hf_hub_download": [], "download_file": [], "resume_half": [], "already_there": []}
    with HubServer() as hub, tempfile.TemporaryDirectory() as tmp:
        hub.add_file(REPO, FILE, model)
        for run in range(args.runs):
            folder = Path(tmp) / str(run)
            figures["hf_hub_download"].append(
                timed(lambda: hf_hub_download(REPO, FILE, local_dir=folder / "hf", endpoint=hub.url))
            )
            figures["download_file"].append(timed(lambda: download_file(REPO, FILE, folder / "ours", endpoint=hub.url)))
            figures["already_there"].append(timed(lambda: download_file(REPO, FILE, folder / "ours", endpoint=hub.url)))
            hub.fault(REPO, FILE, Fault(drop_after=size // 2))
            try:
                download_file(REPO, FILE, folder / "resume", endpoint=hub.url, retries=0)
            except Exception:
                pass
            figures["resume_half"].append(timed(lambda: download_file(REPO, FILE, folder / "resume", endpoint=hub.url)))
            shutil.rmtree(folder)
    print(f"file: {model.name}, {size / 1e6:.1f} MB, {args.runs} runs, loopback hub")
    for name, values in figures.items():
        best = min(values)
        print(f"{name:16} median {statistics.median(values):6.3f} s  best {best:6.3f} s  ({size / 1e6 / best:7.0f} MB/s of file)")


if __name__ == "__main__":
    main()

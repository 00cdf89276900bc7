"""The real chat templates that ship in llama-cpp-python's source distribution
(llama.cpp's ``models/templates/*.jinja``), fetched once with pip into the test
cache; nothing of them is copied into the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from testmodel import cache_dir

SDIST = "llama-cpp-python==0.3.36"
MEMBER_DIR = "vendor/llama.cpp/models/templates/"


def fetch_sdist() -> Path:
    target_dir = cache_dir() / "sdist"
    found = sorted(target_dir.glob("llama_cpp_python-0.3.36.tar.gz"))
    if found:
        return found[0]
    target_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "--quiet", "--disable-pip-version-check", SDIST, "-d", str(target_dir)],
        check=True,
    )
    return next(target_dir.glob("llama_cpp_python-0.3.36.tar.gz"))


def extract_templates() -> dict[str, str]:
    """Every ``.jinja`` template of the sdist, by file name, read from the archive."""
    templates: dict[str, str] = {}
    with tarfile.open(fetch_sdist()) as archive:
        for member in archive.getmembers():
            name = member.name.split("/", 1)[-1]
            if name.startswith(MEMBER_DIR) and name.endswith(".jinja") and member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                templates[Path(name).name] = source.read().decode("utf-8")
    return templates


if __name__ == "__main__":
    print(len(extract_templates()), "templates in", fetch_sdist())

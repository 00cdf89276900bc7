"""What a GGUF's own chat template was found to be, remembered across runs.

Comparing a model's template with every preset compiles them all (tens of
milliseconds on each load); the outcome depends only on the texts compared,
so it is kept in the cache directory under a hash of them. A missing or
unreadable file just means comparing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from tui_llm import locations

KEEP = 200


def _file() -> Path:
    return locations.cache_dir() / "template-matches.json"


def key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _read() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def recall(match_key: str) -> dict[str, str] | None:
    found = _read().get(match_key)
    if found and all(isinstance(v, str) for v in found.values()):
        return found
    return None


def remember(match_key: str, outcome: dict[str, str]) -> None:
    known = _read()
    known.pop(match_key, None)
    known[match_key] = outcome
    kept = dict(list(known.items())[-KEEP:])
    target = _file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".template-matches.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(kept))
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass

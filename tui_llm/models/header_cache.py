"""Parsed GGUF headers, remembered across runs in the cache directory.

Walking a header means stepping over every vocabulary and merge string
(~100k for a small model, ~500k for a large-vocabulary one), which costs
10-20 ms per file in Python on each start. What the walk yields depends only
on the file, so it is kept per file, under its path, size, mtime and inode.
A missing, unreadable, stale or damaged entry just means walking the header
again; writes go through a temporary file, so two processes never see a half.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tui_llm import locations

FORMAT = 1
KEEP = 256


def _folder() -> Path:
    return locations.cache_dir() / "headers"


def _slot(path: Path, size: int, mtime_ns: int, inode: int) -> tuple[Path, list[Any]]:
    """(the entry's file, the stamp it must carry) for this file as it is now."""
    resolved = str(path.resolve())
    name = hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return _folder() / f"{name}.json", [FORMAT, resolved, size, mtime_ns, inode]


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def recall(path: Path, size: int, mtime_ns: int, inode: int) -> dict[str, Any] | None:
    """The walk's outcome for this exact file, or None."""
    try:
        entry, stamp = _slot(path, size, mtime_ns, inode)
        data = json.loads(entry.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("stamp") != stamp:
            return None
        parsed = data["parsed"]
        return {
            "version": int(parsed["version"]),
            "metadata": {str(k): _tuples(v) for k, v in parsed["metadata"].items()},
            "array_lengths": {str(k): int(v) for k, v in parsed["array_lengths"].items()},
            "tensors": [
                (str(name), tuple(int(d) for d in shape), int(kind), int(offset))
                for name, shape, kind, offset in parsed["tensors"]
            ],
            "data_offset": int(parsed["data_offset"]),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def remember(path: Path, size: int, mtime_ns: int, inode: int, parsed: dict[str, Any]) -> None:
    """Keep the walk's outcome; any failure to write is only a missed speed-up."""
    tmp = None
    try:
        entry, stamp = _slot(path, size, mtime_ns, inode)
        folder = entry.parent
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"stamp": stamp, "parsed": parsed})
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".header.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, entry)
        tmp = None
        _prune(folder)
    except (OSError, ValueError, TypeError, RecursionError):
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(folder: Path) -> None:
    entries = list(folder.glob("*.json"))
    if len(entries) <= KEEP:
        return
    by_age = sorted(entries, key=lambda entry: entry.stat().st_mtime_ns)
    for old in by_age[: len(entries) - KEEP]:
        old.unlink(missing_ok=True)

"""The download journal of checksums: what each finished download hashed to here.

Every download records its size and SHA-256, and whether the hub's own hash
confirmed it. When the hub published no checksum, this record is all there
is: a later check of the same file compares against it, so bytes that
changed on disk since the download (a bad disk, a copy cut short) are told
apart from the file that arrived.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

NOT_VERIFIED = "not verified: the hub published no checksum"

_lock = threading.Lock()


@dataclass(frozen=True)
class Checksum:
    size: int
    sha256: str
    verified: bool  # the hub's SHA-256 matched; False: only computed here
    repo_id: str = ""
    filename: str = ""
    commit: str | None = None


def journal_file() -> Path:
    from tui_llm import locations

    return locations.data_dir() / "checksums.json"


def _key(path: Path) -> str:
    return str(Path(path).expanduser().resolve())


def _read(journal: Path) -> dict[str, dict]:
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(path: Path, checksum: Checksum, journal: Path | None = None) -> bool:
    """Remember ``checksum`` for ``path``; False when the journal cannot be written."""
    journal = journal or journal_file()
    with _lock:
        entries = _read(journal)
        entries[_key(path)] = asdict(checksum)
        tmp = journal.with_name(f"{journal.name}.{os.getpid()}.tmp")
        try:
            journal.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
            os.replace(tmp, journal)
        except OSError:
            tmp.unlink(missing_ok=True)
            return False
    return True


def recorded(path: Path, journal: Path | None = None) -> Checksum | None:
    entry = _read(journal or journal_file()).get(_key(path))
    if not isinstance(entry, dict):
        return None
    try:
        return Checksum(
            size=int(entry["size"]), sha256=str(entry["sha256"]), verified=bool(entry["verified"]),
            repo_id=str(entry.get("repo_id", "")), filename=str(entry.get("filename", "")),
            commit=entry.get("commit"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def changed_since_download(path: Path, size: int, sha256: str, journal: Path | None = None) -> str | None:
    """Why the file at ``path`` (now ``size`` bytes hashing to ``sha256``) is not what was
    downloaded, or None when it matches or nothing was recorded."""
    before = recorded(path, journal)
    if before is None or (before.size, before.sha256) == (size, sha256):
        return None
    return (
        f"{path} changed since it was downloaded: it was {before.size} bytes with SHA-256 "
        f"{before.sha256}, now {size} bytes with {sha256}; it may be corrupt"
    )

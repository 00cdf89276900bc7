"""The bytes of an unfinished download, kept on disk for a resume.

Bytes go to ``<name>.partial`` next to a ``<name>.partial.json`` marker that
says which remote file they belong to (size, SHA-256, commit), so a killed
process or a lost SSH session resumes where it stopped, and bytes of another
version of the file are never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import IO

from tui_llm.hub.errors import DownloadError
from tui_llm.hub.metadata import RemoteFile, local_name


def partial_path(dest_dir: Path, filename: str) -> Path:
    return Path(dest_dir) / f"{local_name(filename)}.partial"


def marker_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def partial_size(dest_dir: Path, filename: str) -> int:
    path = partial_path(dest_dir, filename)
    return path.stat().st_size if path.exists() else 0


def discard_partial(dest_dir: Path, filename: str) -> bool:
    """Delete the bytes kept for a resume; True if there were any."""
    partial = partial_path(dest_dir, filename)
    existed = partial.exists()
    partial.unlink(missing_ok=True)
    marker_path(partial).unlink(missing_ok=True)
    return existed


def prepare_partial(partial_file: Path, remote: RemoteFile) -> None:
    """Keep bytes on disk only if they belong to this very remote file."""
    marker = marker_path(partial_file)
    if partial_file.exists() and not _marker_matches(marker, remote):
        partial_file.unlink()
    if not partial_file.exists():
        data = {k: v for k, v in asdict(remote).items() if k != "url"}
        marker.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _marker_matches(marker: Path, remote: RemoteFile) -> bool:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("size") == remote.size and data.get("sha256") == remote.sha256 and (
        remote.sha256 is not None or data.get("commit") == remote.commit
    )


class PartialFile:
    """The open ``.partial`` file, its running SHA-256, and a lock against a second writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] = open(path, "a+b", buffering=0)
        try:
            import fcntl

            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError as exc:
            self.handle.close()
            raise DownloadError(f"{path.name} is being downloaded by another tui-llm already") from exc
        self.offset = 0
        self.hasher = hashlib.sha256()
        self.handle.seek(0)
        while chunk := self.handle.read(1 << 20):
            self.hasher.update(chunk)
            self.offset += len(chunk)

    def append(self, chunk: bytes) -> None:
        self.handle.write(chunk)  # "a" mode: always at the end
        self.hasher.update(chunk)
        self.offset += len(chunk)

    def truncate(self) -> None:
        self.handle.truncate(0)
        self.offset = 0
        self.hasher = hashlib.sha256()

    def close(self) -> None:
        if self.handle.closed:
            return
        try:
            os.fsync(self.handle.fileno())
        except OSError:
            pass  # a full disk: the bytes written so far are still there for a resume
        self.handle.close()

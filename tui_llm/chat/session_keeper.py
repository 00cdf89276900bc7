"""The session a screen shows, held for writing: its lock, and its saves in order.

One thread does both, so a save never runs without the lock of the file it
writes, and letting go of a session waits for its queued saves. A new
session takes the lock of its file at its first save.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tui_llm.chat.sessions import Session, SessionLock, _now, new_session_path, write_session_text


def take_lock(path: Path) -> SessionLock:
    """The lock of the session file at ``path``; raises SessionError (with the holder's pid)."""
    return SessionLock(path).__enter__()


class SessionKeeper:
    def __init__(self, held: SessionLock | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-save")
        self._held = held

    @property
    def held_path(self) -> Path | None:
        held = self._held
        return held.path if held is not None else None

    def save(self, session: Session) -> Future[None]:
        """Write ``session`` (snapshotted now) after taking its file's lock if not held yet."""
        if session.path is None:
            session.path = new_session_path(session.mode)
        session.updated = _now()
        return self._executor.submit(self._write, session.path, session.to_json())

    def release(self) -> Future[None]:
        """Let go of the session held, once its queued saves are written."""
        return self._executor.submit(self._release)

    def close(self) -> None:
        self.release()
        self._executor.shutdown(wait=True)

    def _write(self, path: Path, text: str) -> None:
        if self._held is None or not _same_file(self._held.path, path):
            self._release()
            self._held = take_lock(path)
        write_session_text(path, text)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)


def _same_file(one: Path, other: Path) -> bool:
    return one.expanduser().resolve() == other.expanduser().resolve()

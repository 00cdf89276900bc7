"""Sessions: one conversation or story, its settings, and its file on disk.

A session is saved as JSON under ``locations.sessions_dir()`` after every
turn, atomically (temp file + rename), so a crash or a kill mid-generation
never loses a turn that was complete. A file that cannot be read is reported
with its reason and left as it is.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui_llm import locations
from tui_llm.chat.play import PlayError, PlaySetup
from tui_llm.chat.turn import ROLES, Turn, TurnError
from tui_llm.config import write_atomic

FORMAT = "tui-llm-session"
VERSION = 1
DEFAULT_MODE = "instruct"
MODES = ("chat", "instruct", "story", "adventure")
USER_ROLES = ("user", "action")


class SessionError(Exception):
    """A session file that cannot be read or written, worded for the user."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Session:
    mode: str = DEFAULT_MODE
    turns: list[Turn] = field(default_factory=list)
    title: str = ""
    system_prompt: str = ""
    character: str = ""
    greeting: str = ""
    memory: str = ""
    authors_note: str = ""
    game_preamble: bool = False
    context_start: int = 0
    model: str = ""
    model_path: str = ""
    template: str = ""
    sampler: dict[str, Any] = field(default_factory=dict)
    play: PlaySetup = field(default_factory=PlaySetup)  # card text, lorebooks, note placement
    created: str = field(default_factory=_now)
    updated: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SessionError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")

    # -- editing ---------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise SessionError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode

    def add(self, role: str, text: str) -> Turn:
        """A new turn at the end; a chat's reply keeps the character's name as it is now."""
        if role not in ROLES:
            raise SessionError(f"unknown turn role {role!r}")
        speaker = self.character.strip() if role == "assistant" and self.mode == "chat" else ""
        turn = Turn(role, text, speaker=speaker)
        self.turns.append(turn)
        return turn

    def start_with_greeting(self) -> None:
        """A chat opens with the character's greeting, as its first reply."""
        if self.mode == "chat" and self.greeting.strip() and not self.turns:
            self.add("assistant", self.greeting.strip())

    def undo(self) -> Turn | None:
        if not self.turns:
            return None
        turn = self.turns.pop()
        self.context_start = min(self.context_start, _last_start(self.turns))
        return turn

    def edit(self, index: int, text: str) -> None:
        if not 0 <= index < len(self.turns):
            raise SessionError(f"there is no turn {index + 1}")
        self.turns[index].text = text

    @property
    def last_reply(self) -> Turn | None:
        return self.turns[-1] if self.turns and self.turns[-1].role == "assistant" else None

    @property
    def hidden_turns(self) -> int:
        """Turns kept in the transcript but no longer sent to the model."""
        return min(self.context_start, len(self.turns))

    def display_title(self) -> str:
        if self.title:
            return self.title
        for turn in self.turns:
            if turn.role in USER_ROLES and turn.text.strip():
                return _shorten(turn.text, 48)
        return f"{self.mode} session"

    def note_run(self, model: str, model_path: str, template: str, sampler: dict[str, Any]) -> None:
        self.model, self.model_path, self.template = model, model_path, template
        self.sampler = dict(sampler)

    # -- files -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "title": self.title,
            "mode": self.mode,
            "model": self.model,
            "model_path": self.model_path,
            "template": self.template,
            "sampler": self.sampler,
            "system_prompt": self.system_prompt,
            "character": self.character,
            "greeting": self.greeting,
            "memory": self.memory,
            "authors_note": self.authors_note,
            "game_preamble": self.game_preamble,
            "context_start": self.context_start,
            "created": self.created,
            "updated": self.updated,
            "turns": [turn.to_dict() for turn in self.turns],
        } | ({} if self.play.is_empty() else {"play": self.play.to_dict()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> "Session":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionError("not a tui-llm session file")
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise SessionError(f"session format version {data.get('version')!r} is not supported")
        turns_data = data.get("turns", [])
        if not isinstance(turns_data, list):
            raise SessionError("'turns' is not a list")
        turns: list[Turn] = []
        for number, item in enumerate(turns_data, start=1):
            try:
                turns.append(Turn.from_dict(item))
            except TurnError as exc:
                raise SessionError(f"turn {number}{exc}") from None
        text_fields = ("title", "model", "model_path", "template", "system_prompt", "character",
                       "greeting", "memory", "authors_note", "created", "updated")
        values: dict[str, Any] = {}
        for name in text_fields:
            value = data.get(name, "")
            if not isinstance(value, str):
                raise SessionError(f"'{name}' is not text")
            values[name] = value
        sampler = data.get("sampler", {})
        start = data.get("context_start", 0)
        if not isinstance(sampler, dict):
            raise SessionError("'sampler' is not a table of values")
        if not isinstance(start, int) or start < 0:
            raise SessionError("'context_start' is not a turn number")
        if data.get("mode") not in MODES:
            raise SessionError(f"unknown mode {data.get('mode')!r}")
        try:
            values["play"] = PlaySetup.from_dict(data.get("play", {}))
        except PlayError as exc:
            raise SessionError(str(exc)) from exc
        return cls(
            mode=data["mode"],
            turns=turns,
            sampler=sampler,
            context_start=min(start, _last_start(turns)),
            game_preamble=bool(data.get("game_preamble", False)),
            path=path,
            **values,
        )


def _last_start(turns: list[Turn]) -> int:
    return max(len(turns) - 1, 0)


def _shorten(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


# -- reading and writing ---------------------------------------------------
def load_session(path: Path) -> Session:
    """Read a session file; any problem becomes a SessionError naming the file."""
    path = Path(path).expanduser()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SessionError(f"{path}: no such session file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SessionError(
            f"{path}: broken JSON at line {exc.lineno} ({exc.msg}); the file is kept as it is"
        ) from exc
    try:
        return Session.from_dict(data, path)
    except SessionError as exc:
        raise SessionError(f"{path}: {exc}; the file is kept as it is") from exc


def save_session(session: Session, path: Path | None = None) -> Path:
    """Write the session atomically; returns the path written."""
    target = Path(path or session.path or new_session_path(session.mode))
    session.path = target
    session.updated = _now()
    write_session_text(target, session.to_json())
    return target


def write_session_text(path: Path, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise SessionError(f"could not save the session to {path}: {exc.strerror or exc}") from exc


def new_session_path(mode: str, directory: Path | None = None) -> Path:
    directory = directory or locations.sessions_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = directory / f"{stamp}-{mode}.json"
    number = 2
    while candidate.exists():
        candidate = directory / f"{stamp}-{mode}-{number}.json"
        number += 1
    return candidate


class SessionSaver:
    """Writes session files on one background thread, in the order asked.

    The caller snapshots the session (to JSON) on its own thread, so later
    edits cannot tear a save that is still queued.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-save")

    def save(self, session: Session) -> Future[None]:
        if session.path is None:
            session.path = new_session_path(session.mode)
        session.updated = _now()
        return self._executor.submit(write_session_text, session.path, session.to_json())

    def close(self) -> None:
        self._executor.shutdown(wait=True)


# -- the sessions folder ---------------------------------------------------
@dataclass(frozen=True)
class SessionSummary:
    path: Path
    title: str = ""
    mode: str = ""
    model: str = ""
    turns: int = 0
    updated: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def list_sessions(directory: Path | None = None) -> list[SessionSummary]:
    """Every session file, newest first; unreadable ones are listed with their problem."""
    directory = directory or locations.sessions_dir()
    if not directory.is_dir():
        return []
    summaries: list[SessionSummary] = []
    for path in directory.glob("*.json"):
        try:
            session = load_session(path)
        except SessionError as exc:
            summaries.append(SessionSummary(path=path, title=path.stem, problem=str(exc)))
            continue
        summaries.append(
            SessionSummary(
                path=path,
                title=session.display_title(),
                mode=session.mode,
                model=session.model,
                turns=len(session.turns),
                updated=session.updated or session.created,
            )
        )
    summaries.sort(key=lambda s: (s.updated or _mtime_text(s.path)), reverse=True)
    return summaries


def _mtime_text(path: Path) -> str:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return ""
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


def rename_session(path: Path, title: str) -> Session:
    title = " ".join(title.split())
    if not title:
        raise SessionError("a session title cannot be empty")
    session = load_session(path)
    session.title = title
    save_session(session, path)
    return session


def delete_session(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SessionError(f"could not delete {path}: {exc.strerror or exc}") from exc


# -- export ----------------------------------------------------------------
def to_markdown(session: Session) -> str:
    lines = [f"# {session.display_title()}", ""]
    facts = [f"Mode: {session.mode}"]
    if session.model:
        facts.append(f"Model: {session.model}")
    if session.template:
        facts.append(f"Template: {session.template}")
    lines += [" · ".join(facts), ""]
    for label, text in (
        ("System prompt", session.system_prompt),
        ("Memory", session.memory),
        ("Author's note", session.authors_note),
    ):
        if text.strip():
            lines += [f"**{label}:**", "", _quote(text), ""]
    if session.mode in ("story", "adventure"):
        lines += _story_markdown(session)
    else:
        for turn in session.turns:
            lines += [f"**{speaker_name(session, turn) or 'You'}:**", "", turn.text.strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def speaker_name(session: Session, turn: Turn) -> str:
    """Who wrote a reply, as named when it was written: "" for the player's own turns."""
    if turn.role != "assistant":
        return ""
    return turn.speaker or session.character.strip() or "Model"


def _story_markdown(session: Session) -> list[str]:
    lines: list[str] = []
    for turn in session.turns:
        if turn.role == "action":
            lines += [f"> **{turn.text.strip()}**", ""]
        else:
            lines += [turn.text.strip(), ""]
    return lines


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


def export_markdown(session: Session, target: Path | None = None) -> Path:
    """Write the session as Markdown; by default next to the exports of the data dir."""
    target = target or _export_path(session, "")
    _write_export(target, to_markdown(session), "export to")
    return target


def save_reply(text: str, session: Session) -> Path:
    """Write one reply as a Markdown file beside the session exports; returns where."""
    target = _export_path(session, f"-reply-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    _write_export(target, text if text.endswith("\n") else text + "\n", "save the reply to")
    return target


def _export_path(session: Session, suffix: str) -> Path:
    stem = session.path.stem if session.path else re.sub(r"\W+", "-", session.display_title())
    return locations.data_dir() / "exports" / f"{stem}{suffix}.md"


def _write_export(target: Path, text: str, doing: str) -> None:
    try:
        write_atomic(target, text)
    except OSError as exc:
        raise SessionError(f"could not {doing} {target}: {exc.strerror or exc}") from exc


class SessionLock:
    """One writer per session file across processes: a second one is refused with words.

    Two writers would each save their own copy, and the later save drops the
    other's completed exchange. The lock lives in the cache dir (keyed by the
    session's resolved path), so nothing appears beside the user's files.
    """

    def __init__(self, path: Path) -> None:
        import hashlib

        key = hashlib.sha256(str(path.expanduser().resolve()).encode("utf-8")).hexdigest()[:32]
        self.path = path
        self._lock_file = locations.cache_dir() / "session-locks" / f"{key}.lock"
        self._handle: Any = None

    def __enter__(self) -> "SessionLock":
        try:
            import fcntl
        except ImportError:  # no advisory locks here (Windows): one writer is the user's care
            return self
        self._lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self._lock_file.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            if holder == str(os.getpid()):
                raise SessionError(f"{self.path.name} is already open in this tui-llm") from None
            raise SessionError(
                f"{self.path.name} is in use by another tui-llm"
                f"{f', pid {holder}' if holder else ''}; try again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock
            self._handle = None

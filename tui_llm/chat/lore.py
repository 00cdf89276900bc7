"""Lorebooks (world info): entries that join the prompt when their keywords come up.

Read from a character card's ``character_book`` (V2/V3) and from SillyTavern
World Info JSON files. The subset honoured, as SillyTavern does it:

- ``keys``/``key``: any one found in the scanned text triggers the entry;
  ``secondary_keys``/``keysecondary`` with ``selective`` and ``selectiveLogic``
  (0 AND ANY, 1 NOT ALL, 2 NOT ANY, 3 AND ALL) narrow it.
- ``constant`` entries are always in; ``disable``/``enabled: false`` never.
- ``caseSensitive``/``case_sensitive`` (default: no), ``matchWholeWords``
  (default: no), per-entry ``scanDepth`` else the book's ``scan_depth``
  (default 2): how many of the latest messages are scanned.
- ``order``/``insertion_order``: entries are placed lowest first, so higher
  orders sit closer to the end; when the lore budget is full, lower orders are
  left out first.
- ``position``: 0/``before_char`` and 1/``after_char`` (around the character's
  description); 4 "at depth" with ``depth`` (messages from the end; lines
  from the end in story and adventure modes). Other
  positions (Author's note or example top/bottom) are placed after the character.

Not honoured: regex keys (matched as plain text), recursive scanning,
probability, inclusion groups, timed effects.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

BEFORE, AFTER, AT_DEPTH = "before_char", "after_char", "at_depth"
POSITIONS = (BEFORE, AFTER, AT_DEPTH)
DEFAULT_SCAN_DEPTH = 2
DEFAULT_DEPTH = 4
MAX_LORE_FILE = 8 * 1024 * 1024
MAX_ENTRIES = 5000
AND_ANY, NOT_ALL, NOT_ANY, AND_ALL = range(4)


class LoreError(ValueError):
    """A lorebook that cannot be read, worded for the user."""


@dataclass(frozen=True)
class LoreEntry:
    name: str
    content: str
    keys: tuple[str, ...] = ()
    secondary_keys: tuple[str, ...] = ()
    selective_logic: int = AND_ANY
    selective: bool = False
    constant: bool = False
    case_sensitive: bool = False
    whole_words: bool = False
    order: int = 100
    position: str = AFTER
    depth: int = DEFAULT_DEPTH
    scan_depth: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keys"], data["secondary_keys"] = list(self.keys), list(self.secondary_keys)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "LoreEntry":
        if not isinstance(data, dict):
            raise LoreError("a lore entry is not a table")
        try:
            entry = cls(**{**data, "keys": tuple(data.get("keys", ())),
                           "secondary_keys": tuple(data.get("secondary_keys", ()))})
        except TypeError as exc:
            raise LoreError(f"a lore entry is malformed ({exc})") from exc
        if entry.position not in POSITIONS or not isinstance(entry.content, str):
            raise LoreError(f"lore entry {entry.name!r} is malformed")
        return entry


@dataclass(frozen=True)
class Lorebook:
    name: str
    entries: tuple[LoreEntry, ...] = ()
    scan_depth: int = DEFAULT_SCAN_DEPTH

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scan_depth": self.scan_depth,
                "entries": [entry.to_dict() for entry in self.entries]}

    @classmethod
    def from_dict(cls, data: Any) -> "Lorebook":
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise LoreError("a lorebook is malformed")
        depth = data.get("scan_depth", DEFAULT_SCAN_DEPTH)
        return cls(str(data.get("name", "")), tuple(LoreEntry.from_dict(e) for e in data["entries"]),
                   depth if isinstance(depth, int) and not isinstance(depth, bool) else DEFAULT_SCAN_DEPTH)


# -- reading ---------------------------------------------------------------
def load_lorebook(path: Path) -> Lorebook:
    """A SillyTavern World Info file (or a bare character book); problems become LoreError."""
    path = Path(path).expanduser()
    try:
        if path.stat().st_size > MAX_LORE_FILE:
            raise LoreError(f"{path}: over {MAX_LORE_FILE // (1024 * 1024)} MiB, not a lorebook")
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LoreError(f"{path}: no such lorebook file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LoreError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise LoreError(f"{path}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})") from exc
    try:
        return parse_book(data, path.stem)
    except LoreError as exc:
        raise LoreError(f"{path}: {exc}") from exc


def parse_book(data: Any, fallback_name: str = "lorebook") -> Lorebook:
    """World Info (``entries`` a table by uid) or a character book (``entries`` a list)."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), (dict, list)):
        raise LoreError("not a lorebook (no 'entries')")
    items = data["entries"]
    items = list(items.values()) if isinstance(items, dict) else items
    if len(items) > MAX_ENTRIES:
        raise LoreError(f"more than {MAX_ENTRIES} entries")
    scan = _int(data.get("scan_depth"), DEFAULT_SCAN_DEPTH)
    name = data.get("name") if isinstance(data.get("name"), str) and data.get("name") else fallback_name
    entries = [entry for number, item in enumerate(items, 1) if (entry := _entry(item, number))]
    return Lorebook(name, tuple(entries), scan)


def _entry(item: Any, number: int) -> LoreEntry | None:
    if not isinstance(item, dict):
        raise LoreError(f"entry {number} is not a table")
    ext = item.get("extensions") if isinstance(item.get("extensions"), dict) else {}

    def pick(*names: str, default: Any = None) -> Any:
        for source in (item, ext):
            for name in names:
                if source.get(name) is not None:
                    return source[name]
        return default

    if item.get("disable") is True or item.get("enabled") is False:
        return None
    content = item.get("content")
    if not isinstance(content, str):
        raise LoreError(f"entry {number} has no text content")
    keys = _keys(pick("keys", "key", default=[]), number)
    secondary = _keys(pick("secondary_keys", "keysecondary", default=[]), number)
    name = pick("comment", "name", default="") or (keys[0] if keys else f"entry {number}")
    return LoreEntry(
        name=str(name), content=content, keys=keys, secondary_keys=secondary,
        selective_logic=_int(pick("selectiveLogic", "selective_logic"), AND_ANY),
        selective=bool(pick("selective", default=False)),
        constant=bool(pick("constant", default=False)),
        case_sensitive=bool(pick("caseSensitive", "case_sensitive", default=False)),
        whole_words=bool(pick("matchWholeWords", "match_whole_words", default=False)),
        order=_int(pick("order", "insertion_order"), 100),
        position=_position(item.get("position", ext.get("position"))),
        depth=max(0, _int(pick("depth"), DEFAULT_DEPTH)),
        scan_depth=_int(pick("scanDepth", "scan_depth"), -1) if pick("scanDepth", "scan_depth") is not None else None,
    )


def _keys(value: Any, number: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise LoreError(f"entry {number}'s keys are not a list of text")
    return tuple(key.strip() for key in value if key.strip())


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _position(value: Any) -> str:
    if value in (0, BEFORE):
        return BEFORE
    if value == 4 or value == AT_DEPTH:
        return AT_DEPTH
    return AFTER


# -- triggering ------------------------------------------------------------
def triggered(books: Iterable[Lorebook], messages: Sequence[str]) -> list[LoreEntry]:
    """The entries the latest messages call up (constants always), most important first."""
    found: list[LoreEntry] = []
    for book in books:
        for entry in book.entries:
            depth = entry.scan_depth if entry.scan_depth is not None and entry.scan_depth >= 0 else book.scan_depth
            text = "\n".join(messages[-depth:]) if depth > 0 else ""
            if entry.constant or (entry.content.strip() and _matches(entry, text)):
                found.append(entry)
    return sorted(found, key=lambda entry: (not entry.constant, -entry.order))


def _matches(entry: LoreEntry, text: str) -> bool:
    if not any(_found(entry, key, text) for key in entry.keys):
        return False
    if not (entry.selective and entry.secondary_keys):
        return True
    hits = [_found(entry, key, text) for key in entry.secondary_keys]
    return {
        AND_ANY: any(hits), NOT_ALL: not all(hits), NOT_ANY: not any(hits), AND_ALL: all(hits),
    }.get(entry.selective_logic, any(hits))


def _found(entry: LoreEntry, key: str, text: str) -> bool:
    if not entry.case_sensitive:
        key, text = key.lower(), text.lower()
    if not entry.whole_words:
        return key in text
    return re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text) is not None


def placed(entries: Iterable[LoreEntry], position: str) -> list[LoreEntry]:
    """The chosen entries for one position, in the order they are written."""
    return sorted((e for e in entries if e.position == position), key=lambda e: e.order)


def joined(entries: Iterable[LoreEntry]) -> str:
    return "\n".join(entry.content.strip() for entry in entries if entry.content.strip())

"""The catalog's files as the hub last listed them (``tui-llm catalog --refresh``).

Some entries name a file the curators could not confirm (a guessed name, no
size). A refresh lists each repo and keeps, per entry and quant, the file the
hub really has: its name, size and SHA-256 (which names its cached header).
This module only reads and writes that record in the cache dir and lays it
over the built-in catalog; asking the hub is :mod:`tui_llm.hub.catalog_refresh`.
A record that cannot be read counts as no refresh.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tui_llm import locations
from tui_llm.models.catalog import Catalog, QuantFile, load_catalog

FILE_NAME = "catalog-resolved.json"
SCHEMA = 1


@dataclass(frozen=True)
class ResolvedFile:
    quant: str
    filename: str
    size: int
    sha256: str = ""  # the hub's LFS hash: the key of the file's cached header
    status: str = "confirmed"  # "confirmed" (the catalog's name), "resolved" (found by quant)


@dataclass(frozen=True)
class Resolved:
    """Entry id -> quant -> the hub's file, and when it was listed."""

    files: dict[str, dict[str, ResolvedFile]]
    when: float = 0.0

    def file(self, entry_id: str, quant: str) -> ResolvedFile | None:
        return self.files.get(entry_id, {}).get(quant)

    def __bool__(self) -> bool:
        return bool(self.files)


def _file(raw: object) -> ResolvedFile | None:
    if not isinstance(raw, dict):
        return None
    try:
        found = ResolvedFile(str(raw["quant"]), str(raw["filename"]), int(raw["size"]),
                             str(raw.get("sha256", "")), str(raw.get("status", "confirmed")))
    except (KeyError, TypeError, ValueError):
        return None
    if found.size <= 0 or not found.filename.endswith(".gguf") or ".." in found.filename:
        return None
    return found


def load(cache_dir: Path) -> Resolved:
    try:
        data = json.loads((cache_dir / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return Resolved({})
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("entries"), dict):
        return Resolved({})
    files: dict[str, dict[str, ResolvedFile]] = {}
    for entry_id, quants in data["entries"].items():
        if not isinstance(quants, dict):
            continue
        kept = {q: f for q, f in ((q, _file(raw)) for q, raw in quants.items()) if f is not None and f.quant == q}
        if kept:
            files[str(entry_id)] = kept
    when = data.get("when")
    return Resolved(files, float(when) if isinstance(when, (int, float)) else 0.0)


def save(cache_dir: Path, resolved: Resolved) -> None:
    """Write the record (raises OSError: the caller says the cache could not be written)."""
    data = {"schema": SCHEMA, "when": resolved.when or time.time(),
            "entries": {eid: {q: asdict(f) for q, f in quants.items()} for eid, quants in resolved.files.items()}}
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / (FILE_NAME + ".tmp")
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    temporary.replace(cache_dir / FILE_NAME)


def overlay(catalog: Catalog, resolved: Resolved) -> Catalog:
    """The catalog with each refreshed file's real name and size."""
    if not resolved:
        return catalog
    entries = []
    for entry in catalog:
        files = tuple(
            QuantFile(f.quant, hub.filename, hub.size) if (hub := resolved.file(entry.id, f.quant)) else f
            for f in entry.files
        )
        entries.append(replace(entry, files=files) if files != entry.files else entry)
    return replace(catalog, entries=tuple(entries))


def load_current(path=None) -> Catalog:  # noqa: ANN001 - a Traversable or None, as load_catalog takes
    """The built-in catalog with the last refresh laid over it; a catalog file given by
    path is read as written."""
    catalog = load_catalog(path)
    return catalog if path is not None else overlay(catalog, load(locations.cache_dir()))

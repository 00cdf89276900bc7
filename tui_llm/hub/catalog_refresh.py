"""Catalog entries checked against the hub: real file names and sizes, and the headers
of models whose shape the catalog does not give.

``refresh`` lists each entry's repo (one request per page of its tree). A
listed file keeps its name; one the repo does not have is looked for by its
quant among the repo's GGUF files (``Model.Q4_K_M.gguf``, ``model-q4_k_m.gguf``).
For entries without an ``arch`` table, the header of each file is read by
range (:mod:`tui_llm.hub.header`, cached on disk by SHA-256), so their fit
is computed from the real shape. ``cached_header`` reads those headers back
with no network at all.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tui_llm.hub.errors import DownloadError, HubUnreachable, RepoUnavailable
from tui_llm.hub.header import cached_head, read_model_header, split_parts
from tui_llm.hub.metadata import RepoFile, repo_gguf_files
from tui_llm.models import catalog_resolved
from tui_llm.models.catalog_resolved import Resolved, ResolvedFile
from tui_llm.models.gguf import GGUFError, GGUFInfo, read_gguf_head

if TYPE_CHECKING:
    from tui_llm.models.catalog import CatalogEntry, QuantFile

SHARD = re.compile(r"-(\d{5})-of-\d{5}\.gguf$", re.IGNORECASE)


@dataclass
class RefreshReport:
    confirmed: int = 0
    resolved: list[tuple[str, str, str]] = field(default_factory=list)  # entry, old name, new name
    not_found: list[tuple[str, str]] = field(default_factory=list)  # entry, quant
    no_repo: list[str] = field(default_factory=list)
    headers: int = 0
    header_problems: list[tuple[str, str]] = field(default_factory=list)  # entry, why


def _quant_pattern(quant: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9_])", re.IGNORECASE)


def find_by_quant(quant: str, listing: list[RepoFile]) -> tuple[str, int, str] | None:
    """(name, total size, SHA-256 of the first part) of the repo's file for ``quant``; a
    split model by its first shard; None when no file (or no single best one) has it."""
    pattern = _quant_pattern(quant)
    imatrix = quant.lower().startswith("i1-")
    matches = [f for f in listing if pattern.search(f.path.rsplit("/", 1)[-1])
               and (imatrix or "i1-" not in f.path.lower())]
    whole = [f for f in matches if not SHARD.search(f.path)]
    if len(whole) == 1:
        return whole[0].path, whole[0].size, whole[0].sha256 or ""
    firsts = [f for f in matches if (m := SHARD.search(f.path)) and int(m.group(1)) == 1]
    if not whole and len(firsts) == 1:
        parts = set(split_parts(firsts[0].path))
        return firsts[0].path, sum(f.size for f in listing if f.path in parts), firsts[0].sha256 or ""
    return None


def _resolve_entry(entry: "CatalogEntry", listing: list[RepoFile], report: RefreshReport) -> dict[str, ResolvedFile]:
    by_path = {f.path: f for f in listing}
    found: dict[str, ResolvedFile] = {}
    for quant_file in entry.files:
        listed = by_path.get(quant_file.filename)
        if listed is not None:
            found[quant_file.quant] = ResolvedFile(quant_file.quant, listed.path, listed.size, listed.sha256 or "")
            report.confirmed += 1
            continue
        match = find_by_quant(quant_file.quant, listing)
        if match is None:
            report.not_found.append((entry.id, quant_file.quant))
            continue
        name, size, sha256 = match
        found[quant_file.quant] = ResolvedFile(quant_file.quant, name, size, sha256, "resolved")
        report.resolved.append((entry.id, quant_file.filename, name))
    return found


def refresh(
    entries: list["CatalogEntry"],
    cache_dir: Path,
    endpoint: str | None = None,
    read_timeout: float = 30.0,
    cancel: threading.Event | None = None,
) -> RefreshReport:
    """Ask the hub about ``entries`` and keep what it says in ``cache_dir`` (earlier
    answers for other entries stay). Raises HubUnreachable / DownloadError when the hub
    cannot answer at all; nothing is written then."""
    known = catalog_resolved.load(cache_dir)
    files = dict(known.files)
    report = RefreshReport()
    for entry in entries:
        if cancel is not None and cancel.is_set():
            break
        if not entry.downloadable:
            continue
        try:
            listing = repo_gguf_files(entry.repo_id, endpoint=endpoint, read_timeout=read_timeout)
        except RepoUnavailable:
            report.no_repo.append(entry.id)
            continue
        found = _resolve_entry(entry, listing, report)
        if found:
            files[entry.id] = found
        if entry.arch is None:
            for resolved in found.values():
                try:
                    read_model_header(entry.repo_id, resolved.filename, cancel=cancel, endpoint=endpoint,
                                      read_timeout=read_timeout)
                    report.headers += 1
                except GGUFError as exc:
                    report.header_problems.append((entry.id, str(exc)))
                except DownloadError as exc:
                    if isinstance(exc, HubUnreachable):
                        raise
                    report.header_problems.append((entry.id, str(exc)))
    catalog_resolved.save(cache_dir, Resolved(files, time.time()))
    return report


def cached_header(entry_id: str, quant_file: "QuantFile", cache_dir: Path) -> GGUFInfo | None:
    """The header a refresh read for this entry's file, from disk; None when there is none
    (never refreshed, a split model, or a damaged cache)."""
    resolved = catalog_resolved.load(cache_dir).file(entry_id, quant_file.quant)
    if resolved is None or not resolved.sha256 or len(split_parts(resolved.filename)) > 1:
        return None
    head = cached_head(resolved.sha256)
    if head is None:
        return None
    try:
        return read_gguf_head(head[0], Path(resolved.filename).name, head[1])
    except GGUFError:
        return None

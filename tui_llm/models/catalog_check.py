"""An entry's files compared with what the hub lists: sizes to fill in, files or repos gone."""

from __future__ import annotations

from dataclasses import dataclass

from tui_llm.models.catalog import CatalogEntry


@dataclass(frozen=True)
class FileCheck:
    entry_id: str
    filename: str
    status: str  # "ok", "size unknown", "size mismatch", "missing", "no repo", "skipped"
    catalog_size: int | None = None
    hub_size: int | None = None

    @property
    def problem(self) -> bool:
        return self.status in {"size mismatch", "missing", "no repo"}

    def describe(self) -> str:
        if self.status == "ok":
            return f"{self.hub_size} bytes"
        if self.status == "size unknown":
            return f"the hub says {self.hub_size} bytes; add size = {self.hub_size}"
        if self.status == "size mismatch":
            return f"catalog says {self.catalog_size} bytes, the hub says {self.hub_size}"
        if self.status == "missing":
            return "no such file in the repo"
        if self.status == "no repo":
            return "the repo does not exist on the hub (or is private/gated)"
        return "GGML-only entry, nothing to download"


def compare_files(entry: CatalogEntry, hub_sizes: dict[str, int] | None) -> list[FileCheck]:
    """Compare an entry's files with what the hub lists (``None``: the repo was not found)."""
    if not entry.downloadable:
        return [FileCheck(entry.id, "", "skipped")]
    if hub_sizes is None:
        return [FileCheck(entry.id, f.filename, "no repo", f.size) for f in entry.files]
    checks = []
    for quant_file in entry.files:
        hub_size = hub_sizes.get(quant_file.filename)
        if hub_size is None:
            status = "missing"
        elif quant_file.size is None:
            status = "size unknown"
        elif quant_file.size != hub_size:
            status = "size mismatch"
        else:
            status = "ok"
        checks.append(FileCheck(entry.id, quant_file.filename, status, quant_file.size, hub_size))
    return checks

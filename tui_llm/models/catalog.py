"""The curated model catalog: ``catalog.toml`` -> validated entries.

Entries are validated on load; a bad one raises ``CatalogError`` naming it.
What an entry needs and whether it fits a machine is
:mod:`tui_llm.machine.catalog_fit`; checking its files against the hub is
:mod:`tui_llm.models.catalog_check`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any, Iterable

from tui_llm import locations

USES = ("general", "roleplay-story", "adventure")
USE_LABELS = {"general": "General", "roleplay-story": "Roleplay / story", "adventure": "Adventure"}
ROLES = ("Speed", "Balanced", "Quality")
FORMATS = ("gguf", "ggml")
DEFAULT_QUANT = "Q4_K_M"
PICK_TIERS = (2, 4, 8, 16, 32, 64)  # the RAM tiers (GB) a seed pick may name

_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PARAMS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([MB])\s*$", re.IGNORECASE)


class CatalogError(ValueError):
    """catalog.toml is unreadable or an entry in it is malformed."""


# --- the data ------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantFile:
    quant: str
    filename: str
    size: int | None = None  # exact bytes on the hub; None when not known

    @property
    def base_quant(self) -> str:
        """``i1-Q4_K_M`` -> ``Q4_K_M``: the imatrix prefix does not change the size."""
        return self.quant.removeprefix("i1-").upper()


@dataclass(frozen=True)
class Architecture:
    layers: int
    embd: int
    heads: int
    kv_heads: int
    head_dim: int = 0
    ff: int = 0
    vocab: int = 32000
    sliding_window: int = 0
    swa_every: int = 0  # every Nth layer attends globally, the others use the window


@dataclass(frozen=True)
class Pick:
    tier: int
    role: str
    quant: str


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    family: str
    parameters: int
    uses: tuple[str, ...]
    template: str
    context: int
    licence: str
    repo_id: str
    files: tuple[QuantFile, ...]
    recommended: str
    good_for: str = ""
    source: str = ""
    arch: Architecture | None = None
    picks: tuple[Pick, ...] = ()
    format: str = "gguf"
    active_parameters: int = 0  # a mixture of experts: the parameters one token uses; 0: dense

    @property
    def downloadable(self) -> bool:
        return self.format == "gguf" and bool(self.files)

    @property
    def params_label(self) -> str:
        return params_label(self.parameters)

    def file(self, quant: str | None = None) -> QuantFile | None:
        wanted = quant or self.recommended
        return next((f for f in self.files if f.quant == wanted), None)

    @property
    def recommended_file(self) -> QuantFile | None:
        return self.file(self.recommended)


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    path: Traversable | None = None

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> CatalogEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)


# --- loading and validation ----------------------------------------------------------


def parse_parameters(text: Any) -> int:
    """``"135M"`` -> 135_000_000, ``"7.24B"`` -> 7_240_000_000."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    match = _PARAMS.match(str(text))
    if not match:
        raise ValueError(f"parameters must look like '135M' or '7.24B', not {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper()
    count = int(round(number * (1e6 if unit == "M" else 1e9)))
    if count <= 0:
        raise ValueError(f"parameters must be positive, not {text!r}")
    return count


def params_label(count: int) -> str:
    if count < 1e9:
        return f"{count / 1e6:.0f}M"
    billions = count / 1e9
    return f"{billions:.1f}B" if billions < 10 else f"{billions:.0f}B"


def _need(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise CatalogError(f"{where}: '{key}' is missing")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise CatalogError(f"{where}: '{key}' must be {names}, not {value!r}")
    if isinstance(value, str) and not value.strip():
        raise CatalogError(f"{where}: '{key}' is empty")
    return value


def _positive_int(table: dict[str, Any], key: str, where: str, required: bool = True) -> int:
    if key not in table and not required:
        return 0
    value = _need(table, key, int, where)
    if value <= 0:
        raise CatalogError(f"{where}: '{key}' must be a positive number, not {value}")
    return value


def _parse_arch(raw: Any, where: str) -> Architecture | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: 'arch' must be a table")
    known = {"layers", "embd", "heads", "kv_heads", "head_dim", "ff", "vocab", "sliding_window", "swa_every"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown arch field(s) {', '.join(unknown)}")
    at = f"{where} arch"
    arch = Architecture(
        layers=_positive_int(raw, "layers", at),
        embd=_positive_int(raw, "embd", at),
        heads=_positive_int(raw, "heads", at),
        kv_heads=_positive_int(raw, "kv_heads", at),
        head_dim=_positive_int(raw, "head_dim", at, required=False),
        ff=_positive_int(raw, "ff", at, required=False),
        vocab=_positive_int(raw, "vocab", at, required=False) or 32000,
        sliding_window=_positive_int(raw, "sliding_window", at, required=False),
        swa_every=_positive_int(raw, "swa_every", at, required=False),
    )
    if arch.heads % arch.kv_heads:
        raise CatalogError(f"{at}: heads ({arch.heads}) is not a multiple of kv_heads ({arch.kv_heads})")
    return arch


def _parse_files(raw: Any, where: str) -> tuple[QuantFile, ...]:
    if not isinstance(raw, list):
        raise CatalogError(f"{where}: 'files' must be a list")
    files: list[QuantFile] = []
    for index, item in enumerate(raw, 1):
        at = f"{where} file {index}"
        if not isinstance(item, dict):
            raise CatalogError(f"{at}: must be a table with quant, file and (optionally) size")
        unknown = sorted(set(item) - {"quant", "file", "size"})
        if unknown:
            raise CatalogError(f"{at}: unknown field(s) {', '.join(unknown)}")
        quant = _need(item, "quant", str, at)
        filename = _need(item, "file", str, at)
        if "/" in filename or "\\" in filename or not filename.lower().endswith(".gguf"):
            raise CatalogError(f"{at}: '{filename}' must be a plain .gguf file name")
        size = _positive_int(item, "size", at, required=False) or None
        if any(f.quant == quant for f in files):
            raise CatalogError(f"{at}: quant {quant} is listed twice")
        if any(f.filename == filename for f in files):
            raise CatalogError(f"{at}: file {filename} is listed twice")
        files.append(QuantFile(quant, filename, size))
    return tuple(files)


def _parse_picks(raw: Any, recommended: str, files: tuple[QuantFile, ...], where: str) -> tuple[Pick, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogError(f"{where}: 'picks' must be a list")
    picks = []
    for index, item in enumerate(raw, 1):
        at = f"{where} pick {index}"
        if not isinstance(item, dict):
            raise CatalogError(f"{at}: must be a table with tier and role")
        tier = _need(item, "tier", int, at)
        if tier not in PICK_TIERS:
            raise CatalogError(f"{at}: tier must be one of {', '.join(map(str, PICK_TIERS))} (GB), not {tier}")
        role = _need(item, "role", str, at)
        if role not in ROLES:
            raise CatalogError(f"{at}: role must be one of {', '.join(ROLES)}, not {role!r}")
        quant = item.get("quant", recommended)
        if not any(f.quant == quant for f in files):
            raise CatalogError(f"{at}: quant {quant} is not among the entry's files")
        picks.append(Pick(tier, role, quant))
    return tuple(picks)


_ENTRY_FIELDS = {
    "id", "name", "family", "parameters", "use", "template", "context", "licence", "repo",
    "recommended", "good_for", "source", "arch", "files", "picks", "format", "active",
}


def parse_entry(raw: Any, index: int) -> CatalogEntry:
    """One ``[[model]]`` table -> a validated entry (errors name the entry)."""
    if not isinstance(raw, dict):
        raise CatalogError(f"model {index}: must be a table")
    where = f"model {index} ({raw['id']})" if isinstance(raw.get("id"), str) else f"model {index}"
    unknown = sorted(set(raw) - _ENTRY_FIELDS)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    entry_id = _need(raw, "id", str, where)
    if not _ID.match(entry_id):
        raise CatalogError(f"{where}: id must be lowercase letters, digits, '.' and '-'")
    name = _need(raw, "name", str, where)
    family = _need(raw, "family", str, where)
    raw_parameters = _need(raw, "parameters", (str, int), where)
    try:
        parameters = parse_parameters(raw_parameters)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    active = 0
    if "active" in raw:
        try:
            active = parse_parameters(_need(raw, "active", (str, int), where))
        except ValueError as exc:
            raise CatalogError(f"{where}: active {exc}") from None
        if active > parameters:
            raise CatalogError(f"{where}: active parameters ({raw['active']}) exceed the total ({raw_parameters})")
    uses = _need(raw, "use", list, where)
    if not uses or any(u not in USES for u in uses) or len(set(uses)) != len(uses):
        raise CatalogError(f"{where}: 'use' must list some of {', '.join(USES)}, not {uses!r}")
    repo = _need(raw, "repo", str, where)
    if not _REPO.match(repo):
        raise CatalogError(f"{where}: repo must be 'owner/name', not {repo!r}")
    fmt = raw.get("format", "gguf")
    if fmt not in FORMATS:
        raise CatalogError(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    files = _parse_files(raw.get("files", []), where)
    if fmt == "gguf" and not files:
        raise CatalogError(f"{where}: a GGUF model needs at least one file")
    if fmt == "ggml" and files:
        raise CatalogError(f"{where}: a GGML-only model has no GGUF files to list")
    recommended = raw.get("recommended", DEFAULT_QUANT if fmt == "gguf" else "")
    if fmt == "gguf" and not any(f.quant == recommended for f in files):
        raise CatalogError(f"{where}: recommended quant {recommended} is not among its files")
    return CatalogEntry(
        id=entry_id,
        name=name,
        family=family,
        parameters=parameters,
        uses=tuple(uses),
        template=_need(raw, "template", str, where),
        context=_positive_int(raw, "context", where),
        licence=_need(raw, "licence", str, where),
        repo_id=repo,
        files=files,
        recommended=recommended,
        good_for=str(raw.get("good_for", "")),
        source=str(raw.get("source", "")),
        arch=_parse_arch(raw.get("arch"), where),
        picks=_parse_picks(raw.get("picks"), recommended, files, where),
        format=fmt,
        active_parameters=active,
    )


def parse_catalog(data: dict[str, Any], path: Traversable | None = None) -> Catalog:
    schema = data.get("schema", 1)
    if schema != 1:
        raise CatalogError(f"unsupported catalog schema {schema!r} (this version reads schema 1)")
    raw_entries = data.get("model")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CatalogError("the catalog has no [[model]] entries")
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries, 1):
        entry = parse_entry(raw, index)
        if entry.id in seen:
            raise CatalogError(f"model {index} ({entry.id}): id is used twice")
        seen.add(entry.id)
        entries.append(entry)
    return Catalog(tuple(entries), path)


def load_catalog(path: Traversable | None = None) -> Catalog:
    """Read and validate ``catalog.toml`` (the one shipped with tui-llm by default)."""
    path = path or locations.catalog_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"no catalog at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name} is not valid TOML: {exc}") from None
    try:
        return parse_catalog(data, path)
    except CatalogError as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


def unknown_templates(catalog: Catalog, known: Iterable[str]) -> list[str]:
    """Template names used by entries that match none of ``known`` (case and punctuation aside)."""
    normal = {_normal(name) for name in known}
    return sorted({e.template for e in catalog if _normal(e.template) not in normal})


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())

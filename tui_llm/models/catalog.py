"""The curated model catalog: ``catalog.toml`` -> entries, tiers, filters, fit.

Entries are validated on load; a bad one raises ``CatalogError`` naming it.
An entry's RAM tier is not written in the file: it is derived from the fit
engine's CPU-only estimate for the recommended quant at a default context,
so it moves when the estimate does. Badges for *this* machine come from
``fit.verdict`` against an injected ``Hardware``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, Iterable

from tui_llm import locations
from tui_llm.machine import fit

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware

USES = ("general", "roleplay-story", "adventure")
USE_LABELS = {"general": "General", "roleplay-story": "Roleplay / story", "adventure": "Adventure"}
ROLES = ("Speed", "Balanced", "Quality")
FORMATS = ("gguf", "ggml")
DEFAULT_CONTEXT = 4096
DEFAULT_QUANT = "Q4_K_M"
GIB = 1024**3

# RAM tiers in GB; 1 is "Mini". A model belongs to the smallest tier whose
# machine holds it after the operating system takes its share (a quarter of a
# small machine, 2 GB of a big one); anything bigger than 32 GB machines is "64+".
TIERS = (1, 2, 4, 8, 16, 32, 64)
OS_RESERVE_FRACTION = 0.25
OS_RESERVE_MAX = 2 * 1024**3
PICK_TIERS = (2, 4, 8, 16, 32, 64)

# Typical bits per weight of a whole GGUF file (7B-class models, embeddings
# included), used only to estimate a file whose exact size is not known.
BITS_PER_WEIGHT = {
    "IQ1_S": 1.8, "IQ1_M": 2.0, "IQ2_XXS": 2.3, "IQ2_XS": 2.55, "IQ2_S": 2.75, "IQ2_M": 2.95,
    "Q2_K": 3.35, "IQ3_XXS": 3.3, "IQ3_XS": 3.55, "IQ3_S": 3.7, "Q3_K_S": 3.5, "IQ3_M": 3.9,
    "Q3_K_M": 3.9, "Q3_K_L": 4.2, "IQ4_XS": 4.5, "IQ4_NL": 4.75, "Q4_0": 4.55, "Q4_K_S": 4.6,
    "Q4_1": 5.0, "Q4_K_M": 4.85, "Q5_0": 5.5, "Q5_K_S": 5.5, "Q5_1": 6.0, "Q5_K_M": 5.7,
    "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.0, "BF16": 16.0, "F32": 32.0,
}

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
    "recommended", "good_for", "source", "arch", "files", "picks", "format",
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


# --- sizes, shapes, memory -------------------------------------------------------------


def file_size(entry: CatalogEntry, quant_file: QuantFile) -> tuple[int, bool]:
    """(bytes, exact). Unknown sizes are scaled from a known sibling, else from parameters."""
    if quant_file.size:
        return quant_file.size, True
    bits = BITS_PER_WEIGHT.get(quant_file.base_quant, BITS_PER_WEIGHT[DEFAULT_QUANT])
    for sibling in entry.files:
        if sibling.size and sibling.base_quant in BITS_PER_WEIGHT:
            return int(sibling.size * bits / BITS_PER_WEIGHT[sibling.base_quant]), False
    return int(entry.parameters * bits / 8), False


def shape_for(entry: CatalogEntry, quant: str | None = None, weights_bytes: int | None = None) -> fit.ModelShape:
    """A fit-engine shape for one quant of an entry.

    Adapter over ``ModelShape.approximate``: the catalog knows head sizes and
    sliding-window layouts that the generic approximation would guess wrong.
    """
    if weights_bytes is None:
        quant_file = entry.file(quant) if entry.files else None
        if quant_file is not None:
            weights_bytes = file_size(entry, quant_file)[0]
        else:
            weights_bytes = int(entry.parameters * BITS_PER_WEIGHT["Q4_0"] / 8)
    arch = entry.arch
    if arch is None:
        return fit.ModelShape.approximate(entry.parameters, weights_bytes, n_ctx_train=entry.context)
    shape = fit.ModelShape.approximate(
        entry.parameters, weights_bytes, n_ctx_train=entry.context,
        n_layers=arch.layers, n_embd=arch.embd, n_head=arch.heads, n_head_kv=arch.kv_heads,
        n_vocab=arch.vocab, architecture=entry.family,
    )
    changes: dict[str, Any] = {}
    if arch.head_dim:
        changes.update(key_length=arch.head_dim, value_length=arch.head_dim)
    if arch.ff:
        changes["n_ff"] = arch.ff
    if arch.sliding_window and arch.swa_every:
        changes["sliding_window"] = arch.sliding_window
        changes["swa_layers"] = tuple((il + 1) % arch.swa_every != 0 for il in range(arch.layers))
    return replace(shape, **changes) if changes else shape


def default_context(entry: CatalogEntry) -> int:
    return min(DEFAULT_CONTEXT, entry.context)


def ram_needed(entry: CatalogEntry, quant: str | None = None, n_ctx: int | None = None) -> int:
    """Bytes of RAM to run ``quant`` on the CPU alone at ``n_ctx`` (default context)."""
    shape = shape_for(entry, quant)
    return fit.estimate(shape, n_ctx or default_context(entry), gpu_layers=0).ram_bytes


def usable_ram(tier: int) -> int:
    """What a model may use on a machine of ``tier`` GB."""
    total = tier * GIB
    return total - min(int(total * OS_RESERVE_FRACTION), OS_RESERVE_MAX)


def tier_for_bytes(needed: int) -> int:
    for tier in TIERS[:-1]:
        if needed <= usable_ram(tier):
            return tier
    return TIERS[-1]


def tier_label(tier: int) -> str:
    if tier == TIERS[0]:
        return "Mini"
    if tier == TIERS[-1]:
        return f"{tier}+ GB"
    return f"{tier} GB"


def parse_tier(text: str) -> int:
    """'mini', '8', '8gb', '64+' -> a tier number; ValueError otherwise."""
    cleaned = text.strip().lower().removesuffix("gb").strip().removesuffix("+")
    if cleaned == "mini":
        return TIERS[0]
    if cleaned.isdigit() and int(cleaned) in TIERS:
        return int(cleaned)
    raise ValueError(f"tier must be one of mini, {', '.join(map(str, TIERS[1:]))}, not {text!r}")


def entry_tier(entry: CatalogEntry) -> int:
    return tier_for_bytes(ram_needed(entry))


# --- fit on this machine ------------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    """One quant of an entry, judged for a machine: a step of the quant ladder."""

    quant_file: QuantFile
    size: int
    size_exact: bool
    ram_needed: int
    verdict: fit.FitVerdict | None

    @property
    def quant(self) -> str:
        return self.quant_file.quant


def judge(entry: CatalogEntry, quant: str | None, hardware: "Hardware | None", n_ctx: int | None = None) -> Rung:
    quant_file = entry.file(quant)
    if quant_file is None:
        raise KeyError(f"{entry.id} has no quant {quant}")
    size, exact = file_size(entry, quant_file)
    shape = shape_for(entry, quant_file.quant, size)
    n_ctx = n_ctx or default_context(entry)
    needed = fit.estimate(shape, n_ctx, gpu_layers=0).ram_bytes
    verdict = fit.verdict(shape, hardware, n_ctx=n_ctx) if hardware is not None else None
    return Rung(quant_file, size, exact, needed, verdict)


def ladder(entry: CatalogEntry, hardware: "Hardware | None", n_ctx: int | None = None) -> list[Rung]:
    """Every quant of the entry, smallest first, each with size, memory and fit."""
    rungs = [judge(entry, f.quant, hardware, n_ctx) for f in entry.files]
    return sorted(rungs, key=lambda r: r.size)


# --- listing and filtering --------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the catalog table: an entry at one quant, maybe one of the seed's picks."""

    entry: CatalogEntry
    tier: int
    rung: Rung | None  # None for GGML-only entries
    picks: tuple[Pick, ...] = ()

    @property
    def fits(self) -> bool:
        return self.rung is not None and self.rung.verdict is not None and self.rung.verdict.fits

    @property
    def pick_label(self) -> str:
        return ", ".join(f"{p.tier} GB {p.role}" for p in self.picks)

    def as_dict(self) -> dict[str, Any]:
        entry, rung = self.entry, self.rung
        data: dict[str, Any] = {
            "id": entry.id, "name": entry.name, "family": entry.family,
            "parameters": entry.parameters, "use": list(entry.uses), "template": entry.template,
            "context": entry.context, "licence": entry.licence, "repo_id": entry.repo_id,
            "format": entry.format, "tier": tier_label(self.tier), "tier_gb": self.tier,
            "picks": [{"tier": p.tier, "role": p.role, "quant": p.quant} for p in self.picks],
            "good_for": entry.good_for, "source": entry.source,
        }
        if rung is not None:
            data.update(
                quant=rung.quant, filename=rung.quant_file.filename,
                size_bytes=rung.size, size_exact=rung.size_exact,
                ram_needed_bytes=rung.ram_needed, n_ctx=default_context(entry),
            )
            if rung.verdict is not None:
                data["fit"] = rung.verdict.kind
                data["fit_explanation"] = rung.verdict.explanation
        return data


def matches_text(entry: CatalogEntry, text: str) -> bool:
    """Every word of ``text`` appears in the entry's name, id, family, repo or use."""
    haystack = " ".join(
        (entry.name, entry.id, entry.family, entry.repo_id, entry.good_for, *entry.uses, entry.template)
    ).lower()
    return all(word in haystack for word in text.lower().split())


@dataclass
class CatalogView:
    """Rows for a machine, computed once; filters are cheap afterwards.

    Computing a verdict for every entry takes a moment with a GPU (the engine
    searches layer splits), so UIs build this off their event loop.
    """

    catalog: Catalog
    hardware: "Hardware | None" = None
    _tiers: dict[str, int] = field(default_factory=dict)
    _rungs: dict[tuple[str, str], Rung] = field(default_factory=dict)

    def tier(self, entry: CatalogEntry) -> int:
        if entry.id not in self._tiers:
            self._tiers[entry.id] = entry_tier(entry)
        return self._tiers[entry.id]

    def rung(self, entry: CatalogEntry, quant: str | None = None) -> Rung | None:
        if not entry.files:
            return None
        quant = quant or entry.recommended
        key = (entry.id, quant)
        if key not in self._rungs:
            self._rungs[key] = judge(entry, quant, self.hardware)
        return self._rungs[key]

    def ladder(self, entry: CatalogEntry) -> list[Rung]:
        rungs = [self.rung(entry, f.quant) for f in entry.files]
        return sorted((r for r in rungs if r is not None), key=lambda r: r.size)

    def warm(self) -> "CatalogView":
        for entry in self.catalog:
            self.tier(entry)
            self.rung(entry)
            for pick in entry.picks:
                self.rung(entry, pick.quant)
        return self

    def rows(
        self,
        tier: int | None = None,
        use: str | None = None,
        text: str = "",
        fits_only: bool = False,
    ) -> list[Row]:
        """Table rows. With a tier: the entries of that tier plus the seed's picks for it
        (a pick row shows the picked quant), picks first in Speed/Balanced/Quality order."""
        rows: list[Row] = []
        for entry in self.catalog:
            if use and use not in entry.uses:
                continue
            if text and not matches_text(entry, text):
                continue
            entry_tier_ = self.tier(entry)
            if tier is None:
                rows.append(Row(entry, entry_tier_, self.rung(entry), entry.picks))
                continue
            tier_picks = [p for p in entry.picks if p.tier == tier]
            by_quant: dict[str, list[Pick]] = {}
            for pick in tier_picks:
                by_quant.setdefault(pick.quant, []).append(pick)
            if entry_tier_ == tier and entry.recommended not in by_quant:
                rows.append(Row(entry, entry_tier_, self.rung(entry)))
            for quant, picks in by_quant.items():
                rows.append(Row(entry, entry_tier_, self.rung(entry, quant), tuple(picks)))
        if fits_only:
            rows = [row for row in rows if row.fits]
        if tier is not None:
            rows.sort(key=lambda r: (0, ROLES.index(r.picks[0].role)) if r.picks else (1, 0))
        return rows


def unknown_templates(catalog: Catalog, known: Iterable[str]) -> list[str]:
    """Template names used by entries that match none of ``known`` (case and punctuation aside)."""
    normal = {_normal(name) for name in known}
    return sorted({e.template for e in catalog if _normal(e.template) not in normal})


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# --- checking against the hub ----------------------------------------------------------------


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

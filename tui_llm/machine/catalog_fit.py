"""Catalog entries judged for a machine: sizes, RAM tiers, the quant ladder, table rows.

An entry's RAM tier is not written in the catalog: it is derived from the fit
engine's CPU-only estimate for the recommended quant at a default context,
so it moves when the estimate does. Badges for *this* machine come from
``fit.verdict`` against an injected ``Hardware``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tui_llm.engine.load_settings import decode_threads
from tui_llm.machine import fit, speed
from tui_llm.models.catalog import DEFAULT_QUANT, ROLES, Catalog, CatalogEntry, Pick, QuantFile

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware

DEFAULT_CONTEXT = 4096
GIB = 1024**3

# RAM tiers in GB; 1 is "Mini". A model belongs to the smallest tier whose
# machine holds it after the operating system takes its share (a quarter of a
# small machine, 2 GB of a big one); anything bigger than 32 GB machines is "64+".
TIERS = (1, 2, 4, 8, 16, 32, 64)
OS_RESERVE_FRACTION = 0.25
OS_RESERVE_MAX = 2 * 1024**3

# Typical bits per weight of a whole GGUF file (7B-class models, embeddings
# included), used only to estimate a file whose exact size is not known.
BITS_PER_WEIGHT = {
    "IQ1_S": 1.8, "IQ1_M": 2.0, "IQ2_XXS": 2.3, "IQ2_XS": 2.55, "IQ2_S": 2.75, "IQ2_M": 2.95,
    "Q2_K": 3.35, "IQ3_XXS": 3.3, "IQ3_XS": 3.55, "IQ3_S": 3.7, "Q3_K_S": 3.5, "IQ3_M": 3.9,
    "Q3_K_M": 3.9, "Q3_K_L": 4.2, "IQ4_XS": 4.5, "IQ4_NL": 4.75, "Q4_0": 4.55, "Q4_K_S": 4.6,
    "Q4_1": 5.0, "Q4_K_M": 4.85, "Q5_0": 5.5, "Q5_K_S": 5.5, "Q5_1": 6.0, "Q5_K_M": 5.7,
    "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.0, "BF16": 16.0, "F32": 32.0,
}


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
    speed: speed.SpeedEstimate | None = None
    unknown: str = ""  # why there is no verdict: "fit unknown (architecture X)"

    @property
    def quant(self) -> str:
        return self.quant_file.quant

    @property
    def kind(self) -> str | None:
        """The verdict's kind, "fit unknown", or None before the machine is known."""
        return self.verdict.kind if self.verdict else ("fit unknown" if self.unknown else None)

    @property
    def explanation(self) -> str:
        return self.verdict.explanation if self.verdict else self.unknown

    @property
    def fit_label(self) -> str:
        """The verdict with the speed: ``fits in RAM, ~12 tok/s``; ``too slow``."""
        if self.verdict is None:
            return self.unknown or "-"
        if not self.verdict.fits or self.speed is None:
            return self.verdict.kind
        if self.speed.too_slow:
            return f"too slow, {self.speed.label}"
        return f"{self.verdict.kind}, {self.speed.label}"


def judge(entry: CatalogEntry, quant: str | None, hardware: "Hardware | None", n_ctx: int | None = None) -> Rung:
    quant_file = entry.file(quant)
    if quant_file is None:
        raise KeyError(f"{entry.id} has no quant {quant}")
    if entry.arch is None:
        return _judge_by_header(entry, quant_file, hardware, n_ctx)
    size, exact = file_size(entry, quant_file)
    shape = shape_for(entry, quant_file.quant, size)
    n_ctx = n_ctx or default_context(entry)
    needed = fit.estimate(shape, n_ctx, gpu_layers=0).ram_bytes
    if hardware is None:
        return Rung(quant_file, size, exact, needed, None)
    verdict = fit.verdict(shape, hardware, n_ctx=n_ctx)
    threads = decode_threads(hardware.cores_physical, hardware.cores_logical)
    rate = speed.estimate(shape, hardware, threads, hardware.cores_physical, verdict.gpu_layers,
                          parameters=entry.parameters, active_parameters=entry.active_parameters)
    return Rung(quant_file, size, exact, needed, verdict, rate)


def _judge_by_header(entry: CatalogEntry, quant_file: QuantFile, hardware: "Hardware | None",
                     n_ctx: int | None) -> Rung:
    """An entry whose shape the catalog does not give: judged from the file's real header
    when a refresh cached it, else no numbers at all (a guessed shape would mislead)."""
    from tui_llm import locations
    from tui_llm.hub.catalog_refresh import cached_header

    size, exact = file_size(entry, quant_file)
    info = cached_header(entry.id, quant_file, locations.cache_dir())
    if info is None:
        return Rung(quant_file, size, exact, 0, None, unknown=f"fit unknown (architecture {entry.family})")
    try:
        shape = fit.ModelShape.from_gguf(info)
    except ValueError:
        return Rung(quant_file, size, exact, 0, None, unknown=f"fit unknown (architecture {info.architecture})")
    n_ctx = min(n_ctx or default_context(entry), shape.n_ctx_train or entry.context)
    needed = fit.estimate(shape, n_ctx, gpu_layers=0).ram_bytes
    if hardware is None:
        return Rung(quant_file, info.file_size, True, needed, None)
    verdict = fit.verdict(shape, hardware, n_ctx=n_ctx)
    threads = decode_threads(hardware.cores_physical, hardware.cores_logical)
    rate = speed.for_gguf(info, shape, hardware, threads, hardware.cores_physical, verdict.gpu_layers)
    return Rung(quant_file, info.file_size, True, needed, verdict, rate)


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
            "parameters": entry.parameters, "active_parameters": entry.active_parameters or None,
            "use": list(entry.uses), "template": entry.template,
            "context": entry.context, "licence": entry.licence, "repo_id": entry.repo_id,
            "format": entry.format, "tier": tier_label(self.tier), "tier_gb": self.tier,
            "picks": [{"tier": p.tier, "role": p.role, "quant": p.quant} for p in self.picks],
            "good_for": entry.good_for, "source": entry.source,
        }
        if rung is not None:
            data.update(
                quant=rung.quant, filename=rung.quant_file.filename,
                size_bytes=rung.size, size_exact=rung.size_exact,
                ram_needed_bytes=rung.ram_needed or None, n_ctx=default_context(entry),
            )
            if rung.kind is not None:
                data["fit"] = rung.kind
                data["fit_explanation"] = rung.explanation
            if rung.speed is not None:
                data["speed"] = rung.speed.as_dict()
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
            rung = self.rung(entry) if entry.arch is None else None
            self._tiers[entry.id] = tier_for_bytes(rung.ram_needed) if rung and rung.ram_needed else entry_tier(entry)
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
        ggml: bool = False,
    ) -> list[Row]:
        """Table rows. With a tier: the entries of that tier plus the seed's picks for it
        (a pick row shows the picked quant), picks first in Speed/Balanced/Quality order.
        GGML-only entries (llama.cpp cannot load them) are left out unless ``ggml`` is
        set or a text search names them."""
        rows: list[Row] = []
        for entry in self.catalog:
            if entry.format == "ggml" and not (ggml or text.strip()):
                continue
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

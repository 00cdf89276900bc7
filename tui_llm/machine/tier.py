"""This machine in words: its memory tier, which common model sizes fit it, and how fast
each would write."""

from __future__ import annotations

from dataclasses import dataclass

from tui_llm.engine.load_settings import decode_threads
from tui_llm.machine import speed
from tui_llm.machine.fit import FitVerdict, max_context, verdict
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.shape import ModelShape
from tui_llm.units import GIB, human_size

_TIERS_GB = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
_SIZES_B = (0.5, 1, 1.5, 3, 4, 7, 8, 12, 14, 24, 32, 70, 123, 405)
SPEED_SIZES_B = (1, 3, 8, 14, 24, 32, 70)
Q4_K_M_BYTES_PER_PARAM = 0.61  # ~4.85 bits per weight


def _tier_gb(size: int) -> int:
    """The usual memory size nearest to ``size`` (machines and cards come in GiB)."""
    gib = size / GIB
    return min(_TIERS_GB, key=lambda tier: abs(tier - gib))


def _size_label(billions: float) -> str:
    return f"{billions:g}B"


def tier_summary(hardware: Hardware) -> str:
    """One line: the memory tier and the biggest common model that fits it at Q4_K_M."""
    gpus = hardware.usable_gpus
    on_gpu = bool(gpus)
    pool = sum(g.free_bytes for g in gpus) if on_gpu else hardware.ram_available
    size = sum(g.total_bytes for g in gpus) if on_gpu else hardware.ram_total
    where = "of free VRAM" if on_gpu else "of free RAM"
    best: tuple[float, int] | None = None
    for billions in _SIZES_B:
        params = int(billions * 1e9)
        shape = ModelShape.approximate(params, int(params * Q4_K_M_BYTES_PER_PARAM), n_ctx_train=32768)
        if on_gpu:
            fits = _fits_fully_on_gpu(shape, hardware)
        else:
            fits = max_context(shape, hardware, gpu_layers=0, limit=32768)
        if fits >= 4096:
            best = (billions, fits)
    tier = f"about {_tier_gb(size)} GB tier ({human_size(pool)} {where})"
    if best is None:
        return f"{tier}: only very small models (under 0.5B) fit; expect short contexts"
    billions, ctx = best
    ctx_k = max(k for k in (4, 8, 16, 32) if k * 1024 <= ctx)
    return f"{tier}: {_size_label(billions)} models at Q4_K_M fit with {ctx_k}k context; {chat_speed_limit(hardware)}"


def chat_speed_limit(hardware: Hardware) -> str:
    """Where writing gets too slow for chat, among the sizes that fit."""
    usable = [row for row in size_fits(hardware) if row.fits]
    fast = [row for row in usable if not row.speed.too_slow]
    floor = f"{speed.TOO_SLOW_FOR_CHAT:g}+ tok/s"
    if not fast:
        return f"none writes at chat speed ({floor})"
    if len(fast) == len(usable):
        return f"all of them at chat speed ({floor})"
    return f"chat speed ({floor}) up to {fast[-1].label}, slower past it"


@dataclass(frozen=True)
class SizeFit:
    """How a common model size at Q4_K_M fares on a machine: its verdict and how fast it would write."""

    billions: float
    file_bytes: int
    verdict: FitVerdict
    speed: speed.SpeedEstimate

    @property
    def label(self) -> str:
        return _size_label(self.billions)

    @property
    def fits(self) -> bool:
        return self.verdict.fits

    @property
    def text(self) -> str:
        """``~12 tok/s``; ``~3.1 tok/s, too slow for chat``; ``too large``."""
        if not self.fits:
            return "too large"
        return self.speed.label + (", too slow for chat" if self.speed.too_slow else "")

    def as_dict(self) -> dict[str, object]:
        return {"size": self.label, "fits": self.fits, **self.speed.as_dict()}


def size_fits(hardware: Hardware, n_ctx: int = 4096, sizes: tuple[float, ...] = _SIZES_B) -> list[SizeFit]:
    """Verdict and decode speed of each size at Q4_K_M and ``n_ctx`` tokens of context,
    with the app's decode threads and GPU split."""
    threads = decode_threads(hardware.cores_physical, hardware.cores_logical)
    rows = []
    for billions in sizes:
        params = int(billions * 1e9)
        size = int(params * Q4_K_M_BYTES_PER_PARAM)
        shape = ModelShape.approximate(params, size, n_ctx_train=32768)
        judged = verdict(shape, hardware, n_ctx=n_ctx)
        rate = speed.estimate(shape, hardware, threads, hardware.cores_physical, judged.gpu_layers,
                              parameters=params)
        rows.append(SizeFit(billions, size, judged, rate))
    return rows


def _fits_fully_on_gpu(shape: ModelShape, hardware: Hardware) -> int:
    return max_context(shape, hardware, gpu_layers=shape.n_layers + 1, limit=32768)



def size_speeds(hardware: Hardware, sizes: tuple[float, ...] = SPEED_SIZES_B, n_ctx: int = 4096) -> list[SizeFit]:
    """The sizes ``tui-llm hw`` lists by speed."""
    return size_fits(hardware, n_ctx, sizes)

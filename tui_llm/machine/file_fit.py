"""One GGUF file judged for this machine, from its header or only its size and
quant (a hub listing): the fit verdict and the speed, in one phrase."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui_llm.machine import fit, speed
from tui_llm.machine.catalog_fit import BITS_PER_WEIGHT, DEFAULT_CONTEXT

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware
    from tui_llm.models.gguf import GGUFInfo

_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d_(?:K_[SMLX]L?|K|[01]|XXS|XS|S|M|NL)|TQ\d_0|MXFP4(?:_MOE)?|BF16|F16|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def quant_of(filename: str) -> str:
    """The quant named in a file name (``model.Q4_K_M.gguf`` -> ``Q4_K_M``); "" if none."""
    found = _QUANT.findall(filename.rsplit("/", 1)[-1])
    return found[-1].upper() if found else ""


@dataclass(frozen=True)
class FileFit:
    verdict: fit.FitVerdict
    speed: speed.SpeedEstimate
    exact: bool  # from the file's header, not guessed from its size

    @property
    def label(self) -> str:
        """``fits, ~12 tok/s``; ``too large``; ``too slow (~1.2 tok/s)``."""
        if not self.verdict.fits:
            return "too large"
        if self.speed.too_slow:
            return f"too slow ({self.speed.label})"
        word = "tight" if self.verdict.kind == "tight" else "fits"
        return f"{word}, {self.speed.label}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.kind,
            "label": self.label,
            "ram_bytes": self.verdict.estimate.ram_bytes,
            "vram_bytes": self.verdict.estimate.vram_bytes,
            "n_ctx": self.verdict.n_ctx,
            "exact": self.exact,
            "speed": self.speed.as_dict(),
        }


def judge_shape(shape: fit.ModelShape, hardware: "Hardware", info: "GGUFInfo | None" = None,
                n_ctx: int = DEFAULT_CONTEXT) -> FileFit:
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.machine.plan import plan_load

    n_ctx = min(n_ctx, shape.n_ctx_train or n_ctx)
    judged = fit.verdict(shape, hardware, n_ctx=n_ctx)
    planned = plan_load(shape, LoadSettings(n_ctx=n_ctx), hardware).settings
    threads, batch = planned.n_threads or 1, planned.n_threads_batch
    if info is not None:
        rate = speed.for_gguf(info, shape, hardware, threads, batch, judged.gpu_layers)
    else:
        rate = speed.estimate(shape, hardware, threads, batch, judged.gpu_layers)
    return FileFit(judged, rate, exact=info is not None)


def judge_size(size: int, quant: str, hardware: "Hardware", n_ctx: int = DEFAULT_CONTEXT) -> FileFit:
    """A file known only by its size and quant: a dense model of the usual proportions."""
    bits = BITS_PER_WEIGHT.get(quant.upper(), BITS_PER_WEIGHT["Q4_K_M"])
    parameters = max(1, int(size * 8 / bits))
    shape = fit.ModelShape.approximate(parameters, max(size, 1), n_ctx_train=max(n_ctx, 4096))
    return judge_shape(shape, hardware, n_ctx=n_ctx)


def judge_header(info: "GGUFInfo", hardware: "Hardware", n_ctx: int = DEFAULT_CONTEXT) -> FileFit:
    return judge_shape(fit.ModelShape.from_gguf(info), hardware, info, n_ctx)

"""Will this model fit this machine? The GPU layer split, the largest context, verdicts in words.

Pure functions, no I/O: the catalog calls them for every quant of every entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_llm.machine.memory import MemoryEstimate, clamp_layers, estimate
from tui_llm.machine.shape import KV_PAD, ModelShape
from tui_llm.models.rope import MAX_FACTOR
from tui_llm.units import MIB, human_size

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware

GPU_SAFETY_MARGIN = 512 * MIB  # left free on each GPU when choosing layers
RAM_SAFETY_FRACTION = 0.10  # of available RAM kept for the OS and the app
TIGHT_FRACTION = 0.80  # using more than this share of available RAM is "tight"

VERDICTS = ("fits on GPU", "partial offload", "fits in RAM", "tight", "too large")


def _gpus(hardware: "Hardware") -> tuple[Any, ...]:
    """The GPUs llama.cpp can offload to (none for a CPU-only build)."""
    return hardware.usable_gpus


def _gpu_free(hardware: "Hardware") -> int:
    return sum(gpu.free_bytes for gpu in _gpus(hardware))


def _ram_budget(hardware: "Hardware") -> int:
    return int(hardware.ram_available * (1 - RAM_SAFETY_FRACTION))


def _vram_budget(hardware: "Hardware") -> int:
    return max(0, _gpu_free(hardware) - GPU_SAFETY_MARGIN * len(_gpus(hardware)))


def suggest_gpu_layers(
    shape: ModelShape,
    hardware: "Hardware",
    n_ctx: int,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
) -> int:
    """The most layers (output layer included) whose VRAM fits free VRAM minus a margin."""
    if not _gpus(hardware):
        return 0
    budget = _vram_budget(hardware)

    def fits(layers: int) -> bool:
        need = estimate(shape, n_ctx, layers, kv_type, n_ubatch, flash_attn, len(_gpus(hardware)))
        return need.vram_bytes <= budget

    # VRAM grows with every layer moved, so bisect: ``low`` fits, ``high`` does not.
    low, high = 0, shape.n_layers + 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def max_context(
    shape: ModelShape,
    hardware: "Hardware",
    gpu_layers: int | None = None,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
    limit: int | None = None,
) -> int:
    """The largest context (a multiple of 256, at most the training context) that fits.

    With ``gpu_layers=None`` the split is re-chosen for each context size.
    Returns 0 when not even a 256-token context fits.
    """
    top = limit or shape.n_ctx_train or 4096
    top = max(KV_PAD, top // KV_PAD * KV_PAD)

    def fits(n_ctx: int) -> bool:
        layers = gpu_layers if _gpus(hardware) else 0
        if layers is None:
            layers = suggest_gpu_layers(shape, hardware, n_ctx, kv_type, n_ubatch, flash_attn)
        need = estimate(shape, n_ctx, layers, kv_type, n_ubatch, flash_attn, max(1, len(_gpus(hardware))))
        vram_ok = need.vram_bytes == 0 or need.vram_bytes <= _gpu_free(hardware)
        return vram_ok and need.ram_bytes <= _ram_budget(hardware)

    if not fits(KV_PAD):
        return 0
    low, high = 1, top // KV_PAD  # in units of KV_PAD; low always fits
    if fits(high * KV_PAD):
        return high * KV_PAD
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle * KV_PAD):
            low = middle
        else:
            high = middle
    return low * KV_PAD


@dataclass(frozen=True)
class FitVerdict:
    kind: str
    explanation: str
    n_ctx: int
    gpu_layers: int
    estimate: MemoryEstimate
    ram_available: int
    vram_free: int
    max_context: int
    suggested_gpu_layers: int
    numbers: dict[str, int] = field(default_factory=dict)
    total_layers: int = 0  # repeating layers + the output layer: gpu_layers for full offload
    # The largest context past the trained length that fits with RoPE scaling (at most
    # MAX_FACTOR times it); 0 when not asked for or when the trained length does not fit.
    max_context_scaled: int = 0

    @property
    def fits(self) -> bool:
        return self.kind != "too large"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.kind,
            "explanation": self.explanation,
            "n_ctx": self.n_ctx,
            "gpu_layers": self.gpu_layers,
            "suggested_gpu_layers": self.suggested_gpu_layers,
            "total_layers": self.total_layers,
            "max_context": self.max_context,
            "max_context_with_rope_scaling": self.max_context_scaled,
            "ram_bytes": self.estimate.ram_bytes,
            "vram_bytes": self.estimate.vram_bytes,
            "ram_available_bytes": self.ram_available,
            "vram_free_bytes": self.vram_free,
            "breakdown": self.estimate.breakdown,
        }


def verdict(
    shape: ModelShape,
    hardware: "Hardware",
    n_ctx: int | None = None,
    gpu_layers: int | None = None,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
    rope_scaling: bool = False,
) -> FitVerdict:
    """Judge ``shape`` at ``n_ctx`` (default: min(training context, 4096)) on ``hardware``.

    ``gpu_layers=None`` picks the split; an explicit value is judged as given.
    ``rope_scaling`` also looks for the largest context past the trained length.
    """
    n_ctx = n_ctx or min(shape.n_ctx_train or 4096, 4096)
    suggested = suggest_gpu_layers(shape, hardware, n_ctx, kv_type, n_ubatch, flash_attn)
    layers = suggested if gpu_layers is None else clamp_layers(shape, gpu_layers)
    if not _gpus(hardware):
        layers = 0
    need = estimate(shape, n_ctx, layers, kv_type, n_ubatch, flash_attn, max(1, len(_gpus(hardware))))
    biggest = max_context(shape, hardware, gpu_layers, kv_type, n_ubatch, flash_attn)
    scaled = 0
    if rope_scaling and shape.n_ctx_train and biggest >= shape.n_ctx_train // KV_PAD * KV_PAD:
        scaled = max_context(shape, hardware, gpu_layers, kv_type, n_ubatch, flash_attn,
                             limit=shape.n_ctx_train * MAX_FACTOR)
        scaled = scaled if scaled > biggest else 0
    ram_free, vram_free = hardware.ram_available, _gpu_free(hardware)
    ram_need, vram_need = need.ram_bytes, need.vram_bytes
    full = shape.n_layers + 1
    ctx_words = f"{n_ctx:,}-token context"
    if vram_need > vram_free:
        kind = "too large"
        why = (f"{human_size(vram_need)} of VRAM needed for {layers} layers but only "
               f"{human_size(vram_free)} free; use fewer GPU layers")
    elif ram_need > _ram_budget(hardware):
        kind = "too large"
        why = (f"needs {human_size(ram_need)} of RAM at {ctx_words} but only "
               f"{human_size(ram_free)} is available")
        if biggest:
            why += f"; it fits with at most {biggest:,} tokens of context"
    elif layers >= full:
        kind = "fits on GPU"
        why = (f"all {full} layers on the GPU: {human_size(vram_need)} of "
               f"{human_size(vram_free)} free VRAM at {ctx_words}")
    elif layers > 0:
        kind = "partial offload"
        why = (f"{layers} of {full} layers on the GPU ({human_size(vram_need)} VRAM), "
               f"the rest in RAM ({human_size(ram_need)} of {human_size(ram_free)} available)")
    elif ram_need > ram_free * TIGHT_FRACTION:
        kind = "tight"
        why = (f"needs {human_size(ram_need)} of the {human_size(ram_free)} RAM available "
               f"at {ctx_words}; close other programs or use a smaller context")
    else:
        kind = "fits in RAM"
        why = f"needs {human_size(ram_need)} of {human_size(ram_free)} available RAM at {ctx_words}"
    if kind == "partial offload" and ram_need > ram_free * TIGHT_FRACTION:
        kind = "tight"
        why += "; RAM is nearly full"
    return FitVerdict(
        kind=kind,
        explanation=why,
        n_ctx=n_ctx,
        gpu_layers=layers,
        estimate=need,
        ram_available=ram_free,
        vram_free=vram_free,
        max_context=biggest,
        suggested_gpu_layers=suggested,
        numbers={"ram_bytes": ram_need, "vram_bytes": vram_need,
                 "ram_available_bytes": ram_free, "vram_free_bytes": vram_free},
        total_layers=full,
        max_context_scaled=scaled,
    )

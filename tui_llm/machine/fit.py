"""Will this model fit this machine? Memory estimates, GPU layer split, verdicts.

Pure functions, no I/O: the catalog calls them for every quant of every entry.

The estimate follows how llama.cpp lays a model out:

* weights: the token embedding always stays in RAM; repeating layer ``il``
  goes to the GPU when ``il >= n_layers + 1 - gpu_layers``; the output layer
  (final norm + output head) counts as one layer *inside* ``gpu_layers`` and
  is the first to move, so ``gpu_layers = n_layers + 1`` is full offload.
* KV cache: per layer, on that layer's device, ``(key_length + value_length)
  x n_head_kv x cells x bytes per element``; sliding-window layers keep only
  ``window + n_ubatch`` cells, unless the full-size SWA cache is asked for
  (llama-cpp-python's default).
* compute buffer: the largest set of activations alive at once, which is
  the attention score matrix ``n_head x n_kv x n_ubatch`` (without flash
  attention), the feed-forward block, or the logits ``n_vocab x n_ubatch``.
  On a GPU the whole reserved buffer is committed; in RAM only the pages
  actually written count, and llama-cpp-python asks for one row of logits.
* overhead: llama.cpp's bookkeeping (vocabulary, tensor and graph
  metadata) in RAM, and the CUDA context on each GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui_llm.models.gguf import GGUFInfo
    from tui_llm.machine.hardware import Hardware

MIB = 1024 * 1024
GIB = 1024 * MIB

# Bytes per cached element for each KV cache type (q8_0: 34 bytes per 32, q4_0: 18 per 32).
KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32,
            "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
KV_PAD = 256  # llama.cpp rounds the KV cache up to a multiple of this many cells
RAM_BASE_OVERHEAD = 9 * MIB  # llama.cpp context, thread pool, sampler, graph metadata
TENSOR_OVERHEAD = 1024  # per-tensor metadata in ggml contexts and graph nodes
VOCAB_TOKEN_BYTES = 150  # per vocabulary entry: text, id maps, score, type
MERGE_BYTES = 104  # per BPE merge rule held in a ranked map
# Per GPU: the CUDA context (532 MiB measured on an H200, CUDA 13, driver 580) plus the
# CUDA backend's temporary-buffer pool once prompts have run (about 180 MiB more for the
# test model). Measured with bench/gpu_offload.py; see README "GPU offload, measured".
GPU_CONTEXT_OVERHEAD = 712 * MIB
GPU_SAFETY_MARGIN = 512 * MIB  # left free on each GPU when choosing layers
RAM_SAFETY_FRACTION = 0.10  # of available RAM kept for the OS and the app
TIGHT_FRACTION = 0.80  # using more than this share of available RAM is "tight"

VERDICTS = ("fits on GPU", "partial offload", "fits in RAM", "tight", "too large")


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about a model, from a file or a catalog entry."""

    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    n_ctx_train: int
    n_vocab: int
    weights_bytes: int
    layer_bytes: tuple[int, ...] = ()  # per repeating layer; empty = spread evenly
    input_bytes: int = 0  # token embedding (stays in RAM)
    output_bytes: int = 0  # final norm + output head (the "+1" of gpu_layers)
    # The output head reuses the token embedding (tied weights): nothing more in
    # RAM, but offloading the output layer puts a copy of it on the GPU.
    tied_bytes: int = 0
    sliding_window: int = 0
    swa_layers: tuple[bool, ...] = ()
    n_head_kv_per_layer: tuple[int, ...] = ()
    n_ff: int = 0
    n_tensors: int = 0
    n_merges: int = 0  # BPE merge rules in the tokenizer
    architecture: str = ""
    exact: bool = True  # False when built from a parameter count, not a file

    def __post_init__(self) -> None:
        if self.n_layers <= 0 or self.n_embd <= 0 or self.n_head <= 0:
            raise ValueError(
                "the model shape is incomplete (layer count, embedding size and head count are needed)"
            )
        if self.weights_bytes <= 0:
            raise ValueError("the model has no weights")

    @classmethod
    def from_gguf(cls, info: "GGUFInfo") -> "ModelShape":
        layers = [0] * info.n_layers
        input_bytes = output_bytes = 0
        names = set()
        for tensor in info.tensors:
            names.add(tensor.name)
            parts = tensor.name.split(".")
            if parts[0] == "blk" and len(parts) > 1 and parts[1].isdigit():
                il = int(parts[1])
                if il < len(layers):
                    layers[il] += tensor.n_bytes
                    continue
            if tensor.name.startswith(("output", "cls")):
                output_bytes += tensor.n_bytes
            else:
                input_bytes += tensor.n_bytes
        tied = "output.weight" not in names and "token_embd.weight" in names
        tied_bytes = info.tensor_bytes["token_embd.weight"] if tied else 0
        missing = [name for name, value in (
            ("block_count", info.n_layers), ("embedding_length", info.n_embd),
            ("attention.head_count", info.n_head),
        ) if not value]
        if missing:
            raise ValueError(
                f"{info.path.name} lacks {', '.join(info.architecture + '.' + m for m in missing)}; "
                "its memory cannot be estimated"
            )
        return cls(
            n_layers=info.n_layers,
            n_embd=info.n_embd,
            n_head=info.n_head,
            n_head_kv=info.n_head_kv,
            key_length=info.key_length,
            value_length=info.value_length,
            n_ctx_train=info.n_ctx_train,
            n_vocab=info.n_vocab,
            weights_bytes=info.weights_bytes,
            layer_bytes=tuple(layers),
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            tied_bytes=tied_bytes,
            sliding_window=info.sliding_window,
            swa_layers=info.swa_layers,
            n_head_kv_per_layer=info.n_head_kv_per_layer,
            n_ff=info.n_ff,
            n_tensors=len(info.tensors),
            n_merges=info.array_lengths.get("tokenizer.ggml.merges", 0),
            architecture=info.architecture,
        )

    @classmethod
    def approximate(
        cls,
        parameter_count: int,
        weights_bytes: int,
        n_ctx_train: int = 4096,
        n_layers: int | None = None,
        n_embd: int | None = None,
        n_head: int | None = None,
        n_head_kv: int | None = None,
        n_vocab: int = 32000,
        architecture: str = "",
    ) -> "ModelShape":
        """A shape for a model known only by its size, as in a catalog entry.

        Missing dimensions come from the usual proportions of decoder-only
        models (width ~ 128 x layers, head size 128, 4:1 grouped-query
        attention), which keeps the KV cache within a small factor.
        """
        if parameter_count <= 0 or weights_bytes <= 0:
            raise ValueError("parameter count and file size must be positive")
        # params ~ 12 x layers x width^2, and width ~ 128 x layers
        if not n_layers:
            if n_embd:
                n_layers = max(1, round(parameter_count / (12 * n_embd * n_embd)))
            else:
                n_layers = max(4, round((parameter_count / (12 * 128 * 128)) ** (1 / 3)))
        if not n_embd:
            n_embd = max(256, round((parameter_count / (12 * n_layers)) ** 0.5 / 64) * 64)
        n_head = n_head or max(1, n_embd // 128)
        n_head_kv = n_head_kv or max(1, n_head // 4)
        head_dim = n_embd // n_head
        bytes_per_param = weights_bytes / parameter_count
        input_bytes = int(n_vocab * n_embd * bytes_per_param)
        output_bytes = input_bytes
        layer_total = max(weights_bytes - input_bytes - output_bytes, weights_bytes // 2)
        return cls(
            n_layers=n_layers,
            n_embd=n_embd,
            n_head=n_head,
            n_head_kv=n_head_kv,
            key_length=head_dim,
            value_length=head_dim,
            n_ctx_train=n_ctx_train,
            n_vocab=n_vocab,
            weights_bytes=weights_bytes,
            layer_bytes=tuple([layer_total // n_layers] * n_layers),
            input_bytes=weights_bytes - layer_total - min(output_bytes, weights_bytes - layer_total),
            output_bytes=min(output_bytes, weights_bytes - layer_total),
            n_ff=4 * n_embd,
            n_tensors=9 * n_layers + 3,
            n_merges=n_vocab,
            architecture=architecture,
            exact=False,
        )

    # --- derived per-layer figures -------------------------------------------------

    def layer_weight(self, il: int) -> int:
        if self.layer_bytes:
            return self.layer_bytes[il]
        return (self.weights_bytes - self.input_bytes - self.output_bytes) // self.n_layers

    def head_kv(self, il: int) -> int:
        if self.n_head_kv_per_layer and il < len(self.n_head_kv_per_layer):
            return self.n_head_kv_per_layer[il]
        return self.n_head_kv

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers) and il < len(self.swa_layers) and self.swa_layers[il]

    def kv_cells(self, il: int, n_ctx: int, n_ubatch: int, swa_full: bool = True) -> int:
        cells = _pad(n_ctx, KV_PAD)
        if not swa_full and self.is_swa(il) and self.sliding_window > 0:
            cells = min(cells, _pad(self.sliding_window + n_ubatch, KV_PAD))
        return cells

    def kv_layer_bytes(
        self, il: int, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512, swa_full: bool = True
    ) -> int:
        per_cell = (self.key_length + self.value_length) * self.head_kv(il) * KV_BYTES[kv_type]
        return int(per_cell * self.kv_cells(il, n_ctx, n_ubatch, swa_full))

    # Sums over the last k layers (the ones offloaded first), so that estimate()
    # costs the same for 4 layers or 120: it runs thousands of times per catalog.
    @cached_property
    def _weights_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([self.layer_weight(il) for il in range(self.n_layers)])

    @cached_property
    def _full_heads_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([0 if self.is_swa(il) else self.head_kv(il) for il in range(self.n_layers)])

    @cached_property
    def _swa_heads_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([self.head_kv(il) if self.is_swa(il) else 0 for il in range(self.n_layers)])

    def _split(self, gpu_repeating: int, n_ctx: int, kv_type: str, n_ubatch: int,
               swa_full: bool) -> tuple[int, int, int, int]:
        """(cpu weights, gpu weights, cpu kv, gpu kv) of the repeating layers."""
        full_cells = _pad(n_ctx, KV_PAD)
        swa_cells = full_cells
        if not swa_full and self.sliding_window > 0:
            swa_cells = min(full_cells, _pad(self.sliding_window + n_ubatch, KV_PAD))
        per_head_cell = (self.key_length + self.value_length) * KV_BYTES[kv_type]

        def kv(full_heads: int, swa_heads: int) -> int:
            return int(per_head_cell * (full_heads * full_cells + swa_heads * swa_cells))

        total_w, gpu_w = self._weights_from_end[self.n_layers], self._weights_from_end[gpu_repeating]
        gpu_kv = kv(self._full_heads_from_end[gpu_repeating], self._swa_heads_from_end[gpu_repeating])
        all_kv = kv(self._full_heads_from_end[self.n_layers], self._swa_heads_from_end[self.n_layers])
        return total_w - gpu_w, gpu_w, all_kv - gpu_kv, gpu_kv


def _suffix_sums(values: list[int]) -> tuple[int, ...]:
    """sums[k] = the sum of the last k values."""
    sums = [0]
    for value in reversed(values):
        sums.append(sums[-1] + value)
    return tuple(sums)


@dataclass(frozen=True)
class Breakdown:
    weights: int = 0
    kv: int = 0
    compute: int = 0
    overhead: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute + self.overhead

    def as_dict(self) -> dict[str, int]:
        return {"weights": self.weights, "kv": self.kv, "compute": self.compute,
                "overhead": self.overhead, "total": self.total}


@dataclass(frozen=True)
class MemoryEstimate:
    n_ctx: int
    gpu_layers: int
    kv_type: str
    ram: Breakdown
    vram: Breakdown
    n_gpus: int = 0

    @property
    def ram_bytes(self) -> int:
        return self.ram.total

    @property
    def vram_bytes(self) -> int:
        return self.vram.total

    @property
    def breakdown(self) -> dict[str, dict[str, int]]:
        return {"ram": self.ram.as_dict(), "vram": self.vram.as_dict()}

    def as_dict(self) -> dict[str, Any]:
        return {"n_ctx": self.n_ctx, "gpu_layers": self.gpu_layers, "kv_type": self.kv_type,
                "ram_bytes": self.ram_bytes, "vram_bytes": self.vram_bytes,
                "breakdown": self.breakdown}


def _pad(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _compute_bytes(
    shape: ModelShape, n_ctx: int, n_ubatch: int, n_outputs: int, flash_attn: bool,
    with_attention: bool = True, with_output: bool = True,
) -> int:
    """The biggest activation working set of one micro-batch (float32 activations).

    Inputs (the attention masks) live through every layer; the phases that
    follow one another reuse the same memory, so the largest one counts.
    """
    tokens = max(1, min(n_ubatch, n_ctx))
    n_kv = _pad(n_ctx, KV_PAD)
    stream = shape.n_embd * tokens * 4  # one [n_embd, tokens] activation
    query = shape.n_head * shape.key_length * tokens * 4
    phases = [2 * stream]
    if with_attention:
        # Models mixing sliding-window and full attention keep one mask for each.
        masks = 2 if any(shape.swa_layers) else 1
        inputs = masks * n_kv * tokens * (2 if flash_attn else 4)
        attention = 3 * stream + 3 * query
        if not flash_attn:
            scores = shape.n_head * n_kv * tokens * 4
            # ... converted once more to f16 to multiply with the f16 V cache
            attention += scores + scores // 2
        ffn = 4 * max(shape.n_ff, shape.n_embd) * tokens * 4 + 3 * stream
        phases += [inputs + attention, inputs + ffn]
    if with_output:
        phases.append(shape.n_vocab * max(1, min(n_outputs, tokens)) * 4 + 2 * stream)
    return max(phases)


def _ram_overhead(shape: ModelShape) -> int:
    """llama.cpp's own bookkeeping: the vocabulary (token texts, maps, scores),
    BPE merge ranks, one row of logits, tensor metadata."""
    vocab = shape.n_vocab * (VOCAB_TOKEN_BYTES + 4) + shape.n_merges * MERGE_BYTES
    return RAM_BASE_OVERHEAD + vocab + TENSOR_OVERHEAD * shape.n_tensors


def _clamp_layers(shape: ModelShape, gpu_layers: int) -> int:
    if gpu_layers < 0:
        return shape.n_layers + 1
    return min(gpu_layers, shape.n_layers + 1)


def estimate(
    shape: ModelShape,
    n_ctx: int,
    gpu_layers: int = 0,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
    n_gpus: int = 1,
    swa_full: bool = True,
) -> MemoryEstimate:
    """Memory for ``shape`` at context ``n_ctx`` with ``gpu_layers`` offloaded (-1 = all).

    ``swa_full=True`` is llama-cpp-python's default: sliding-window layers keep
    a full-size cache; with False they keep ``window + n_ubatch`` cells.
    """
    if n_ctx < 1:
        raise ValueError(f"context size must be positive, got {n_ctx}")
    if kv_type not in KV_BYTES:
        raise ValueError(f"unknown KV cache type {kv_type!r}; use one of {', '.join(KV_BYTES)}")
    layers = _clamp_layers(shape, gpu_layers)
    first_gpu_layer = shape.n_layers + 1 - layers
    output_on_gpu = layers >= 1
    gpu_repeating = min(max(layers - 1, 0), shape.n_layers)
    cpu_weights, gpu_weights, cpu_kv, gpu_kv = shape._split(gpu_repeating, n_ctx, kv_type, n_ubatch, swa_full)
    cpu_weights += shape.input_bytes
    if output_on_gpu:
        gpu_weights += shape.output_bytes + shape.tied_bytes
    else:
        cpu_weights += shape.output_bytes
    cpu_layers = min(first_gpu_layer, shape.n_layers)
    ram_compute = _compute_bytes(
        shape, n_ctx, n_ubatch, n_outputs=1, flash_attn=flash_attn,
        with_attention=cpu_layers > 0, with_output=not output_on_gpu,
    )
    ram = Breakdown(cpu_weights, cpu_kv, ram_compute, _ram_overhead(shape))
    if layers == 0 or n_gpus < 1:
        return MemoryEstimate(n_ctx, 0, kv_type, ram, Breakdown(), 0)
    # The GPU buffer is reserved for the worst case: every token of a micro-batch
    # asking for logits; CUDA commits all of it.
    gpu_compute = _compute_bytes(
        shape, n_ctx, n_ubatch, n_outputs=n_ubatch, flash_attn=flash_attn,
        with_attention=layers > 1 or shape.n_layers == 0, with_output=output_on_gpu,
    )
    vram = Breakdown(gpu_weights, gpu_kv, gpu_compute * n_gpus, GPU_CONTEXT_OVERHEAD * n_gpus)
    return MemoryEstimate(n_ctx, layers, kv_type, ram, vram, n_gpus)


# --- against a machine ------------------------------------------------------------


def _gpus(hardware: "Hardware") -> tuple[Any, ...]:
    """The GPUs llama.cpp can offload to (none for a CPU-only build)."""
    return getattr(hardware, "usable_gpus", hardware.gpus)


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
            "ram_bytes": self.estimate.ram_bytes,
            "vram_bytes": self.estimate.vram_bytes,
            "ram_available_bytes": self.ram_available,
            "vram_free_bytes": self.vram_free,
            "breakdown": self.estimate.breakdown,
        }


def human_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def verdict(
    shape: ModelShape,
    hardware: "Hardware",
    n_ctx: int | None = None,
    gpu_layers: int | None = None,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
) -> FitVerdict:
    """Judge ``shape`` at ``n_ctx`` (default: min(training context, 4096)) on ``hardware``.

    ``gpu_layers=None`` picks the split; an explicit value is judged as given.
    """
    n_ctx = n_ctx or min(shape.n_ctx_train or 4096, 4096)
    suggested = suggest_gpu_layers(shape, hardware, n_ctx, kv_type, n_ubatch, flash_attn)
    layers = suggested if gpu_layers is None else _clamp_layers(shape, gpu_layers)
    if not _gpus(hardware):
        layers = 0
    need = estimate(shape, n_ctx, layers, kv_type, n_ubatch, flash_attn, max(1, len(_gpus(hardware))))
    biggest = max_context(shape, hardware, gpu_layers, kv_type, n_ubatch, flash_attn)
    ram_free, vram_free = hardware.ram_available, _gpu_free(hardware)
    ram_need, vram_need = need.ram_bytes, need.vram_bytes
    full = shape.n_layers + 1
    ctx_words = f"{n_ctx:,}-token context"
    if vram_need > vram_free:
        kind = "too large"
        why = (f"{human_bytes(vram_need)} of VRAM needed for {layers} layers but only "
               f"{human_bytes(vram_free)} free; use fewer GPU layers")
    elif ram_need > _ram_budget(hardware):
        kind = "too large"
        why = (f"needs {human_bytes(ram_need)} of RAM at {ctx_words} but only "
               f"{human_bytes(ram_free)} is available")
        if biggest:
            why += f"; it fits with at most {biggest:,} tokens of context"
    elif layers >= full:
        kind = "fits on GPU"
        why = (f"all {full} layers on the GPU: {human_bytes(vram_need)} of "
               f"{human_bytes(vram_free)} free VRAM at {ctx_words}")
    elif layers > 0:
        kind = "partial offload"
        why = (f"{layers} of {full} layers on the GPU ({human_bytes(vram_need)} VRAM), "
               f"the rest in RAM ({human_bytes(ram_need)} of {human_bytes(ram_free)} available)")
    elif ram_need > ram_free * TIGHT_FRACTION:
        kind = "tight"
        why = (f"needs {human_bytes(ram_need)} of the {human_bytes(ram_free)} RAM available "
               f"at {ctx_words}; close other programs or use a smaller context")
    else:
        kind = "fits in RAM"
        why = f"needs {human_bytes(ram_need)} of {human_bytes(ram_free)} available RAM at {ctx_words}"
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
    )

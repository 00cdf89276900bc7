"""How much RAM and VRAM a model takes at a context size and GPU split.

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

from dataclasses import dataclass
from typing import Any

from tui_llm.machine.shape import KV_BYTES, KV_PAD, ModelShape, pad
from tui_llm.units import MIB

RAM_BASE_OVERHEAD = 9 * MIB  # llama.cpp context, thread pool, sampler, graph metadata
TENSOR_OVERHEAD = 1024  # per-tensor metadata in ggml contexts and graph nodes
VOCAB_TOKEN_BYTES = 150  # per vocabulary entry: text, id maps, score, type
MERGE_BYTES = 104  # per BPE merge rule held in a ranked map
# Per GPU: the CUDA context (532 MiB measured on an H200, CUDA 13, driver 580) plus the
# CUDA backend's temporary-buffer pool once prompts have run (about 180 MiB more for the
# test model). Measured with bench/gpu_offload.py; see README "GPU offload, measured".
GPU_CONTEXT_OVERHEAD = 712 * MIB


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


def _compute_bytes(
    shape: ModelShape, n_ctx: int, n_ubatch: int, n_outputs: int, flash_attn: bool,
    with_attention: bool = True, with_output: bool = True,
) -> int:
    """The biggest activation working set of one micro-batch (float32 activations).

    Inputs (the attention masks) live through every layer; the phases that
    follow one another reuse the same memory, so the largest one counts.
    """
    tokens = max(1, min(n_ubatch, n_ctx))
    n_kv = pad(n_ctx, KV_PAD)
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


def clamp_layers(shape: ModelShape, gpu_layers: int) -> int:
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
    layers = clamp_layers(shape, gpu_layers)
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


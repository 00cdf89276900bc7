"""How fast a model will run here, before it is downloaded.

Decoding one token reads every weight the token passes through once, so it is
bound by memory bandwidth: ``seconds per token = bytes read / bandwidth + a
fixed cost per layer`` (kernel launches, thread barriers: what dominates tiny
models). Weights on the GPU are read at GPU bandwidth, the rest at the CPU's,
which grows with the decode threads until the memory bus saturates. Bytes
read per token are the weights, less the token embedding (one row is looked
up) unless the output head shares it, and for mixture-of-experts models only
the experts a token uses. Reading a prompt is compute bound: about
2 x active parameters FLOPs per token.

The constants were calibrated with ``bench/speed_prediction.py`` on the test
model (SmolLM2-135M Q4_1) on a 2-core AMD EPYC (CPU) and an NVIDIA H200
(GPU, ``README.md``: 611 tok/s fully offloaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware
    from tui_llm.machine.shape import ModelShape
    from tui_llm.models.gguf import GGUFInfo

# Bytes per second one decode thread streams from RAM, until the bus is full.
CPU_BANDWIDTH_PER_THREAD = 10e9
CPU_BANDWIDTH_CAP = 40e9
CPU_SECONDS_PER_LAYER = 1.0e-4
# Sustained FLOP/s of one thread on quantized matrix products (prompt reading).
CPU_FLOPS_PER_THREAD = 20e9
CPU_FLOPS_PER_THREAD_AVX512 = 30e9
# NVML reports no bandwidth: a mid-range figure, safe for most cards.
GPU_BANDWIDTH = 400e9
GPU_SECONDS_PER_LAYER = 5.0e-5
GPU_FLOPS = 40e12
ASSUMED_BITS_PER_WEIGHT = 4.5
# Below this a reply of a few hundred tokens takes a minute or more.
TOO_SLOW_FOR_CHAT = 5.0


@dataclass(frozen=True)
class SpeedEstimate:
    decode_tok_s: float
    prompt_tok_s: float
    threads: int
    gpu_layers: int
    bytes_per_token: int
    bandwidth: float  # effective bytes/s of the CPU part

    @property
    def too_slow(self) -> bool:
        return self.decode_tok_s < TOO_SLOW_FOR_CHAT

    @property
    def label(self) -> str:
        return f"~{format_rate(self.decode_tok_s)} tok/s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "decode_tok_s": round(self.decode_tok_s, 1),
            "prompt_tok_s": round(self.prompt_tok_s, 1),
            "threads": self.threads,
            "gpu_layers": self.gpu_layers,
            "bytes_per_token": self.bytes_per_token,
            "too_slow_for_chat": self.too_slow,
        }


def format_rate(rate: float) -> str:
    return f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"


def active_fraction(info: "GGUFInfo") -> float:
    """The share of expert weights one token reads (1.0 for dense models)."""
    count = info.get(".expert_count")
    used = info.get(".expert_used_count")
    if isinstance(count, int) and isinstance(used, int) and count > 0 and 0 < used <= count:
        return used / count
    return 1.0


def expert_bytes(info: "GGUFInfo") -> int:
    return sum(t.n_bytes for t in info.tensors if "_exps" in t.name)


def bytes_per_token(shape: "ModelShape", experts: int = 0, expert_share: float = 1.0) -> int:
    """Weights one decoded token reads: all but the embedding table (unless tied),
    and of the ``experts`` bytes only ``expert_share``."""
    read = shape.weights_bytes - shape.input_bytes + shape.tied_bytes
    read -= int(experts * (1.0 - expert_share))
    return max(read, shape.weights_bytes // 100, 1)


def cpu_bandwidth(threads: int) -> float:
    return min(CPU_BANDWIDTH_PER_THREAD * max(1, threads), CPU_BANDWIDTH_CAP)


def estimate(
    shape: "ModelShape",
    hardware: "Hardware",
    threads: int,
    batch_threads: int | None = None,
    gpu_layers: int = 0,
    experts: int = 0,
    expert_share: float = 1.0,
    parameters: int = 0,
) -> SpeedEstimate:
    """Decode and prompt tokens/s for ``shape`` with ``threads`` decode threads and
    ``gpu_layers`` of its layers (output included) on the GPU. ``parameters``: the
    model's parameter count when known (else taken from its bytes at ~4.5 bits each)."""
    per_token = bytes_per_token(shape, experts, expert_share)
    full = shape.n_layers + 1
    layers_on_gpu = min(max(gpu_layers, 0), full) if hardware.usable_gpus else 0
    gpu_share = layers_on_gpu / full
    cpu_bytes = per_token * (1 - gpu_share)
    bandwidth = cpu_bandwidth(threads)
    seconds = cpu_bytes / bandwidth + per_token * gpu_share / GPU_BANDWIDTH
    seconds += (full - layers_on_gpu) * CPU_SECONDS_PER_LAYER + layers_on_gpu * GPU_SECONDS_PER_LAYER
    decode = 1.0 / seconds

    if parameters > 0:
        active_params = parameters * per_token / shape.weights_bytes
    else:
        active_params = per_token * 8 / ASSUMED_BITS_PER_WEIGHT
    flops = 2.0 * active_params
    per_thread = CPU_FLOPS_PER_THREAD_AVX512 if hardware.has_avx512 else CPU_FLOPS_PER_THREAD
    cpu_flops = per_thread * max(1, batch_threads or threads)
    prompt_seconds = flops * (1 - gpu_share) / cpu_flops + flops * gpu_share / GPU_FLOPS
    prompt = max(1.0 / prompt_seconds, decode)
    return SpeedEstimate(decode, prompt, threads, layers_on_gpu, per_token, bandwidth)


def for_gguf(info: "GGUFInfo", shape: "ModelShape", hardware: "Hardware", threads: int,
             batch_threads: int | None = None, gpu_layers: int = 0) -> SpeedEstimate:
    """``estimate`` with the expert share read from the file's header."""
    return estimate(shape, hardware, threads, batch_threads, gpu_layers,
                    experts=expert_bytes(info), expert_share=active_fraction(info),
                    parameters=info.parameter_count)

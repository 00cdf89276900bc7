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
(GPU, ``README.md``: 611 tok/s fully offloaded). On a machine whose memory
read rate was probed (``Hardware.bandwidth``), the CPU figures scale with the
probe against that EPYC's; once replies have run here, the decode speed is
scaled by what they achieved against their own prediction (``calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_llm.machine.calibration import Correction, RunRecord, run_log

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
# What one thread of the reference EPYC read in bandwidth.py's probe (the median of
# its runs, quiet); a decode thread there streams CPU_BANDWIDTH_PER_THREAD of weights.
REFERENCE_READ_RATE = 23.5e9
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
    basis: str = "assumed"  # "assumed", "probe", or "calibrated from N runs"

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
            "basis": self.basis,
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


def cpu_bandwidth(threads: int, hardware: "Hardware | None" = None) -> float:
    """Bytes/s of weights ``threads`` decode threads stream: assumed, or scaled from the probe."""
    probe = hardware.bandwidth if hardware is not None else None
    if probe is None:
        return min(CPU_BANDWIDTH_PER_THREAD * max(1, threads), CPU_BANDWIDTH_CAP)
    share = CPU_BANDWIDTH_PER_THREAD / REFERENCE_READ_RATE
    return min(share * probe.one_thread * max(1, threads), max(probe.all_threads, share * probe.one_thread))


def cpu_seconds_per_layer(hardware: "Hardware") -> float:
    probe = hardware.bandwidth
    return CPU_SECONDS_PER_LAYER * (REFERENCE_READ_RATE / probe.one_thread if probe else 1.0)


def decode_seconds(per_token: int, n_layers: int, threads: int, layers_on_gpu: int,
                   hardware: "Hardware") -> float:
    """Seconds per decoded token before any correction from earlier runs."""
    full = n_layers + 1
    gpu_share = layers_on_gpu / full
    seconds = per_token * (1 - gpu_share) / cpu_bandwidth(threads, hardware)
    seconds += per_token * gpu_share / GPU_BANDWIDTH
    return seconds + (full - layers_on_gpu) * cpu_seconds_per_layer(hardware) + layers_on_gpu * GPU_SECONDS_PER_LAYER


def correction(hardware: "Hardware", on_gpu: bool) -> Correction:
    """What earlier replies on this machine achieved against their prediction; none for a
    machine that was not probed (a described one, in tests or for --vram-gb)."""
    if hardware.bandwidth is None:
        return Correction()
    from tui_llm import locations

    def predict(run: RunRecord) -> float:
        layers = min(run.gpu_layers, run.n_layers + 1)
        return 1.0 / decode_seconds(run.bytes_per_token, run.n_layers, run.threads, layers, hardware)

    return run_log(locations.cache_dir()).correction(hardware.identity, on_gpu, predict)


def estimate(
    shape: "ModelShape",
    hardware: "Hardware",
    threads: int,
    batch_threads: int | None = None,
    gpu_layers: int = 0,
    experts: int = 0,
    expert_share: float = 1.0,
    parameters: int = 0,
    active_parameters: int = 0,
) -> SpeedEstimate:
    """Decode and prompt tokens/s for ``shape`` with ``threads`` decode threads and
    ``gpu_layers`` of its layers (output included) on the GPU. ``parameters``: the
    model's parameter count when known (else taken from its bytes at ~4.5 bits each).
    ``active_parameters``: a mixture of experts known only by its totals (a catalog
    entry): a token reads that share of the weights."""
    per_token = bytes_per_token(shape, experts, expert_share)
    if 0 < active_parameters < parameters:
        per_token = max(int(per_token * active_parameters / parameters), 1)
    full = shape.n_layers + 1
    layers_on_gpu = min(max(gpu_layers, 0), full) if hardware.usable_gpus else 0
    gpu_share = layers_on_gpu / full
    decode = 1.0 / decode_seconds(per_token, shape.n_layers, threads, layers_on_gpu, hardware)
    basis = "probe" if hardware.bandwidth is not None else "assumed"
    corrected = correction(hardware, layers_on_gpu > 0)
    if corrected.runs:
        decode *= corrected.factor
        basis = f"calibrated from {corrected.runs} run{'s' if corrected.runs != 1 else ''}"

    if parameters > 0:
        active_params = parameters * per_token / shape.weights_bytes
    else:
        active_params = per_token * 8 / ASSUMED_BITS_PER_WEIGHT
    flops = 2.0 * active_params
    per_thread = CPU_FLOPS_PER_THREAD_AVX512 if hardware.has_avx512 else CPU_FLOPS_PER_THREAD
    cpu_flops = per_thread * max(1, batch_threads or threads)
    prompt_seconds = flops * (1 - gpu_share) / cpu_flops + flops * gpu_share / GPU_FLOPS
    prompt = max(1.0 / prompt_seconds, decode)
    return SpeedEstimate(decode, prompt, threads, layers_on_gpu, per_token,
                         cpu_bandwidth(threads, hardware), basis)


def for_gguf(info: "GGUFInfo", shape: "ModelShape", hardware: "Hardware", threads: int,
             batch_threads: int | None = None, gpu_layers: int = 0) -> SpeedEstimate:
    """``estimate`` with the expert share read from the file's header."""
    return estimate(shape, hardware, threads, batch_threads, gpu_layers,
                    experts=expert_bytes(info), expert_share=active_fraction(info),
                    parameters=info.parameter_count)


def gguf_bytes_per_token(info: "GGUFInfo", shape: "ModelShape") -> int:
    return bytes_per_token(shape, expert_bytes(info), active_fraction(info))


def record_run(path: Path, threads: int, gpu_layers: int, decode_tok_s: float, tokens: int) -> bool:
    """Keep a finished reply's decode speed for later predictions (``calibration``). Blocking
    (reads the header, writes the cache): call it off the event loop. False when skipped: a
    short reply, or a file whose header cannot be read."""
    from tui_llm import locations
    from tui_llm.machine.calibration import MIN_TOKENS
    from tui_llm.machine.hardware import probe
    from tui_llm.machine.shape import ModelShape
    from tui_llm.models.gguf import GGUFError, read_gguf

    if tokens < MIN_TOKENS or decode_tok_s <= 0:
        return False
    try:
        status = path.stat()
        key = (str(path), status.st_size, status.st_mtime_ns)
        if key not in _model_facts:
            info = read_gguf(path)
            shape = ModelShape.from_gguf(info)
            _model_facts[key] = (gguf_bytes_per_token(info, shape), shape.n_layers)
    except (GGUFError, OSError, ValueError):
        return False
    per_token, n_layers = _model_facts[key]
    if not _identity:
        _identity.append(probe(use_nvml=False, gpu_offload=False).identity)
    layers = n_layers + 1 if gpu_layers < 0 else min(gpu_layers, n_layers + 1)
    run_log(locations.cache_dir()).add(RunRecord(_identity[0], per_token, n_layers, max(1, threads), layers,
                                                 decode_tok_s))
    return True


# A model's bytes per token and layers by (path, size, mtime), and this machine's identity:
# read once per process, not after every reply.
_model_facts: dict[tuple[str, int, int], tuple[int, int]] = {}
_identity: list[str] = []

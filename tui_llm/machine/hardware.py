"""What this machine has: RAM, swap, CPU cores and features, NVIDIA GPUs.

``probe()`` never fails for want of a GPU: no NVML library, no NVIDIA driver
or an NVML error all give ``gpus=()`` and a ``gpu_note`` saying why. NVML is
injectable (any object with the pynvml functions used here) so the GPU paths
are testable on machines without one.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import psutil

GB = 1024**3
CPU_FEATURES = ("avx", "avx2", "avx512", "fma", "f16c", "neon", "sve")


@dataclass(frozen=True)
class GPU:
    name: str
    total_bytes: int
    free_bytes: int
    index: int = 0
    source: str = "nvml"  # "nvml", or "manual" for a --vram-gb / config override

    @property
    def used_bytes(self) -> int:
        return max(0, self.total_bytes - self.free_bytes)


@dataclass(frozen=True)
class Hardware:
    ram_total: int
    ram_available: int
    swap_total: int = 0
    swap_free: int = 0
    cores_physical: int = 1
    cores_logical: int = 1
    cpu_name: str = ""
    cpu_features: frozenset[str] = frozenset()
    gpus: tuple[GPU, ...] = ()
    gpu_note: str = ""
    machine: str = field(default_factory=platform.machine)
    # Whether the installed llama.cpp can offload to these GPUs (a CPU-only
    # build of llama-cpp-python cannot, whatever the card).
    gpu_offload: bool = True

    @property
    def usable_gpus(self) -> tuple[GPU, ...]:
        """The GPUs the fit engine may plan layers onto."""
        return self.gpus if self.gpu_offload else ()

    @property
    def ram_used(self) -> int:
        return max(0, self.ram_total - self.ram_available)

    @property
    def vram_total(self) -> int:
        return sum(g.total_bytes for g in self.gpus)

    @property
    def vram_free(self) -> int:
        return sum(g.free_bytes for g in self.gpus)

    @property
    def has_avx2(self) -> bool:
        return "avx2" in self.cpu_features

    @property
    def has_avx512(self) -> bool:
        return "avx512" in self.cpu_features

    @property
    def has_neon(self) -> bool:
        return "neon" in self.cpu_features

    def as_dict(self) -> dict[str, Any]:
        return {
            "ram_total_bytes": self.ram_total,
            "ram_available_bytes": self.ram_available,
            "swap_total_bytes": self.swap_total,
            "swap_free_bytes": self.swap_free,
            "cores_physical": self.cores_physical,
            "cores_logical": self.cores_logical,
            "cpu_name": self.cpu_name,
            "cpu_features": sorted(self.cpu_features),
            "machine": self.machine,
            "gpus": [
                {"index": g.index, "name": g.name, "total_bytes": g.total_bytes,
                 "free_bytes": g.free_bytes, "source": g.source}
                for g in self.gpus
            ],
            "gpu_note": self.gpu_note,
            "gpu_offload": self.gpu_offload,
            "tier": tier_summary(self),
        }


# --- CPU ----------------------------------------------------------------------------


def cpu_features_from_cpuinfo(text: str, machine: str = "") -> frozenset[str]:
    """The features llama.cpp cares about, from /proc/cpuinfo text."""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in {"flags", "features"}:
            flags.update(value.split())
    found = {name for name in ("avx", "avx2", "fma", "f16c", "sve") if name in flags}
    if any(flag.startswith("avx512") for flag in flags):
        found.add("avx512")
    if "asimd" in flags or "neon" in flags or machine.lower() in {"arm64", "aarch64"}:
        found.add("neon")
    return frozenset(found)


def _cpu_info() -> tuple[str, frozenset[str]]:
    machine = platform.machine()
    text = ""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    name = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"model name", "Hardware", "Model"} and value.strip():
            name = value.strip()
            break
    return name or platform.processor() or machine, cpu_features_from_cpuinfo(text, machine)


# --- GPU ----------------------------------------------------------------------------


def _load_nvml() -> Any:
    import pynvml  # the nvidia-ml-py bindings; only loads libnvidia-ml when initialised

    return pynvml


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def probe_gpus(nvml: Any = None) -> tuple[tuple[GPU, ...], str]:
    """NVIDIA GPUs through NVML, and a note when there are none."""
    if nvml is None:
        try:
            nvml = _load_nvml()
        except Exception as exc:  # ImportError or a broken install
            return (), f"no NVIDIA GPU support available ({type(exc).__name__})"
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return (), f"no NVIDIA GPU found (NVML: {_text(exc) or type(exc).__name__})"
    gpus = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(GPU(
                name=_text(nvml.nvmlDeviceGetName(handle)),
                total_bytes=int(memory.total),
                free_bytes=int(memory.free),
                index=index,
            ))
    except Exception as exc:
        return tuple(gpus), f"NVML stopped answering: {_text(exc) or type(exc).__name__}"
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    return tuple(gpus), "" if gpus else "no NVIDIA GPU found"


@lru_cache(maxsize=1)
def engine_supports_gpu() -> bool:
    """Can the installed llama.cpp offload layers to a GPU? (Loads llama_cpp: ~0.3 s, once.)"""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


NO_OFFLOAD_NOTE = ("this llama-cpp-python build has no GPU support, so models run on the CPU; "
                   "reinstall it with CUDA (CMAKE_ARGS=\"-DGGML_CUDA=on\") to use the GPU")


def probe(
    nvml: Any = None,
    vram_override_gb: float | None = None,
    use_nvml: bool = True,
    gpu_offload: bool | None = None,
) -> Hardware:
    """Look at this machine. ``vram_override_gb`` stands in for GPUs NVML cannot see
    (0 means: ignore the GPUs, run on the CPU). ``gpu_offload=None`` asks the
    installed llama.cpp whether it can use a GPU, only when there is one."""
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    cpu_name, features = _cpu_info()
    if vram_override_gb is not None:
        if vram_override_gb < 0:
            raise ValueError("VRAM override must be 0 or more GB")
        size = int(vram_override_gb * GB)
        gpus = (GPU("GPU (VRAM set by hand)", size, size, 0, "manual"),) if size else ()
        note = f"VRAM set by hand to {vram_override_gb:g} GB" if size else "GPU use turned off by hand"
    elif use_nvml:
        gpus, note = probe_gpus(nvml)
    else:
        gpus, note = (), "GPU probing skipped"
    if gpu_offload is None:
        gpu_offload = engine_supports_gpu() if gpus else False
    if gpus and not gpu_offload:
        note = f"{note}; {NO_OFFLOAD_NOTE}" if note else NO_OFFLOAD_NOTE
    return Hardware(
        ram_total=int(memory.total),
        ram_available=int(memory.available),
        swap_total=int(swap.total),
        swap_free=int(swap.free),
        cores_physical=int(physical),
        cores_logical=int(logical),
        cpu_name=cpu_name,
        cpu_features=features,
        gpus=gpus,
        gpu_note=note,
        gpu_offload=gpu_offload,
    )


def vram_override_from_config(config: Any) -> float | None:
    """``[hardware] vram_gb = N`` in config.toml, for GPUs NVML cannot see.

    Raises ValueError with a readable message when the value is not a number >= 0.
    """
    table = getattr(config, "extra", {}).get("hardware", {})
    if not isinstance(table, dict) or "vram_gb" not in table:
        return None
    value = table["vram_gb"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"[hardware] vram_gb must be a number of GB, 0 or more (got {value!r})")
    return float(value)


def probe_with_config(
    config: Any, vram_gb: float | None = None, nvml: Any = None, gpu_offload: bool | None = None
) -> Hardware:
    """Probe, honouring ``vram_gb`` (e.g. from --vram-gb) first, then the config's override.
    A bad config value is ignored here; the caller reports it through ``config.problems``."""
    if vram_gb is None:
        try:
            vram_gb = vram_override_from_config(config)
        except ValueError:
            vram_gb = None
    return probe(nvml=nvml, vram_override_gb=vram_gb, gpu_offload=gpu_offload)


def auto_gpu_layers(path: Path, settings: Any, machine: Hardware | None = None) -> int:
    """GPU layers for loading ``path`` with ``settings`` (a LoadSettings) on this machine:
    as many as fit free VRAM with a margin, 0 without a GPU or when the file cannot be read."""
    from tui_llm.machine import fit
    from tui_llm.models import gguf as gguf_info

    if machine is None:
        from tui_llm import locations
        from tui_llm.config import load_config

        machine = probe_with_config(load_config(locations.config_file()))
    if not machine.usable_gpus:
        return 0
    try:
        shape = fit.ModelShape.from_gguf(gguf_info.read_gguf(path))
    except ValueError:  # GGUFError included; the loader reports the file itself
        return 0
    return fit.suggest_gpu_layers(
        shape, machine, settings.n_ctx, settings.kv_cache_type, settings.n_ubatch, settings.flash_attn
    )


# --- in words -----------------------------------------------------------------------

_TIERS_GB = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
_SIZES_B = (0.5, 1, 1.5, 3, 4, 7, 8, 12, 14, 24, 32, 70, 123, 405)
Q4_K_M_BYTES_PER_PARAM = 0.61  # ~4.85 bits per weight


def _tier_gb(size: int) -> int:
    """The usual memory size nearest to ``size`` (machines and cards come in GiB)."""
    gib = size / GB
    return min(_TIERS_GB, key=lambda tier: abs(tier - gib))


def _size_label(billions: float) -> str:
    return f"{billions:g}B"


def tier_summary(hardware: Hardware) -> str:
    """One line: the memory tier and the biggest common model that fits it at Q4_K_M."""
    from tui_llm.machine.fit import ModelShape, max_context

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
    tier = f"about {_tier_gb(size)} GB tier ({hardware_line(pool)} {where})"
    if best is None:
        return f"{tier}: only very small models (under 0.5B) fit; expect short contexts"
    billions, ctx = best
    ctx_k = max(k for k in (4, 8, 16, 32) if k * 1024 <= ctx)
    return f"{tier}: {_size_label(billions)} models at Q4_K_M fit with {ctx_k}k context"


@dataclass(frozen=True)
class SizeFit:
    """How a common model size at Q4_K_M fares on a machine."""

    billions: float
    file_bytes: int
    verdict: Any  # fit.FitVerdict

    @property
    def label(self) -> str:
        return _size_label(self.billions)


def size_fits(hardware: Hardware, n_ctx: int = 4096) -> list[SizeFit]:
    """Verdicts for the usual model sizes at Q4_K_M and ``n_ctx`` tokens of context."""
    from tui_llm.machine.fit import ModelShape, verdict

    rows = []
    for billions in _SIZES_B:
        params = int(billions * 1e9)
        size = int(params * Q4_K_M_BYTES_PER_PARAM)
        shape = ModelShape.approximate(params, size, n_ctx_train=32768)
        rows.append(SizeFit(billions, size, verdict(shape, hardware, n_ctx=n_ctx)))
    return rows


def _fits_fully_on_gpu(shape: Any, hardware: Hardware) -> int:
    from tui_llm.machine.fit import max_context

    return max_context(shape, hardware, gpu_layers=shape.n_layers + 1, limit=32768)


def hardware_line(size: int) -> str:
    return f"{size / 1e9:.1f} GB"

"""What this machine has: RAM, swap, CPU cores and features, NVIDIA GPUs.

``probe()`` never fails for want of a GPU: no NVML library, no NVIDIA driver
or an NVML error all give ``gpus=()`` and a ``gpu_note`` saying why. NVML is
injectable (any object with the pynvml functions used here) so the GPU paths
are testable on machines without one.
"""

from __future__ import annotations

import os
import platform
import threading
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import psutil

from tui_llm.machine import bandwidth
from tui_llm.machine.bandwidth import Bandwidth
from tui_llm.units import GIB

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
    # Measured memory read rate (probe(measure_bandwidth=True)); None: the speed model assumes one.
    bandwidth: Bandwidth | None = None

    @property
    def identity(self) -> str:
        """Which machine this is, for figures measured on it: the CPU and its cores."""
        return f"{self.cpu_name or 'unknown CPU'} ({self.cores_physical} cores, {self.cores_logical} threads)"

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
            "memory_bandwidth": self.bandwidth.as_dict() if self.bandwidth else None,
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


# Where a loaded NVIDIA driver shows itself on Linux (native, containers, WSL).
# With none of them NVML cannot answer, so the ~20 ms of loading it are saved.
_NVIDIA_DRIVER_SIGNS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")


def _nvidia_driver_present() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(sign) for sign in _NVIDIA_DRIVER_SIGNS)


def _load_nvml() -> Any:
    import pynvml  # the nvidia-ml-py bindings; only loads libnvidia-ml when initialised

    return pynvml


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def probe_gpus(nvml: Any = None) -> tuple[tuple[GPU, ...], str]:
    """NVIDIA GPUs through NVML, and a note when there are none."""
    if nvml is None:
        if not _nvidia_driver_present():
            return (), "no NVIDIA GPU found (no NVIDIA driver loaded)"
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


NO_OFFLOAD_NOTE = ("this llama-cpp-python build has no GPU support, so models run on the CPU; "
                   "reinstall it with CUDA (CMAKE_ARGS=\"-DGGML_CUDA=on\") to use the GPU")


def probe(
    nvml: Any = None,
    vram_override_gb: float | None = None,
    use_nvml: bool = True,
    gpu_offload: bool | None = None,
    measure_bandwidth: bool = False,
) -> Hardware:
    """Look at this machine. ``vram_override_gb`` stands in for GPUs NVML cannot see
    (0 means: ignore the GPUs, run on the CPU). ``gpu_offload=None`` asks the
    installed llama.cpp whether it can use a GPU, only when there is one.
    ``measure_bandwidth``: also the memory read rate for speed estimates (probed
    once per CPU and thread count, then read from the cache dir)."""
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    cpu_name, features = _cpu_info()
    if vram_override_gb is not None:
        if vram_override_gb < 0:
            raise ValueError("VRAM override must be 0 or more GB")
        size = int(vram_override_gb * GIB)
        gpus = (GPU("GPU (VRAM set by hand)", size, size, 0, "manual"),) if size else ()
        note = f"VRAM set by hand to {vram_override_gb:g} GB" if size else "GPU use turned off by hand"
    elif use_nvml:
        gpus, note = probe_gpus(nvml)
    else:
        gpus, note = (), "GPU probing skipped"
    if gpu_offload is None:
        from tui_llm.engine import llama  # loads llama_cpp: only when there is a GPU to ask about

        gpu_offload = llama.supports_gpu_offload() if gpus else False
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
        bandwidth=_bandwidth(cpu_name, physical) if measure_bandwidth else None,
    )


def _bandwidth(cpu_name: str, physical: int) -> Bandwidth | None:
    from tui_llm import locations

    try:
        return bandwidth.probed(cpu_name, physical, locations.cache_dir())
    except ImportError:  # no numpy to time the reads with: the speed model assumes a rate
        return None


class ProbedOnce:
    """This machine, probed when first asked for and then kept, for every thread that asks.

    Callers on other threads wait for the one probe in progress instead of
    starting their own; ``again()`` probes anew (free memory changes).
    """

    def __init__(self, probe_machine: Callable[[], Hardware], known: Hardware | None = None) -> None:
        self._probe = probe_machine
        self._known = known
        self._lock = threading.Lock()

    @property
    def known(self) -> Hardware | None:
        """The last probe's result without waiting; None before the first one ends."""
        return self._known

    def get(self) -> Hardware:
        """Blocks while probing: call it from a thread, never on the event loop."""
        with self._lock:
            if self._known is None:
                self._known = self._probe()
            return self._known

    def again(self) -> Hardware:
        with self._lock:
            self._known = self._probe()
            return self._known

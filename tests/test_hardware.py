"""The hardware probe with a fake NVML (no GPU, one, two, broken), overrides, and in words."""

from __future__ import annotations

import pytest

from tui_llm import locations
from tui_llm.config import load_config, save_config
from tui_llm.engine import llama
from tui_llm.machine import fit, hardware, tier
from tui_llm.machine.hardware import GPU, Hardware
from tui_llm.machine.shape import ModelShape

GIB = 1024**3


class FakeMemory:
    def __init__(self, total: int, free: int) -> None:
        self.total, self.free, self.used = total, free, total - free


class FakeNVMLError(Exception):
    pass


class FakeNVML:
    """The pynvml functions the probe calls, over a list of (name, total, free)."""

    def __init__(self, cards, fail_init: bool = False, fail_at: int | None = None) -> None:
        self.cards = cards
        self.fail_init = fail_init
        self.fail_at = fail_at
        self.initialised = False
        self.shut_down = False

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise FakeNVMLError("Driver Not Loaded")
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shut_down = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index == self.fail_at:
            raise FakeNVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(self, handle: int):
        return self.cards[handle][0]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> FakeMemory:
        _, total, free = self.cards[handle]
        return FakeMemory(total, free)


def test_one_gpu():
    nvml = FakeNVML([(b"NVIDIA GeForce RTX 3060", 12 * GIB, 11 * GIB)])
    machine = hardware.probe(nvml=nvml, gpu_offload=True)
    assert machine.gpus == (GPU("NVIDIA GeForce RTX 3060", 12 * GIB, 11 * GIB, 0, "nvml"),)
    assert machine.vram_total == 12 * GIB and machine.vram_free == 11 * GIB
    assert machine.gpus[0].used_bytes == GIB
    assert nvml.shut_down and machine.gpu_note == ""


def test_two_gpus():
    nvml = FakeNVML([("RTX 4090", 24 * GIB, 23 * GIB), ("RTX 3060", 12 * GIB, 2 * GIB)])
    machine = hardware.probe(nvml=nvml, gpu_offload=True)
    assert [g.name for g in machine.gpus] == ["RTX 4090", "RTX 3060"]
    assert [g.index for g in machine.gpus] == [0, 1]
    assert machine.vram_free == 25 * GIB


def test_no_driver_is_no_gpu_not_a_crash():
    nvml = FakeNVML([], fail_init=True)
    machine = hardware.probe(nvml=nvml)
    assert machine.gpus == ()
    assert "Driver Not Loaded" in machine.gpu_note
    assert machine.ram_total > 0


def test_nvml_missing_is_no_gpu(monkeypatch):
    def missing():
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(hardware, "_nvidia_driver_present", lambda: True)
    monkeypatch.setattr(hardware, "_load_nvml", missing)
    machine = hardware.probe()
    assert machine.gpus == () and "ImportError" in machine.gpu_note


def test_without_an_nvidia_driver_nvml_is_not_loaded(monkeypatch):
    def never():
        raise AssertionError("NVML loaded without a driver to talk to")

    monkeypatch.setattr(hardware, "_NVIDIA_DRIVER_SIGNS", ("/nonexistent/nvidia",))
    monkeypatch.setattr(hardware.sys, "platform", "linux")
    monkeypatch.setattr(hardware, "_load_nvml", never)
    machine = hardware.probe()
    assert machine.gpus == () and machine.gpu_note == "no NVIDIA GPU found (no NVIDIA driver loaded)"


def test_a_driver_sign_means_asking_nvml(monkeypatch, tmp_path):
    asked = []

    def missing():
        asked.append(True)
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(hardware, "_NVIDIA_DRIVER_SIGNS", ("/nonexistent/nvidia", str(tmp_path)))
    monkeypatch.setattr(hardware, "_load_nvml", missing)
    hardware.probe()
    assert asked


def test_nvml_failing_midway_keeps_what_it_saw():
    nvml = FakeNVML([("A", 8 * GIB, 8 * GIB), ("B", 8 * GIB, 8 * GIB)], fail_at=1)
    machine = hardware.probe(nvml=nvml)
    assert [g.name for g in machine.gpus] == ["A"]
    assert "GPU is lost" in machine.gpu_note and nvml.shut_down


def test_a_cpu_only_llama_cpp_cannot_use_the_gpu():
    nvml = FakeNVML([("RTX 4090", 24 * GIB, 23 * GIB)])
    machine = hardware.probe(nvml=nvml, gpu_offload=False)
    assert machine.gpus and machine.usable_gpus == ()
    assert "no GPU support" in machine.gpu_note and "CUDA" in machine.gpu_note
    shape = ModelShape.approximate(7_000_000_000, 4_300_000_000)
    judged = fit.verdict(shape, machine, n_ctx=4096)
    assert judged.kind == "fits in RAM" and judged.gpu_layers == 0
    assert "free RAM" in tier.tier_summary(machine)


def test_the_engine_is_asked_whether_it_can_offload():
    import llama_cpp

    assert llama.supports_gpu_offload() == bool(llama_cpp.llama_supports_gpu_offload())
    machine = hardware.probe(nvml=FakeNVML([("RTX", 8 * GIB, 8 * GIB)]))
    assert machine.gpu_offload == llama.supports_gpu_offload()


def test_zero_gpus_reported():
    machine = hardware.probe(nvml=FakeNVML([]))
    assert machine.gpus == () and machine.gpu_note == "no NVIDIA GPU found"


def test_the_real_machine():
    machine = hardware.probe()
    assert 0 < machine.ram_available <= machine.ram_total
    assert machine.cores_physical >= 1 and machine.cores_logical >= machine.cores_physical
    assert machine.swap_free <= machine.swap_total
    data = machine.as_dict()
    assert data["ram_total_bytes"] == machine.ram_total and data["gpu_offload"] == machine.gpu_offload


def test_manual_vram_override():
    machine = hardware.probe(nvml=FakeNVML([], fail_init=True), vram_override_gb=6, gpu_offload=True)
    assert machine.gpus == (GPU("GPU (VRAM set by hand)", 6 * GIB, 6 * GIB, 0, "manual"),)
    # It replaces what NVML sees; 0 turns GPUs off.
    nvml = FakeNVML([("RTX", 24 * GIB, 24 * GIB)])
    assert hardware.probe(nvml=nvml, vram_override_gb=0).gpus == ()
    assert not nvml.initialised
    with pytest.raises(ValueError):
        hardware.probe(vram_override_gb=-1)


def test_override_from_the_config_file():
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[hardware]\nvram_gb = 8\n", encoding="utf-8")
    config = load_config(path)
    assert config.vram_gb == 8.0 and not config.problems
    machine = hardware.probe(nvml=FakeNVML([]), vram_override_gb=config.vram_gb, gpu_offload=True)
    assert machine.gpus[0].total_bytes == 8 * GIB and machine.gpus[0].source == "manual"
    save_config(config, path)
    assert load_config(path).vram_gb == 8.0
    for bad in ('"lots"', "-2", "true"):
        path.write_text(f"[paths]\n\n[hardware]\nvram_gb = {bad}\n", encoding="utf-8")
        broken = load_config(path)
        assert broken.vram_gb is None
        assert len(broken.problems) == 1 and "line 4" in broken.problems[0] and "vram_gb" in broken.problems[0]


def test_cpu_features_from_cpuinfo():
    x86 = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw\n"
    assert hardware.cpu_features_from_cpuinfo(x86, "x86_64") == {"avx", "avx2", "fma", "f16c", "avx512"}
    old = "flags\t\t: fpu sse2 sse4_2\n"
    assert hardware.cpu_features_from_cpuinfo(old, "x86_64") == frozenset()
    arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve\n"
    assert hardware.cpu_features_from_cpuinfo(arm, "aarch64") == {"neon", "sve"}
    assert "neon" in hardware.cpu_features_from_cpuinfo("", "arm64")  # macOS: no cpuinfo
    machine = Hardware(ram_total=GIB, ram_available=GIB, cpu_features=frozenset({"avx2"}))
    assert machine.has_avx2 and not machine.has_avx512 and not machine.has_neon


def test_tier_summary_in_words():
    gpu8 = Hardware(ram_total=16 * GIB, ram_available=12 * GIB, gpus=(GPU("RTX", 8 * GIB, int(7.5 * GIB)),))
    words = tier.tier_summary(gpu8)
    assert words.startswith("about 8 GB tier") and "free VRAM" in words
    assert "8B models at Q4_K_M fit with" in words or "7B models at Q4_K_M fit with" in words
    ram16 = Hardware(ram_total=16 * GIB, ram_available=13 * GIB)
    words = tier.tier_summary(ram16)
    assert words.startswith("about 16 GB tier") and "free RAM" in words
    assert "14B models at Q4_K_M" in words or "12B models at Q4_K_M" in words
    tiny = Hardware(ram_total=GIB, ram_available=GIB // 4)
    assert "only very small models" in tier.tier_summary(tiny)


def test_size_fits_for_each_common_size():
    rows = tier.size_fits(Hardware(ram_total=16 * GIB, ram_available=13 * GIB))
    kinds = {row.label: row.verdict.kind for row in rows}
    assert kinds["1B"] == "fits in RAM" and kinds["70B"] == "too large"
    assert [row.billions for row in rows] == sorted(row.billions for row in rows)

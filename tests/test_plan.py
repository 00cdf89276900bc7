"""Load planning: GPU layers, threads and the template choice, decided once before loading."""

from __future__ import annotations

import threading
from pathlib import Path

from tui_llm.config import AppConfig, ModelOverrides
from tui_llm.engine.load_settings import LoadSettings, decode_threads
from tui_llm.machine.hardware import GPU, Hardware, ProbedOnce
from tui_llm.machine.plan import plan_for_file, plan_load
from tui_llm.machine.shape import read_shape

GIB = 1024**3
BIG = Hardware(ram_total=32 * GIB, ram_available=30 * GIB, cores_physical=8, cores_logical=16,
               gpus=(GPU("RTX", 24 * GIB, 23 * GIB),))
SMALL_GPU = Hardware(ram_total=32 * GIB, ram_available=30 * GIB, gpus=(GPU("tiny", 2 * GIB, int(1.6 * GIB)),))
NO_GPU = Hardware(ram_total=32 * GIB, ram_available=30 * GIB, cores_physical=2, cores_logical=2)


def test_gpu_layers_are_as_many_as_fit(model_path, tmp_path):
    shape = read_shape(model_path)
    settings = LoadSettings(n_ctx=2048)
    assert plan_load(shape, settings, BIG).settings.n_gpu_layers == 31  # 30 layers + output
    assert 0 < plan_load(shape, settings.with_changes(n_ctx=8192), SMALL_GPU).settings.n_gpu_layers < 31
    assert plan_load(shape, settings, NO_GPU).settings.n_gpu_layers == 0
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    assert read_shape(junk) is None
    assert plan_load(None, settings, BIG).settings.n_gpu_layers == 0
    # A CPU-only llama.cpp build cannot use the card.
    cpu_build = Hardware(ram_total=32 * GIB, ram_available=30 * GIB, gpus=BIG.gpus, gpu_offload=False)
    assert plan_load(shape, settings, cpu_build).settings.n_gpu_layers == 0


def test_chosen_values_are_kept_and_auto_threads_follow_the_machine(model_path):
    shape = read_shape(model_path)
    chosen = plan_load(shape, LoadSettings(n_gpu_layers=5, n_threads=3), BIG).settings
    assert (chosen.n_gpu_layers, chosen.n_threads, chosen.n_threads_batch) == (5, 3, 3)
    auto = plan_load(shape, LoadSettings(), BIG).settings
    assert (auto.n_threads, auto.n_threads_batch) == (8, 8) == (decode_threads(8, 16), 8)
    two_cores = plan_load(shape, LoadSettings(), NO_GPU).settings
    assert (two_cores.n_threads, two_cores.n_threads_batch) == (1, 2)  # one CPU left to the app


def test_a_headless_run_decodes_on_every_physical_core(model_path):
    shape = read_shape(model_path)
    assert plan_load(shape, LoadSettings(), NO_GPU, headless=True).settings.n_threads == 2
    assert plan_load(shape, LoadSettings(), BIG, headless=True).settings.n_threads == 8
    chosen = plan_load(shape, LoadSettings(n_threads=1), NO_GPU, headless=True).settings
    assert chosen.n_threads == 1
    config = AppConfig(load=LoadSettings(n_threads=1))
    assert plan_for_file(config, model_path, NO_GPU, headless=True).settings.n_threads == 1


def test_the_plan_for_a_file_takes_its_settings_and_template_from_the_config(model_path):
    config = AppConfig()
    config.set_overrides(model_path, ModelOverrides(template="vicuna", n_ctx=1024))
    plan = plan_for_file(config, model_path, BIG)
    assert plan.template == "vicuna" and plan.settings.n_ctx == 1024 and plan.settings.n_gpu_layers == 31
    assert plan_for_file(config, model_path, BIG, n_ctx=512).settings.n_ctx == 512
    other = plan_for_file(config, Path("elsewhere.gguf"), BIG)
    assert other.template is None and other.settings.n_ctx == 4096 and other.settings.n_gpu_layers == 0


def test_the_machine_is_probed_once_for_every_thread_that_asks():
    calls: list[int] = []
    started, release = threading.Event(), threading.Event()

    def slow_probe() -> Hardware:
        calls.append(1)
        started.set()
        release.wait(5)
        return NO_GPU

    machine = ProbedOnce(slow_probe)
    assert machine.known is None
    seen: list[Hardware] = []
    threads = [threading.Thread(target=lambda: seen.append(machine.get())) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert calls == [1] and seen == [NO_GPU] * 4 and machine.known is NO_GPU
    assert machine.again() is NO_GPU and calls == [1, 1]
    given = ProbedOnce(slow_probe, BIG)
    assert given.get() is BIG and calls == [1, 1]

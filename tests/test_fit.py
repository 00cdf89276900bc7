"""The fit engine: estimates against llama.cpp's own figures, the GPU split, verdicts."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
from gguf_writer import gguf_bytes, llama_like

from tui_llm.machine import fit
from tui_llm.models.gguf import read_gguf
from tui_llm.machine.hardware import GPU, Hardware

GIB = 1024**3
MIB = 1024**2
BENCH = Path(__file__).resolve().parent.parent / "bench" / "fit_accuracy.py"


def machine(ram_gb: float = 16, gpus: tuple[float, ...] = ()) -> Hardware:
    return Hardware(
        ram_total=int(ram_gb * 1.25 * GIB), ram_available=int(ram_gb * GIB),
        gpus=tuple(GPU(f"GPU {i}", int(gb * 1.05 * GIB), int(gb * GIB), i) for i, gb in enumerate(gpus)),
    )


@pytest.fixture(scope="module")
def smol(model_path) -> fit.ModelShape:
    return fit.ModelShape.from_gguf(read_gguf(model_path))


def seven_b() -> fit.ModelShape:
    return fit.ModelShape.approximate(7_240_000_000, 4_370_000_000, n_ctx_train=32768,
                                      n_layers=32, n_embd=4096, n_head=32, n_head_kv=8)


# --- the shape --------------------------------------------------------------------


def test_shape_of_the_real_model(smol, model_path):
    info = read_gguf(model_path)
    assert (smol.n_layers, smol.n_embd, smol.n_head, smol.n_head_kv) == (30, 576, 9, 3)
    assert smol.input_bytes == info.tensor_bytes["token_embd.weight"]
    # SmolLM2 ties its output head to the token embedding.
    assert smol.tied_bytes == smol.input_bytes
    assert smol.output_bytes == info.tensor_bytes["output_norm.weight"]
    assert smol.input_bytes + sum(smol.layer_bytes) + smol.output_bytes == info.weights_bytes
    assert len(set(smol.layer_bytes)) == 1
    assert smol.n_merges == 48900 and smol.exact


def test_kv_cache_matches_the_sizes_llama_cpp_reports(smol):
    # llama.cpp logs "KV buffer size = 11.25 / 45.00 / 180.00 MiB" for this model.
    for n_ctx, mib in ((512, 11.25), (2048, 45.0), (8192, 180.0)):
        assert fit.estimate(smol, n_ctx).ram.kv == mib * MIB
    assert fit.estimate(smol, 8192, kv_type="q8_0").ram.kv == 180 * MIB * 34 // 64
    assert fit.estimate(smol, 8192, kv_type="q4_0").ram.kv == 180 * MIB * 18 // 64
    # Cells are allocated in blocks of 256.
    assert fit.estimate(smol, 300).ram.kv == fit.estimate(smol, 512).ram.kv


def test_estimate_agrees_with_the_real_engine(smol, model_path):
    """Load the test model with llama.cpp in a subprocess, fill its context and compare."""
    spec = importlib.util.spec_from_file_location("fit_accuracy", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    got = bench.measure(model_path, 1024)
    assert got["filled"] == 1023
    guess = fit.estimate(smol, 1024)
    assert guess.ram.kv == got["kv_logged"]
    needed = got["peak"] - got["before"] - got["repacked"]
    assert abs(guess.ram_bytes - needed) / needed < 0.10, (guess.ram.as_dict(), needed)


def test_missing_keys_are_a_clear_error(tmp_path):
    meta, tensors = llama_like(drop=("{arch}.embedding_length",))
    path = tmp_path / "nokeys.gguf"
    path.write_bytes(gguf_bytes(meta, tensors))
    with pytest.raises(ValueError, match="embedding_length"):
        fit.ModelShape.from_gguf(read_gguf(path))


def test_approximate_shapes_are_plausible(smol):
    guess = fit.ModelShape.approximate(7_000_000_000, 4_300_000_000, n_ctx_train=32768)
    assert 28 <= guess.n_layers <= 36 and 3584 <= guess.n_embd <= 4608
    assert not guess.exact
    assert guess.input_bytes + sum(guess.layer_bytes) + guess.output_bytes <= guess.weights_bytes
    # Built from the size alone, the test model's estimate stays near the real one.
    rough = fit.ModelShape.approximate(134_515_008, smol.weights_bytes, n_ctx_train=8192, n_vocab=49152)
    real = fit.estimate(smol, 4096).ram_bytes
    assert 0.5 < fit.estimate(rough, 4096).ram_bytes / real < 2.0
    with pytest.raises(ValueError):
        fit.ModelShape.approximate(0, 100)


# --- where things go ----------------------------------------------------------------


def test_the_output_layer_counts_inside_gpu_layers(smol):
    full = smol.n_layers + 1
    cpu = fit.estimate(smol, 2048, gpu_layers=0)
    assert cpu.vram_bytes == 0 and cpu.gpu_layers == 0
    assert cpu.ram.weights == smol.weights_bytes

    one = fit.estimate(smol, 2048, gpu_layers=1)  # only the output layer
    assert one.vram.weights == smol.output_bytes + smol.tied_bytes
    assert one.vram.kv == 0 and one.ram.kv == cpu.ram.kv

    two = fit.estimate(smol, 2048, gpu_layers=2)  # output + the last repeating layer
    assert two.vram.kv == cpu.ram.kv // smol.n_layers
    assert two.vram.weights == one.vram.weights + smol.layer_bytes[-1]

    every = fit.estimate(smol, 2048, gpu_layers=full)
    assert every.ram.weights == smol.input_bytes  # the token embedding stays in RAM
    assert every.ram.kv == 0 and every.vram.kv == cpu.ram.kv
    assert fit.estimate(smol, 2048, gpu_layers=-1) == every
    assert fit.estimate(smol, 2048, gpu_layers=500) == every


def test_more_gpu_layers_move_memory_from_ram_to_vram():
    shape = seven_b()
    previous = None
    for layers in range(0, shape.n_layers + 2):
        now = fit.estimate(shape, 4096, gpu_layers=layers)
        if previous is not None:
            assert now.vram_bytes >= previous.vram_bytes
            assert now.ram.weights + now.ram.kv <= previous.ram.weights + previous.ram.kv
        previous = now


def test_context_grows_kv_and_compute_and_flash_attention_saves():
    shape = seven_b()
    small, large = fit.estimate(shape, 2048), fit.estimate(shape, 16384)
    assert large.ram.kv == 8 * small.ram.kv
    assert large.ram.compute > small.ram.compute
    assert fit.estimate(shape, 16384, flash_attn=True).ram.compute < large.ram.compute
    with pytest.raises(ValueError):
        fit.estimate(shape, 0)
    with pytest.raises(ValueError, match="KV cache type"):
        fit.estimate(shape, 2048, kv_type="q3_weird")


def test_sliding_window_layers_keep_a_short_cache_when_asked():
    base = seven_b()
    swa = dataclasses.replace(base, sliding_window=1024,
                              swa_layers=tuple(il % 2 == 0 for il in range(base.n_layers)))
    full = fit.estimate(swa, 32768)
    short = fit.estimate(swa, 32768, swa_full=False)
    per_layer = full.ram.kv // base.n_layers
    # Half the layers keep 1024 + 512 cells instead of 32768.
    assert short.ram.kv == per_layer * 16 + per_layer * 16 * 1536 // 32768
    assert full.ram.kv == fit.estimate(base, 32768).ram.kv


# --- against a machine ----------------------------------------------------------------


def test_suggested_gpu_layers():
    shape = seven_b()
    full = shape.n_layers + 1
    assert fit.suggest_gpu_layers(shape, machine(32), 4096) == 0  # no GPU
    assert fit.suggest_gpu_layers(shape, machine(32, (24,)), 4096) == full
    some = fit.suggest_gpu_layers(shape, machine(32, (4,)), 4096)
    assert 0 < some < full
    budget = 4 * GIB - fit.GPU_SAFETY_MARGIN
    assert fit.estimate(shape, 4096, some).vram_bytes <= budget < fit.estimate(shape, 4096, some + 1).vram_bytes
    # A longer context leaves room for fewer layers; two cards hold more than one.
    assert fit.suggest_gpu_layers(shape, machine(32, (4,)), 32768) < some
    assert fit.suggest_gpu_layers(shape, machine(32, (4, 4)), 4096) > some


def test_max_context():
    shape = seven_b()
    assert fit.max_context(shape, machine(64, (24,))) == shape.n_ctx_train
    assert fit.max_context(shape, machine(2)) == 0
    middle = fit.max_context(shape, machine(6))
    assert 0 < middle < shape.n_ctx_train and middle % 256 == 0
    budget = int(6 * GIB * (1 - fit.RAM_SAFETY_FRACTION))
    assert fit.estimate(shape, middle).ram_bytes <= budget < fit.estimate(shape, middle + 256).ram_bytes


def test_the_five_verdicts():
    shape = seven_b()
    on_gpu = fit.verdict(shape, machine(32, (24,)), n_ctx=4096)
    assert on_gpu.kind == "fits on GPU" and on_gpu.gpu_layers == shape.n_layers + 1
    partial = fit.verdict(shape, machine(32, (4,)), n_ctx=4096)
    assert partial.kind == "partial offload" and 0 < partial.gpu_layers <= shape.n_layers
    in_ram = fit.verdict(shape, machine(32), n_ctx=4096)
    assert in_ram.kind == "fits in RAM" and in_ram.gpu_layers == 0
    need = fit.estimate(shape, 4096).ram_bytes
    tight_machine = Hardware(ram_total=2 * need, ram_available=int(need / 0.85))
    tight = fit.verdict(shape, tight_machine, n_ctx=4096)
    assert tight.kind == "tight" and "close other programs" in tight.explanation
    too_big = fit.verdict(shape, machine(4), n_ctx=4096)
    assert too_big.kind == "too large" and not too_big.fits
    assert "RAM" in too_big.explanation and "only 4.0 GB is available" in too_big.explanation
    for judged in (on_gpu, partial, in_ram, tight, too_big):
        data = judged.as_dict()
        assert data["verdict"] == judged.kind and data["ram_bytes"] == judged.estimate.ram_bytes
        assert data["total_layers"] == shape.n_layers + 1
        assert judged.explanation


def test_an_explicit_split_is_judged_as_given():
    shape = seven_b()
    forced = fit.verdict(shape, machine(32, (4,)), n_ctx=4096, gpu_layers=-1)
    assert forced.kind == "too large" and "VRAM" in forced.explanation
    assert forced.suggested_gpu_layers < shape.n_layers + 1
    cpu_only = fit.verdict(shape, machine(32, (24,)), n_ctx=4096, gpu_layers=0)
    assert cpu_only.kind == "fits in RAM" and cpu_only.estimate.vram_bytes == 0
    # Asking for GPU layers on a machine without a GPU runs everything on the CPU.
    no_gpu = fit.verdict(shape, machine(32), n_ctx=4096, gpu_layers=10)
    assert no_gpu.kind == "fits in RAM" and no_gpu.gpu_layers == 0
    assert no_gpu.max_context == fit.max_context(shape, machine(32)) > 4096


def test_too_large_says_what_context_would_fit():
    shape = seven_b()
    hardware = machine(5.5)
    judged = fit.verdict(shape, hardware, n_ctx=32768)
    assert judged.kind == "too large"
    assert judged.max_context > 0 and f"{judged.max_context:,} tokens" in judged.explanation
    assert fit.verdict(shape, hardware, n_ctx=judged.max_context).fits

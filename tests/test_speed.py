"""The speed model: bandwidth-bound decode, compute-bound prompt reading."""

from __future__ import annotations

import pytest
from gguf_writer import gguf_bytes, llama_like

from tui_llm.machine import speed
from tui_llm.machine.hardware import GPU, Hardware
from tui_llm.machine.shape import ModelShape
from tui_llm.models.gguf import read_gguf, read_gguf_head

GIB = 1024**3


def cpu(cores: int = 2, features: frozenset[str] = frozenset()) -> Hardware:
    return Hardware(ram_total=16 * GIB, ram_available=12 * GIB, cores_physical=cores,
                    cores_logical=cores, cpu_features=features)


def with_gpu() -> Hardware:
    return Hardware(ram_total=16 * GIB, ram_available=12 * GIB, cores_physical=8, cores_logical=16,
                    gpus=(GPU("card", 24 * GIB, 23 * GIB),))


def seven_b() -> ModelShape:
    return ModelShape.approximate(7_240_000_000, 4_370_000_000, n_layers=32, n_embd=4096, n_head=32, n_head_kv=8)


def test_decode_is_bytes_over_bandwidth_plus_a_cost_per_layer():
    shape = seven_b()
    got = speed.estimate(shape, cpu(), threads=1)
    per_token = shape.weights_bytes - shape.input_bytes
    expected = 1 / (per_token / speed.CPU_BANDWIDTH_PER_THREAD + 33 * speed.CPU_SECONDS_PER_LAYER)
    assert got.bytes_per_token == per_token
    assert got.decode_tok_s == pytest.approx(expected)
    assert 1.5 < got.decode_tok_s < 3.5  # a 7B Q4 on one thread: a couple of tokens a second
    assert got.too_slow and got.label == f"~{got.decode_tok_s:.1f} tok/s"


def test_threads_help_until_the_memory_bus_is_full():
    shape = seven_b()
    rates = [speed.estimate(shape, cpu(64), threads=n).decode_tok_s for n in (1, 2, 3, 4, 16)]
    assert rates[0] < rates[1] < rates[2] < rates[3]
    assert rates[3] == pytest.approx(rates[4])  # 4 x 10 GB/s fills the 40 GB/s bus


def test_the_test_model_on_this_kind_of_machine_matches_what_was_measured(model_path):
    # README "Performance": 75-80 tok/s on one decode thread, 125 on two (2-core EPYC, quiet).
    info = read_gguf(model_path)
    shape = ModelShape.from_gguf(info)
    one = speed.for_gguf(info, shape, cpu(), threads=1)
    two = speed.for_gguf(info, shape, cpu(), threads=2)
    assert one.bytes_per_token == shape.weights_bytes  # tied embeddings: the head reads them all
    assert 75 * 0.75 < one.decode_tok_s < 78 * 1.25
    assert 125 * 0.75 < two.decode_tok_s < 125 * 1.25


def test_gpu_layers_are_read_at_gpu_bandwidth():
    shape = seven_b()
    none = speed.estimate(shape, with_gpu(), threads=7)
    half = speed.estimate(shape, with_gpu(), threads=7, gpu_layers=16)
    full = speed.estimate(shape, with_gpu(), threads=7, gpu_layers=33)
    assert none.decode_tok_s < half.decode_tok_s < full.decode_tok_s
    assert full.decode_tok_s > 50 and full.prompt_tok_s > 1000
    no_offload = speed.estimate(shape, cpu(8), threads=7, gpu_layers=33)
    assert no_offload.gpu_layers == 0 and no_offload.decode_tok_s == pytest.approx(none.decode_tok_s)


def test_prompt_reading_is_compute_bound_and_avx512_is_faster():
    shape = seven_b()
    plain = speed.estimate(shape, cpu(4), threads=1, batch_threads=4, parameters=7_240_000_000)
    wide = speed.estimate(shape, cpu(4, frozenset({"avx512"})), threads=1, batch_threads=4,
                          parameters=7_240_000_000)
    flops = 2 * 7_240_000_000 * plain.bytes_per_token / shape.weights_bytes
    assert plain.prompt_tok_s == pytest.approx(4 * speed.CPU_FLOPS_PER_THREAD / flops)
    assert wide.prompt_tok_s > plain.prompt_tok_s > plain.decode_tok_s


def test_mixture_of_experts_reads_only_the_experts_in_use():
    meta, tensors = llama_like(n_layers=2, n_embd=256, n_ff=512, extra={"llama.expert_count": 8,
                                                                         "llama.expert_used_count": 2})
    tensors += [(f"blk.{il}.ffn_up_exps.weight", (256, 512, 8), "F16") for il in range(2)]
    info = read_gguf_head(gguf_bytes(meta, tensors), "moe.gguf", 10**9)
    shape = ModelShape.from_gguf(info)
    experts = speed.expert_bytes(info)
    assert experts == 2 * 256 * 512 * 8 * 2 and speed.active_fraction(info) == 0.25
    moe = speed.for_gguf(info, shape, cpu(), threads=1)
    dense = speed.estimate(shape, cpu(), threads=1)
    assert moe.bytes_per_token == dense.bytes_per_token - experts * 3 // 4
    assert moe.decode_tok_s > dense.decode_tok_s


def test_fit_reports_the_speed(model_path, capsys):
    import json

    from tui_llm.cli import main

    assert main(["fit", str(model_path), "--json", "--vram-gb", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["speed"]["decode_tok_s"] > report["speed"]["threads"] * 10
    assert report["speed"]["prompt_tok_s"] >= report["speed"]["decode_tok_s"]
    assert report["speed"]["gpu_layers"] == 0 and report["speed"]["too_slow_for_chat"] is False
    assert main(["fit", str(model_path), "--vram-gb", "0"]) == 0
    assert "tok/s writing" in capsys.readouterr().out


def test_catalog_rows_say_fits_with_a_speed_or_too_slow():
    from tui_llm.machine.catalog_fit import CatalogView
    from tui_llm.models.catalog import load_catalog

    view = CatalogView(load_catalog(), cpu(2))
    rows = {row.entry.id: row for row in view.rows()}
    small, big = rows["smollm2-135m-instruct"].rung, rows["qwen2.5-7b-instruct"].rung
    assert small.fit_label.startswith("fits in RAM, ~") and small.fit_label.endswith(" tok/s")
    assert big.verdict.fits and big.fit_label.startswith("too slow, ~")
    assert rows["qwen2.5-7b-instruct"].as_dict()["speed"]["too_slow_for_chat"] is True
    roomy = CatalogView(load_catalog(), cpu(16)).rows(text="qwen2.5-7b")[0].rung
    assert roomy.speed.decode_tok_s > big.speed.decode_tok_s

"""``tui-llm hw`` and ``tui-llm fit`` through the real CLI, on the real model and on bad files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gguf_writer import gguf_bytes, llama_like, write_gguf

from tui_llm import locations
from tui_llm.cli import main
from tui_llm.machine.fit import VERDICTS


@pytest.fixture
def cuda_build(monkeypatch):
    """As if llama-cpp-python were built with CUDA: the GPU paths of the commands."""
    from tui_llm.engine import llama

    monkeypatch.setattr(llama, "supports_gpu_offload", lambda: True)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_llm", *args], capture_output=True, text=True, timeout=120)


def test_hw_prints_ram_cpu_gpu_and_words(capsys):
    assert main(["hw"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("RAM") and "available of" in lines[0]
    assert lines[1].startswith("CPU") and "cores" in lines[1]
    assert any(line.startswith("GPU") for line in lines)
    assert lines[-1].startswith("Fit   about") and "Q4_K_M" in lines[-1]


def test_hw_json_and_vram_override(capsys, cuda_build):
    assert main(["hw", "--json", "--vram-gb", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ram_total_bytes"] >= data["ram_available_bytes"] > 0
    assert data["gpus"] == [{"index": 0, "name": "GPU (VRAM set by hand)", "total_bytes": 8 * 1024**3,
                             "free_bytes": 8 * 1024**3, "source": "manual"}]
    assert data["tier"].startswith("about 8 GB tier")


def test_hw_reads_the_override_from_config(capsys, cuda_build):
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[hardware]\nvram_gb = 6\n", encoding="utf-8")
    assert main(["hw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gpus"][0]["total_bytes"] == 6 * 1024**3
    path.write_text("[hardware]\nvram_gb = \"plenty\"\n", encoding="utf-8")
    assert main(["hw"]) == 0
    reported = capsys.readouterr()
    assert "line 2" in reported.err and "vram_gb must be a number" in reported.err
    assert "GPU   none" in reported.out or "(set by hand)" not in reported.out


def test_fit_on_the_real_model(model_path, capsys):
    assert main(["fit", str(model_path), "--ctx", "2048"]) == 0
    out = capsys.readouterr().out
    assert "llama, Q4_1, 135M parameters, 31 layers (30 blocks + the output layer" in out
    assert "At 2,048 tokens (f16 KV cache)" in out
    assert "Verdict: " in out and "Largest context that fits" in out


@pytest.mark.parametrize("gpu_layers", [None, "10", "-1"])
def test_fit_counts_layers_one_way_output_layer_included(model_path, capsys, cuda_build, gpu_layers):
    """The model line, the split, the verdict and the speed line all count 31 for the test model."""
    import re

    extra = ["--gpu-layers", gpu_layers] if gpu_layers else []
    assert main(["fit", str(model_path), "--ctx", "2048", "--vram-gb", "8", *extra]) == 0
    out = capsys.readouterr().out
    counts = re.findall(r"(?:(\d+) of |all )?(\d+) (?:GPU )?layers", out)
    assert len(counts) >= 3 and {total for _, total in counts} == {"31"}, out
    on_gpu = {int(n) for n, _ in counts if n}
    assert on_gpu == ({10} if gpu_layers == "10" else {31})
    assert out.count("the output layer") == 1  # said once, on the model line


def test_fit_json_with_a_gpu_and_a_split(model_path, capsys, cuda_build):
    assert main(["fit", str(model_path), "--ctx", "4096", "--vram-gb", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "fits on GPU" and data["gpu_layers"] == data["suggested_gpu_layers"] == 31
    assert data["model"]["layers"] == 30 and data["model"]["quant"] == "Q4_1"
    assert data["vram_bytes"] == sum(v for k, v in data["breakdown"]["vram"].items() if k != "total")
    assert data["ram_bytes"] < data["vram_bytes"]

    assert main(["fit", str(model_path), "--ctx", "4096", "--vram-gb", "8", "--gpu-layers", "10", "--json"]) == 0
    split = json.loads(capsys.readouterr().out)
    assert split["verdict"] == "partial offload" and split["gpu_layers"] == 10
    assert split["ram_bytes"] > data["ram_bytes"]

    assert main(["fit", str(model_path), "--json"]) == 0  # the configured context: 4096
    plain = json.loads(capsys.readouterr().out)
    assert plain["n_ctx"] == 4096 and plain["verdict"] in VERDICTS


def test_fit_with_a_gpu_llama_cpp_cannot_use(model_path, capsys, monkeypatch):
    from tui_llm.engine import llama

    monkeypatch.setattr(llama, "supports_gpu_offload", lambda: False)
    assert main(["fit", str(model_path), "--vram-gb", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "fits in RAM" and data["gpu_layers"] == 0 and data["vram_bytes"] == 0
    assert data["machine"]["gpu_offload"] is False and "no GPU support" in data["machine"]["gpu_note"]
    assert main(["fit", str(model_path), "--vram-gb", "8"]) == 0
    assert "reinstall it with CUDA" in capsys.readouterr().out
    assert main(["hw", "--vram-gb", "8"]) == 0
    out = capsys.readouterr().out
    assert "\nNote  " in out and "no GPU support" in out and "free RAM" in out


def test_fit_beyond_the_training_context_proposes_rope_scaling_and_counts_it(model_path, capsys):
    assert main(["fit", str(model_path), "--ctx", "8192", "--vram-gb", "0", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["rope"]["scaling"] == "auto" and trained["rope"]["note"] == ""
    assert trained["max_context"] == 8192 and trained["max_context_with_rope_scaling"] == 4 * 8192
    assert main(["fit", str(model_path), "--ctx", "16384", "--vram-gb", "0", "--json"]) == 0
    doubled = json.loads(capsys.readouterr().out)
    assert doubled["rope"]["scaling"] == "yarn" and doubled["rope"]["freq_scale"] == 0.5
    # Twice the context: twice the KV cache, a larger compute buffer.
    assert doubled["breakdown"]["ram"]["kv"] == 2 * trained["breakdown"]["ram"]["kv"]
    assert doubled["breakdown"]["ram"]["compute"] > trained["breakdown"]["ram"]["compute"]
    assert main(["fit", str(model_path), "--ctx", "16384", "--rope-scaling", "linear"]) == 0
    out = capsys.readouterr().out
    assert "with RoPE scaling, quality may drop" in out
    assert "RoPE: linear RoPE scaling (scale 0.5), as chosen. Quality may drop" in out


def test_bad_rope_options_are_usage_errors(model_path, capsys):
    assert main(["fit", str(model_path), "--rope-freq-scale", "99"]) == 2
    assert "rope_freq_scale must be between 0 and 16" in capsys.readouterr().err
    done = run_cli("fit", str(model_path), "--rope-scaling", "ntk")
    assert done.returncode == 2 and "invalid choice: 'ntk'" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--ctx", "0"], "--ctx must be between 16 and"),
    (["--ctx", "99999999999"], "--ctx must be between 16 and"),
    (["--gpu-layers", "99"], "--gpu-layers must be between -1 (all) and 31"),
    (["--gpu-layers", "-5"], "--gpu-layers must be between"),
    (["--vram-gb", "-3"], "--vram-gb must be between"),
])
def test_fit_bad_numbers(model_path, capsys, args, message):
    assert main(["fit", str(model_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_fit_bad_files(model_path, tmp_path, capsys):
    truncated = tmp_path / "truncated.gguf"
    with model_path.open("rb") as src:
        truncated.write_bytes(src.read(5_000_000))
    zip_file = tmp_path / "model.gguf"
    zip_file.write_bytes(b"PK\x03\x04" + bytes(100))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    meta, tensors = llama_like(drop=("{arch}.attention.head_count", "{arch}.embedding_length"))
    no_keys = tmp_path / "nokeys.gguf"
    no_keys.write_bytes(gguf_bytes(meta, tensors))
    header_cut = tmp_path / "headercut.gguf"
    header_cut.write_bytes(gguf_bytes(*llama_like())[:200])
    cases = [
        (truncated, "truncated"),
        (zip_file, "not a GGUF model"),
        (empty, "empty"),
        (no_keys, "embedding_length"),
        (header_cut, "truncated or corrupt"),
        (tmp_path / "missing.gguf", "No such model file"),
        (tmp_path, "Not a file"),
    ]
    for path, message in cases:
        assert main(["fit", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith("tui-llm: ") and message in err, (path, err)


def test_crafted_model_fits(tmp_path, capsys):
    path = write_gguf(tmp_path / "tiny.gguf")
    assert main(["fit", str(path), "--json", "--vram-gb", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "fits in RAM" and data["max_context"] == 2048


def test_the_real_command_line_never_shows_a_traceback(model_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        cut.write_bytes(src.read(2_000_000))
    bad = run_cli("fit", str(cut), "--json")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "truncated" in bad.stderr
    assert bad.stdout == ""
    good = run_cli("fit", str(model_path), "--ctx", "1024", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["n_ctx"] == 1024
    hw = run_cli("hw")
    assert hw.returncode == 0 and "Traceback" not in hw.stderr

"""Hub search and a repo's GGUF files, on the loopback hub with the real client."""

from __future__ import annotations

import json

import pytest
from gguf_writer import gguf_bytes, llama_like
from hubserver import HubServer

from tui_llm import cli
from tui_llm.hub import search
from tui_llm.hub.errors import HubUnreachable, RepoUnavailable
from tui_llm.machine.file_fit import quant_of

SMOL = "bartowski/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture
def hub(monkeypatch, model_path):
    with HubServer() as server:
        server.add_file(SMOL, model_path.name, model_path)
        server.add_file(SMOL, "SmolLM2-135M-Instruct.Q8_0.gguf", b"GGUF" + bytes(3000))
        server.add_file(SMOL, "mmproj-SmolLM2-f16.gguf", b"GGUF" + bytes(10))
        server.add_file(SMOL, "README.md", b"# hi", lfs=False)
        server.describe_repo(SMOL, downloads=500, likes=3, last_modified="2026-05-01T00:00:00.000Z")
        server.add_file("someone/smollm-experiments", "x.Q4_K_M.gguf", b"GGUF")
        server.describe_repo("someone/smollm-experiments", downloads=9000, likes=1,
                             last_modified="2026-09-09T00:00:00.000Z")
        server.add_file("someone/smollm-safetensors", "x.gguf", b"GGUF")
        server.describe_repo("someone/smollm-safetensors", downloads=10**6, tags=["safetensors"])
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def searches(hub) -> int:
    return sum(1 for r in hub.log if r.path.startswith("/api/models?"))


def test_search_finds_gguf_repos_sorted(hub):
    hits = search.search_repos("SMOL")
    assert [h.repo_id for h in hits] == ["someone/smollm-experiments", SMOL]  # no safetensors-only repo
    assert hits[1].downloads == 500 and hits[1].likes == 3 and hits[1].updated == "2026-05-01"
    assert [h.repo_id for h in search.search_repos("smol", sort="likes")][0] == SMOL
    assert [h.repo_id for h in search.search_repos("smol", sort="updated", limit=1)] == ["someone/smollm-experiments"]


def test_search_answers_are_cached_briefly(hub):
    now = [1000.0]
    search.search_repos("smol", clock=lambda: now[0])
    search.search_repos("smol", clock=lambda: now[0] + 60)
    assert searches(hub) == 1
    search.search_repos("smol", clock=lambda: now[0] + search.CACHE_SECONDS + 1)
    assert searches(hub) == 2


def test_repo_files_group_splits_and_skip_projectors(hub):
    hub.add_file(SMOL, "big/m-Q4_K_M-00001-of-00002.gguf", b"GGUF" + bytes(100))
    hub.add_file(SMOL, "big/m-Q4_K_M-00002-of-00002.gguf", bytes(50))
    files = search.repo_files(SMOL)
    assert [(f.name, f.size, f.parts) for f in files] == [
        ("m-Q4_K_M-00001-of-00002.gguf", 154, 2),
        ("SmolLM2-135M-Instruct.Q8_0.gguf", 3004, 1),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432, 1),
    ]
    with pytest.raises(RepoUnavailable):
        search.repo_files("nobody/nothing")


def test_the_cli_lists_repos_and_files_with_fit_and_speed(hub, capsys):
    assert cli.main(["search", "smol"]) == 0
    out = capsys.readouterr().out
    assert out.index("someone/smollm-experiments") < out.index(SMOL) and "9,000" in out
    assert cli.main(["search", SMOL, "--files", "--exact", "--vram-gb", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    q4 = next(f for f in report["files"] if f["quant"] == "Q4_1")
    assert q4["fit"]["exact"] and q4["fit"]["verdict"] == "fits in RAM"
    assert q4["fit"]["label"].startswith("fits, ~") and q4["fit"]["speed"]["decode_tok_s"] > 10
    broken = next(f for f in report["files"] if f["quant"] == "Q8_0")
    assert "header unreadable" in broken["note"] and not broken["fit"]["exact"]
    assert cli.main(["search", SMOL, "--files"]) == 0
    out = capsys.readouterr().out
    assert "Q4_1" in out and "tok/s" in out and "mmproj" not in out


def test_the_exact_fit_equals_fit_on_the_hub_file(hub, capsys, model_path):
    assert cli.main(["search", SMOL, "--files", "--exact", "--vram-gb", "0", "--json"]) == 0
    listed = next(f for f in json.loads(capsys.readouterr().out)["files"] if f["quant"] == "Q4_1")
    assert cli.main(["fit", f"hf://{SMOL}/{model_path.name}", "--ctx", "4096", "--vram-gb", "0", "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert listed["fit"]["ram_bytes"] == fitted["ram_bytes"]
    assert listed["fit"]["speed"] == fitted["speed"]


@pytest.mark.parametrize("args, message", [
    (["search", " "], "some words"),
    (["search", "x", "--limit", "0"], "--limit"),
    (["search", "x", "--ctx", "5"], "--ctx"),
    (["search", "not-a-repo", "--files"], "ORG/REPO"),
    (["search", "nobody/nothing", "--files"], "No repository"),
])
def test_bad_input_exits_2(hub, capsys, args, message):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_unreachable_hub_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubUnreachable):
        search.search_repos("smol")
    assert cli.main(["search", "smol"]) == 3
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "HF_ENDPOINT" in err and "models" in err


@pytest.mark.parametrize("name, quant", [
    ("Qwen3-8B-Q4_K_M.gguf", "Q4_K_M"), ("model.q8_0.gguf", "Q8_0"), ("gemma-3-IQ4_XS.gguf", "IQ4_XS"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"), ("Llama-3.1-8B-Instruct-f16.gguf", "F16"),
    ("x-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"), ("Q4_0/inside.gguf", ""), ("plain.gguf", ""),
    ("m-UD-Q3_K_XL.gguf", "Q3_K_XL"), ("m.IQ2_XXS.gguf", "IQ2_XXS"),
])
def test_quant_from_the_file_name(name, quant):
    assert quant_of(name) == quant


def test_header_fit_of_a_crafted_model(hub):
    from tui_llm.hub.header import read_model_header
    from tui_llm.machine.file_fit import judge_header, judge_size
    from tui_llm.machine.hardware import Hardware

    data = gguf_bytes(*llama_like(n_layers=4, n_embd=256))
    hub.add_file(SMOL, "tiny.F16.gguf", data)
    machine = Hardware(ram_total=8 << 30, ram_available=6 << 30, cores_physical=4, cores_logical=4)
    exact = judge_header(read_model_header(SMOL, "tiny.F16.gguf"), machine, 1024)
    guessed = judge_size(len(data), "F16", machine, 1024)
    assert exact.exact and not guessed.exact
    assert exact.verdict.fits and guessed.verdict.fits and exact.speed.threads == 3

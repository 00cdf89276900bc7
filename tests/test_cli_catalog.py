"""``tui-llm catalog``: listing with filters, JSON, and ``--check`` against a hub (real client, local server)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from hubserver import HubServer, small_gguf

from tui_llm.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["catalog", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_lists_models_with_tier_and_fit(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("This machine: ")
    assert lines[1].split() == ["ID", "PARAMS", "QUANT", "SIZE", "NEEDS", "TIER", "FIT"]
    smol = next(line for line in lines if line.startswith("smollm2-135m-instruct "))
    assert "Q4_1" in smol and "93.8 MB" in smol and "Mini" in smol
    assert not any(line.startswith("ai-dungeon-2-classic ") for line in lines)
    _, out, _ = run_cli(capsys, "--ggml")
    assert any(line.startswith("ai-dungeon-2-classic ") and "GGML only" in line for line in out.splitlines())


def test_the_configured_vram_decides_the_fit(capsys, monkeypatch):
    from tui_llm import locations
    from tui_llm.engine import llama

    monkeypatch.setattr(llama, "supports_gpu_offload", lambda: True)  # as with a CUDA build
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[hardware]\nvram_gb = 24\n", encoding="utf-8")

    def mistral() -> dict:
        code, out, _ = run_cli(capsys, "--json")
        assert code == 0
        data = json.loads(out)
        assert data["machine"]["gpus"][0]["source"] == "manual"
        return next(m for m in data["models"] if m["id"] == "mistral-7b-instruct-v0.2" and m["quant"] == "Q4_K_M")

    assert mistral()["fit"] == "fits on GPU"
    path.write_text("[hardware]\nvram_gb = 2\n", encoding="utf-8")
    assert mistral()["fit"] != "fits on GPU"
    code, out, _ = run_cli(capsys, "--json", "--vram-gb", "24")  # the command line wins
    assert json.loads(out)["machine"]["gpus"][0]["total_bytes"] == 24 * 1024**3


def test_json_with_tier_filter_keeps_the_seeds_picks(capsys):
    code, out, _ = run_cli(capsys, "--tier", "16", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["default_context"] == 4096
    assert data["machine"]["ram_total_bytes"] > 0
    models = data["models"]
    assert models
    for model in models:
        assert model["tier_gb"] == 16 or any(p["tier"] == 16 for p in model["picks"])
        assert model["fit"] in {"fits on GPU", "partial offload", "fits in RAM", "tight", "too large", "fit unknown"}
    picks = [(m["id"], m["quant"]) for m in models if m["picks"]]
    assert ("beyonder-4x7b-v3", "i1-IQ3_S") in picks


def test_use_and_search_filters(capsys):
    _, out, _ = run_cli(capsys, "--use", "adventure", "--json")
    assert {m["id"] for m in json.loads(out)["models"]} == {"spring-dragon-13b"}
    _, out, _ = run_cli(capsys, "--use", "adventure", "--ggml", "--json")
    assert {m["id"] for m in json.loads(out)["models"]} == {"spring-dragon-13b", "ai-dungeon-2-classic"}
    _, out, _ = run_cli(capsys, "--search", "llama 3.2", "--json")
    assert {m["id"] for m in json.loads(out)["models"]} == {"llama-3.2-1b-instruct", "llama-3.2-3b-instruct"}


def test_fits_keeps_exactly_the_models_that_fit_this_machine(capsys):
    _, everything, _ = run_cli(capsys, "--json")
    _, fitting, _ = run_cli(capsys, "--json", "--fits")
    every = json.loads(everything)["models"]
    fit_ids = [m["id"] for m in json.loads(fitting)["models"]]
    assert fit_ids == [m["id"] for m in every if m.get("fit") not in (None, "too large", "fit unknown")]


def test_bad_filters_are_user_errors(capsys):
    code, _, err = run_cli(capsys, "--tier", "3")
    assert code == 2 and "tier must be one of mini, 2, 4, 8, 16, 32, 64" in err
    code, _, err = run_cli(capsys, "--use", "poetry")
    assert code == 2 and "--use must be one of general, roleplay-story, adventure" in err


def test_a_broken_catalog_file_is_reported_by_entry(tmp_path, capsys):
    bad = tmp_path / "catalog.toml"
    bad.write_text('[[model]]\nid = "x"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "--catalog", str(bad))
    assert code == 2
    assert "catalog.toml: model 1 (x): 'name' is missing" in err


# --- --check ---------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_without_a_hub_says_offline_fast_and_cleanly(tmp_path):
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "TUI_LLM_HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tui_llm", "catalog", "--check"],
                          capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 3
    assert done.stdout.startswith("offline: the Hugging Face hub at http://127.0.0.1:")
    assert "Traceback" not in done.stdout + done.stderr
    assert elapsed < 30


def test_check_honours_hf_hub_offline(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "TUI_LLM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "tui_llm", "catalog", "--check", "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 3
    data = json.loads(done.stdout)
    assert data["offline"] is True and "HF_HUB_OFFLINE" in data["reason"]


CHECK_CATALOG = """
[[model]]
id = "good"
name = "Good"
family = "Test"
parameters = "1M"
use = ["general"]
template = "chatml"
context = 512
licence = "MIT"
repo = "tests/Good-GGUF"
files = [
  {{ quant = "Q4_K_M", file = "good.Q4_K_M.gguf", size = {good_size} }},
  {{ quant = "Q8_0", file = "good.Q8_0.gguf" }},
]

[[model]]
id = "wrong"
name = "Wrong"
family = "Test"
parameters = "1M"
use = ["general"]
template = "chatml"
context = 512
licence = "MIT"
repo = "tests/Wrong-GGUF"
files = [
  {{ quant = "Q4_K_M", file = "wrong.Q4_K_M.gguf", size = 999 }},
  {{ quant = "Q8_0", file = "wrong.Q8_0.gguf" }},
]

[[model]]
id = "gone"
name = "Gone"
family = "Test"
parameters = "1M"
use = ["adventure"]
template = "adventure"
context = 512
licence = "MIT"
repo = "tests/Gone-GGUF"
files = [{{ quant = "Q4_K_M", file = "gone.Q4_K_M.gguf" }}]
"""


@pytest.fixture
def hub(monkeypatch):
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def test_check_reports_sizes_missing_files_and_missing_repos(hub, tmp_path, capsys):
    good = small_gguf(4096, seed=1)
    hub.add_file("tests/Good-GGUF", "good.Q4_K_M.gguf", good)
    hub.add_file("tests/Good-GGUF", "good.Q8_0.gguf", small_gguf(8192, seed=2))
    hub.add_file("tests/Wrong-GGUF", "wrong.Q4_K_M.gguf", small_gguf(2048, seed=3))
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(CHECK_CATALOG.format(good_size=len(good))), encoding="utf-8")

    code, out, _ = run_cli(capsys, "--catalog", str(path), "--check", "--use", "general")
    assert code == 1
    assert "SIZE MISMATCH  wrong  wrong.Q4_K_M.gguf  catalog says 999 bytes, the hub says 2048" in out
    assert "SIZE UNKNOWN   good  good.Q8_0.gguf  the hub says 8192 bytes; add size = 8192" in out
    assert "gone" not in out  # filtered out by --use
    assert out.rstrip().endswith("4 file(s) checked against " + hub.url + ": 2 problem(s), 1 size(s) to fill in.")

    # (the repo that is gone comes last: tests/hubserver.py leaves a 404'd POST body unread
    # on its kept-alive connection, which breaks the next request on it)
    code, out, _ = run_cli(capsys, "--catalog", str(path), "--check", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["offline"] is False and data["endpoint"] == hub.url
    status = {(c["entry_id"], c["filename"]): (c["status"], c["hub_size"]) for c in data["checked"]}
    assert status == {
        ("good", "good.Q4_K_M.gguf"): ("ok", 4096),
        ("good", "good.Q8_0.gguf"): ("size unknown", 8192),
        ("wrong", "wrong.Q4_K_M.gguf"): ("size mismatch", 2048),
        ("wrong", "wrong.Q8_0.gguf"): ("missing", None),
        ("gone", "gone.Q4_K_M.gguf"): ("no repo", None),
    }
    assert data["problems"] == 3
    # the real client listed each repo's tree
    asked = {r.path.split("/tree/")[0] for r in hub.log if "/tree/" in r.path}
    assert asked == {f"/api/models/tests/{name}-GGUF" for name in ("Good", "Wrong", "Gone")}


def test_check_passes_when_the_hub_agrees(hub, tmp_path, capsys):
    good = small_gguf(4096, seed=1)
    hub.add_file("tests/Good-GGUF", "good.Q4_K_M.gguf", good)
    hub.add_file("tests/Good-GGUF", "good.Q8_0.gguf", small_gguf(8192, seed=2))
    text = textwrap.dedent(CHECK_CATALOG.format(good_size=len(good)))
    path = tmp_path / "catalog.toml"
    path.write_text(text[: text.index('[[model]]\nid = "wrong"')], encoding="utf-8")
    code, out, _ = run_cli(capsys, "--catalog", str(path), "--check")
    assert code == 0
    assert out.startswith("OK             good  good.Q4_K_M.gguf  4096 bytes")


def test_a_hub_that_stops_answering_counts_as_offline(monkeypatch):
    from tui_llm.commands.catalog import check_hub
    from tui_llm.models.catalog import load_catalog

    entries = [load_catalog().get("smollm2-135m-instruct")]
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        before = set(threading.enumerate())
        out = io.StringIO()
        started = time.monotonic()
        code = check_hub(entries, out=out, read_timeout=0.5)
        elapsed = time.monotonic() - started
    assert code == 3
    assert out.getvalue().startswith("offline: the Hugging Face hub at http://127.0.0.1:")
    assert "stopped answering" in out.getvalue()
    assert elapsed < 10
    assert set(threading.enumerate()) <= before  # nothing left waiting on the silent hub

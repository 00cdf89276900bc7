"""Fit from the header alone: hub files read by range on the loopback hub."""

from __future__ import annotations

import json

import pytest
from gguf_writer import gguf_bytes, llama_like
from hubserver import Fault, HubServer

from tui_llm import cli
from tui_llm.hub import header
from tui_llm.hub.errors import DownloadError
from tui_llm.models.gguf import GGUFError

REPO = "test-org/SmolLM2-GGUF"


@pytest.fixture
def hub(monkeypatch, model_path):
    with HubServer() as server:
        server.add_file(REPO, model_path.name, model_path)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def fit_json(capsys, target: str, *extra: str) -> dict:
    assert cli.main(["fit", target, "--json", "--vram-gb", "0", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_header_fit_equals_the_local_fit_and_reads_a_few_mb(hub, model_path, capsys):
    local = fit_json(capsys, str(model_path), "--ctx", "2048")
    remote = fit_json(capsys, f"hf://{REPO}/{model_path.name}", "--ctx", "2048")
    assert remote["model"].pop("path") == model_path.name
    local["model"].pop("path")
    for report in (local, remote):  # RAM available moves between two probes
        report.pop("machine"), report.pop("ram_available_bytes"), report.pop("explanation")
        report.pop("max_context")
    assert remote == local
    fetched = sum(r.bytes_sent for r in hub.transfers(""))
    assert 0 < fetched <= header.FIRST_READ < model_path.stat().st_size // 10


def test_the_header_is_cached_on_disk(hub, model_path, isolated_home):
    first = header.read_header(REPO, model_path.name)
    before = len(hub.transfers())
    again = header.read_header(REPO, model_path.name)
    assert len(hub.transfers()) == before  # only the metadata request, no bytes
    assert again.tensors == first.tensors and again.file_size == model_path.stat().st_size
    assert list((isolated_home / "cache" / "hub-headers").glob("*.head"))


def test_a_header_longer_than_the_first_read_grows_the_range(monkeypatch, hub):
    meta, tensors = llama_like(n_vocab=40_000)  # ~400 KB of token strings
    data = gguf_bytes(meta, tensors)
    hub.add_file(REPO, "big-vocab.gguf", data)
    monkeypatch.setattr(header, "FIRST_READ", 64 * 1024)
    info = header.read_header(REPO, "big-vocab.gguf")
    assert info.n_vocab == 40_000 and info.file_size == len(data)
    ranges = [r.range for r in hub.transfers("")]
    assert len(ranges) >= 3 and ranges[0] == "bytes=0-65535"


def test_split_models_are_summed(hub):
    meta, tensors = llama_like(n_layers=4)
    first = dict(meta, **{"split.no": 0, "split.count": 2})
    hub.add_file(REPO, "m-00001-of-00002.gguf", gguf_bytes(first, tensors[:20]))
    second = {"general.architecture": "llama", "split.no": 1, "split.count": 2}
    hub.add_file(REPO, "m-00002-of-00002.gguf", gguf_bytes(second, tensors[20:]))
    whole = header.read_model_header(REPO, "m-00001-of-00002.gguf")
    assert len(whole.tensors) == len(tensors)
    assert whole.file_size == sum(len(gguf_bytes(m, t)) for m, t in ((first, tensors[:20]), (second, tensors[20:])))


def test_a_connection_dropped_mid_header_is_an_error_not_a_bad_model(hub, model_path):
    hub.fault(REPO, model_path.name, Fault(drop_after=1000))
    with pytest.raises(DownloadError):
        header.read_header(REPO, model_path.name)


def test_a_server_ignoring_range_is_read_no_further(hub, model_path):
    hub.fault(REPO, model_path.name, Fault(ignore_range=True))
    info = header.read_header(REPO, model_path.name)
    assert info.n_layers == 30
    assert sum(r.bytes_sent for r in hub.transfers("")) < model_path.stat().st_size // 4


def test_a_file_that_is_not_gguf(hub):
    hub.add_file(REPO, "fake.gguf", b"<html>" + bytes(5000))
    with pytest.raises(GGUFError, match="not a GGUF"):
        header.read_header(REPO, "fake.gguf")


@pytest.mark.parametrize("target, message", [
    ("hf://test-org", "names no file"),
    ("hf://test-org/SmolLM2-GGUF/../x.gguf", "walks out"),
    (f"hf://{REPO}/missing.gguf", "no file"),
    ("hf://nobody/nothing/x.gguf", "No repository"),
    (f"hf://{REPO}/fake.gguf", "not a GGUF"),
])
def test_bad_hub_addresses_exit_2(hub, capsys, target, message):
    hub.add_file(REPO, "fake.gguf", b"nope" * 100)
    assert cli.main(["fit", target]) == 2
    assert message in capsys.readouterr().err


def test_unreachable_hub_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert cli.main(["fit", f"hf://{REPO}/x.gguf"]) == 3
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "HF_ENDPOINT" in err


def test_split_names():
    assert header.split_parts("a/m-00002-of-00003.gguf") == [
        "a/m-00001-of-00003.gguf", "a/m-00002-of-00003.gguf", "a/m-00003-of-00003.gguf"]
    assert header.split_parts("m.Q4_K_M.gguf") == ["m.Q4_K_M.gguf"]

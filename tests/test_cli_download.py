"""``tui-llm download`` and ``tui-llm models`` as a user runs them, against the local hub."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hubserver import Fault, HubServer, small_gguf

REPO = "test-org/tiny-GGUF"
FILE = "tiny.Q4_0.gguf"
DATA = small_gguf(2_500_000, seed=30)


@pytest.fixture
def hub():
    with HubServer() as server:
        server.add_file(REPO, FILE, DATA)
        yield server


@pytest.fixture
def env(tmp_path, hub):
    home = tmp_path / "home"
    home.mkdir()
    environment = dict(os.environ, HF_ENDPOINT=hub.url, HOME=str(home))
    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS"):
        environment.pop(name, None)
    return environment


def tui_llm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_llm", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_download_prints_the_verified_path_and_lands_in_the_models_dir(env, isolated_home):
    done = tui_llm("download", REPO, FILE, env=env)
    assert done.returncode == 0, done.stderr
    target = isolated_home / "data" / "models" / FILE
    assert target.read_bytes() == DATA
    assert str(target) in done.stdout and "SHA-256 verified" in done.stdout
    assert "100.0%" in done.stderr  # the progress lines go to stderr


def test_download_json_with_dest(env, tmp_path):
    dest = tmp_path / "elsewhere"
    done = tui_llm("download", REPO, FILE, "--dest", str(dest), "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "ok": True, "path": str(dest / FILE), "size": len(DATA),
        "sha256": hashlib.sha256(DATA).hexdigest(), "verified": True, "resumed_from": 0, "fetched": len(DATA),
    }


def test_download_exits_non_zero_on_a_hash_mismatch(env, hub, tmp_path):
    hub.fault(REPO, FILE, Fault(wrong_hash=True, times=None))
    dest = tmp_path / "models"
    done = tui_llm("download", REPO, FILE, "--dest", str(dest), "--json", env=env)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["ok"] is False and "SHA-256 mismatch" in result["error"]
    assert "SHA-256 mismatch" in done.stderr
    assert list(dest.iterdir()) == []


def test_download_refuses_a_hostile_name_as_a_usage_error(env, hub, tmp_path):
    done = tui_llm("download", REPO, "../../etc/evil.gguf", "--dest", str(tmp_path), env=env)
    assert done.returncode == 2
    assert "walks out of its folder" in done.stderr
    assert hub.log == []


def test_download_reports_a_missing_file(env, tmp_path):
    done = tui_llm("download", REPO, "nope.gguf", "--dest", str(tmp_path), env=env)
    assert done.returncode == 1
    assert "has no file 'nope.gguf'" in done.stderr


def test_models_lists_what_the_download_left(env, isolated_home, tmp_path):
    assert tui_llm("download", REPO, FILE, env=env).returncode == 0
    ollama = Path(env["HOME"]) / ".ollama" / "models"
    digest = hashlib.sha256(DATA).hexdigest()
    (ollama / "blobs").mkdir(parents=True)
    (ollama / "blobs" / f"sha256-{digest}").write_bytes(DATA)
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": len(DATA)}
    ]}))
    done = tui_llm("models", "--json", env=env)
    assert done.returncode == 0, done.stderr
    listed = {(m["name"], m["source"], m["usable"]) for m in json.loads(done.stdout)}
    assert listed == {(FILE, "tui-llm", True), ("tiny:latest", "ollama", True)}
    text = tui_llm("models", env=env)
    assert "tiny:latest" in text.stdout and "2 usable model(s)" in text.stdout


def test_models_says_where_it_looked_when_nothing_is_there(env):
    done = tui_llm("models", env=env)
    assert done.returncode == 0
    assert "No GGUF models found" in done.stdout and ".ollama" in done.stdout


def test_a_file_the_hub_gave_no_checksum_for_is_said_to_be_unverified(env, hub, tmp_path):
    from tui_llm.hub.checksums import recorded

    hub.add_file(REPO, "plain.Q4_0.gguf", DATA, lfs=False)
    dest = tmp_path / "models"
    done = tui_llm("download", REPO, "plain.Q4_0.gguf", "--dest", str(dest), env=env)
    assert done.returncode == 0, done.stderr
    assert "not verified: the hub published no checksum" in done.stdout
    assert hashlib.sha256(DATA).hexdigest() in done.stdout
    assert "SHA-256 verified" not in done.stdout
    assert (dest / "plain.Q4_0.gguf").read_bytes() == DATA
    assert recorded(dest / "plain.Q4_0.gguf").sha256 == hashlib.sha256(DATA).hexdigest()

    as_json = tui_llm("download", REPO, "plain.Q4_0.gguf", "--dest", str(dest), "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["verified"] is False
    assert "not verified: the hub published no checksum" in as_json.stderr

"""Finding GGUF models that other tools left on disk, in real folder layouts they use."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hubserver import small_gguf

from tui_llm import locations
from tui_llm.config import AppConfig
from tui_llm.models.local import (
    SOURCE_EXTRA,
    SOURCE_HF,
    SOURCE_LMSTUDIO,
    SOURCE_OLLAMA,
    SOURCE_TUI_LLM,
    Places,
    default_places,
    discover,
)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home folder of our own, so the machine's real models never show up."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS"):
        monkeypatch.delenv(name, raising=False)
    return home


def put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def link_model(model_path: Path, target: Path) -> Path:
    """The real test model at ``target``: a hard link when possible, a copy otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(model_path, target)
    except OSError:
        shutil.copyfile(model_path, target)
    return target


def hf_cache_entry(cache: Path, repo_id: str, filename: str, data: bytes, commits=("a" * 40,)) -> Path:
    """The huggingface_hub cache layout: snapshot files are relative links into blobs/."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    sha = hashlib.sha256(data).hexdigest()
    put(repo / "blobs" / sha, data)
    for commit in commits:
        link = repo / "snapshots" / commit / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = len(Path(filename).parts) + 1
        link.symlink_to(Path(*[".."] * depth) / "blobs" / sha)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commits[-1])
    return link


def ollama_model(base: Path, manifest_parts: tuple[str, ...], data: bytes, declared_size: int | None = None,
                 write_blob: bool = True) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    blob = base / "blobs" / f"sha256-{digest}"
    if write_blob:
        put(blob, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "0" * 64, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
             "size": declared_size if declared_size is not None else len(data)},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 5},
        ],
    }
    put(base / "manifests" / Path(*manifest_parts), json.dumps(manifest).encode())
    return blob


def by_name(models):
    return {m.name: m for m in models}


def test_models_dir_lists_gguf_and_flags_what_cannot_run(home, model_path):
    models_dir = locations.models_dir()
    link_model(model_path, models_dir / "SmolLM2.Q4_1.gguf")
    put(models_dir / "html-error.gguf", b"<!doctype html><title>404</title>")
    put(models_dir / "half.gguf.partial", small_gguf(5000))
    put(models_dir / "half.gguf.partial.json", b"{}")
    put(models_dir / "notes.txt", b"hello")
    found = by_name(discover(AppConfig()))
    assert set(found) == {"SmolLM2.Q4_1.gguf", "html-error.gguf", "half.gguf.partial"}
    assert found["SmolLM2.Q4_1.gguf"].usable and found["SmolLM2.Q4_1.gguf"].size == model_path.stat().st_size
    assert found["SmolLM2.Q4_1.gguf"].source == SOURCE_TUI_LLM
    assert found["html-error.gguf"].problem == "not a GGUF file"
    assert found["half.gguf.partial"].problem == "unfinished download"


def test_huggingface_cache_is_read_through_its_snapshot_links(home, tmp_path):
    cache = tmp_path / "hf" / "hub"
    data = small_gguf(4000, seed=3)
    link = hf_cache_entry(cache, "bartowski/Tiny-GGUF", "Tiny-Q4_K_M.gguf", data, commits=("a" * 40, "b" * 40))
    hf_cache_entry(cache, "org/Nested-GGUF", "Q8_0/Nested-Q8_0.gguf", small_gguf(3000, seed=4))
    put(cache / "models--org--Partial-GGUF" / "blobs" / ("c" * 64 + ".incomplete"), small_gguf(100))
    (cache / "models--org--Partial-GGUF" / "snapshots").mkdir()
    found = by_name(discover(places=Places(hf_caches=[cache])))
    assert set(found) == {"bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf", "org/Nested-GGUF/Q8_0/Nested-Q8_0.gguf"}
    tiny = found["bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf"]
    assert tiny.source == SOURCE_HF and tiny.usable and tiny.size == len(data)
    assert tiny.path.read_bytes() == data and tiny.path.parent.parent == link.parent.parent


def listed_by_cli(home: Path, **env: str) -> list[str]:
    """``tui-llm models --json`` in a fresh process: huggingface_hub reads the environment at start."""
    environment = {"HOME": str(home), "TUI_LLM_HOME": os.environ["TUI_LLM_HOME"], "PATH": "/usr/bin:/bin", **env}
    done = subprocess.run([sys.executable, "-m", "tui_llm", "models", "--json"],
                          env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [m["name"] for m in json.loads(done.stdout) if m["source"] == SOURCE_HF]


def test_the_huggingface_cache_is_where_huggingface_hub_puts_it(home, tmp_path):
    hf_cache_entry(home / ".cache" / "huggingface" / "hub", "org/B-GGUF", "b.gguf", small_gguf(1000))
    hf_cache_entry(tmp_path / "hfhome" / "hub", "org/A-GGUF", "a.gguf", small_gguf(1000))
    hf_cache_entry(tmp_path / "xdg" / "huggingface" / "hub", "org/X-GGUF", "x.gguf", small_gguf(1000))
    hf_cache_entry(tmp_path / "cache", "org/C-GGUF", "c.gguf", small_gguf(1000))
    assert listed_by_cli(home) == ["org/B-GGUF/b.gguf"]
    assert listed_by_cli(home, HF_HOME=str(tmp_path / "hfhome")) == ["org/A-GGUF/a.gguf"]
    assert listed_by_cli(home, XDG_CACHE_HOME=str(tmp_path / "xdg")) == ["org/X-GGUF/x.gguf"]
    cache = str(tmp_path / "cache")
    assert listed_by_cli(home, HF_HOME=str(tmp_path / "hfhome"), HF_HUB_CACHE=cache) == ["org/C-GGUF/c.gguf"]


def test_lm_studio_folders_with_split_models_and_projectors(home):
    root = home / ".lmstudio" / "models"
    put(root / "lmstudio-community" / "Tiny-GGUF" / "Tiny-Q4_K_M.gguf", small_gguf(2000))
    put(root / "lmstudio-community" / "Vision-GGUF" / "mmproj-Vision-F16.gguf", small_gguf(1000))
    put(root / "lmstudio-community" / "Vision-GGUF" / "Vision-Q4_K_M.gguf", small_gguf(1000, seed=5))
    big = root / "org" / "Big-GGUF"
    put(big / "Big-Q8_0-00001-of-00002.gguf", small_gguf(3000, seed=6))
    put(big / "Big-Q8_0-00002-of-00002.gguf", b"rest of the tensors" * 10)
    put(big / "Big-Q4_0-00001-of-00003.gguf", small_gguf(3000, seed=7))
    put(big / "Big-Q4_0-00003-of-00003.gguf", b"tail" * 10)
    put(home / ".cache" / "lm-studio" / "models" / "old" / "Old-GGUF" / "old.gguf", small_gguf(900, seed=8))
    found = by_name(discover(AppConfig()))
    assert found["lmstudio-community/Tiny-GGUF/Tiny-Q4_K_M.gguf"].usable
    assert found["lmstudio-community/Tiny-GGUF/Tiny-Q4_K_M.gguf"].source == SOURCE_LMSTUDIO
    assert found["old/Old-GGUF/old.gguf"].usable
    assert "vision projector" in found["lmstudio-community/Vision-GGUF/mmproj-Vision-F16.gguf"].problem
    assert found["lmstudio-community/Vision-GGUF/Vision-Q4_K_M.gguf"].usable
    split = found["org/Big-GGUF/Big-Q8_0-00001-of-00002.gguf"]
    assert split.usable and split.size == 3000 + 190
    assert found["org/Big-GGUF/Big-Q4_0-00001-of-00003.gguf"].problem == "split model: 1 of 3 parts missing"
    assert not any("00002-of" in name or "00003-of" in name for name in found)


def test_ollama_blobs_are_named_through_their_manifests(home, tmp_path, monkeypatch):
    base = tmp_path / "ollama-models"
    monkeypatch.setenv("OLLAMA_MODELS", str(base))
    data = small_gguf(5000, seed=10)
    blob = ollama_model(base, ("registry.ollama.ai", "library", "smollm2", "latest"), data)
    ollama_model(base, ("registry.ollama.ai", "library", "smollm2", "135m"), data)
    ollama_model(base, ("registry.ollama.ai", "someone", "tiny", "q4"), small_gguf(800, seed=11))
    ollama_model(base, ("hf.co", "bartowski", "Tiny-GGUF", "Q4_K_M"), small_gguf(700, seed=12))
    ollama_model(base, ("registry.ollama.ai", "library", "gone", "latest"), small_gguf(600, seed=13),
                 write_blob=False)
    ollama_model(base, ("registry.ollama.ai", "library", "pulling", "latest"), small_gguf(600, seed=14),
                 declared_size=10_000)
    put(base / "manifests" / "registry.ollama.ai" / "library" / "broken" / "latest", b"{not json")
    found = by_name(discover(AppConfig()))
    both = found["smollm2:135m, smollm2:latest"]
    assert both.source == SOURCE_OLLAMA and both.usable and both.path == blob and both.size == len(data)
    assert found["someone/tiny:q4"].usable
    assert found["hf.co/bartowski/Tiny-GGUF:Q4_K_M"].usable
    assert "missing" in found["gone:latest"].problem
    assert "incomplete" in found["pulling:latest"].problem
    assert not any(name.startswith("broken") for name in found)


def test_ollama_default_folder_is_under_home(home):
    ollama_model(home / ".ollama" / "models", ("registry.ollama.ai", "library", "qwen", "0.5b"), small_gguf(900))
    assert [m.name for m in discover(AppConfig())] == ["qwen:0.5b"]


def test_config_folders_and_one_entry_per_file(home, tmp_path):
    extra = tmp_path / "my models"
    data = small_gguf(1500, seed=20)
    put(extra / "deep" / "er" / "mine.gguf", data)
    models_dir = tmp_path / "configured"
    models_dir.mkdir()
    (models_dir / "linked.gguf").symlink_to(extra / "deep" / "er" / "mine.gguf")
    config = AppConfig(models_dir=models_dir, extra_model_dirs=[extra, extra / "deep"])
    found = discover(config)
    assert [(m.name, m.source) for m in found] == [("linked.gguf", SOURCE_TUI_LLM)]
    found = discover(AppConfig(extra_model_dirs=[extra]))
    assert [(m.name, m.source, m.size) for m in found] == [("deep/er/mine.gguf", SOURCE_EXTRA, 1500)]


def test_default_places_follow_config_and_environment(home, tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "o"))
    places = default_places(AppConfig(models_dir=tmp_path / "m", extra_model_dirs=[tmp_path / "x"]))
    assert places.models_dirs == [tmp_path / "m"] and places.extra_dirs == [tmp_path / "x"]
    assert places.ollama_dirs == [tmp_path / "o"]
    assert places.lmstudio_dirs == [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    assert default_places().models_dirs == [locations.models_dir()]


def test_check_reads_headers_to_catch_truncated_models(home, tmp_path, model_path):
    folder = tmp_path / "models"
    link_model(model_path, folder / "whole.gguf")
    with model_path.open("rb") as source:
        put(folder / "cut.gguf", source.read(20_000_000))
    cheap = by_name(discover(places=Places(models_dirs=[folder])))
    assert cheap["cut.gguf"].usable  # the cheap look only reads the magic
    checked = by_name(discover(places=Places(models_dirs=[folder]), check=True))
    assert checked["whole.gguf"].usable
    assert "truncated" in checked["cut.gguf"].problem


def test_unreadable_and_missing_places_are_skipped(home, tmp_path):
    broken = tmp_path / "links"
    broken.mkdir()
    (broken / "dangling.gguf").symlink_to(tmp_path / "nowhere.gguf")
    loop = broken / "loop"
    loop.symlink_to(broken)
    places = Places(models_dirs=[tmp_path / "absent"], extra_dirs=[broken], hf_caches=[tmp_path / "no-cache"],
                    lmstudio_dirs=[tmp_path / "file.txt"], ollama_dirs=[tmp_path / "none"])
    put(tmp_path / "file.txt", b"x")
    found = discover(places=places)
    assert [(m.name, m.problem) for m in found] == [("dangling.gguf", "missing (a broken link?)")]


async def test_the_screen_marks_a_truncated_download_and_deletes_it_after_asking(home, model_path):
    from textual.widgets import OptionList, Static

    from helpers import wait_until
    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.ui.dialogs.choice import ChoiceDialog
    from tui_llm.ui.screens.local_models import LocalModelsScreen

    models = locations.models_dir()
    good = link_model(model_path, models / "good.gguf")
    cut = put(models / "cut.gguf", model_path.read_bytes()[:5_000_000])
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_registered("local-models")
        await wait_until(pilot, lambda: isinstance(app.screen, LocalModelsScreen) and app.screen.scanned)
        screen = app.screen
        listing = screen.query_one(OptionList)
        assert "✗ cut.gguf" in str(listing.get_option(f"bad:{cut}").prompt)
        listing.highlighted = listing.get_option_index(f"model:{good}")
        await pilot.pause()
        assert str(good) in str(screen.query_one("#local-detail", Static).render())
        listing.highlighted = listing.get_option_index(f"bad:{cut}")
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: not cut.exists())
        assert good.exists()

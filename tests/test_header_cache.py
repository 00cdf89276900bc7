"""Parsed headers kept across runs: read from the cache only for the same unchanged file."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from gguf_writer import llama_like, write_gguf

from tui_llm import locations
from tui_llm.models import gguf, header_cache
from tui_llm.models.gguf import GGUFError, read_gguf


def _model(path, name: str):
    metadata, tensors = llama_like()
    metadata["general.name"] = name
    return write_gguf(path, metadata, tensors)


def _read_once(path, name: str):
    """A model file read by an earlier run, which left its header in the cache."""
    model = _model(path, name)
    _new_run()
    read_gguf(model)
    return model


def _new_run() -> None:
    """What a new process starts with: nothing remembered in memory."""
    gguf._read_unchanged.cache_clear()


def _entries() -> list:
    return sorted((locations.cache_dir() / "headers").glob("*.json"))


def _edit_entry(change) -> None:
    (entry,) = _entries()
    data = json.loads(entry.read_text())
    change(data["parsed"])
    entry.write_text(json.dumps(data))


def test_a_second_run_reads_the_real_model_from_the_cache_and_gets_the_same_header(model_path, tmp_path):
    model = shutil.copy(model_path, tmp_path / "m.gguf")
    _new_run()
    walked = read_gguf(model)
    assert len(_entries()) == 1
    _new_run()
    cached = read_gguf(model)
    assert cached == walked
    assert cached.metadata == walked.metadata and cached.tensors == walked.tensors
    assert cached.array_lengths["tokenizer.ggml.tokens"] == 49152


def test_the_cache_is_what_a_second_run_reads(tmp_path):
    model = _model(tmp_path / "m.gguf", "Walked")
    _new_run()
    assert read_gguf(model).name == "Walked"
    _edit_entry(lambda parsed: parsed["metadata"].update({"general.name": "Remembered"}))
    _new_run()
    assert read_gguf(model).name == "Remembered"


def test_a_changed_file_is_walked_again(tmp_path):
    model = _read_once(tmp_path / "m.gguf", "Alpha")
    stat = model.stat()
    _model(model, "Omega")  # the same size: only the mtime tells
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    _new_run()
    assert read_gguf(model).name == "Omega"


@pytest.mark.parametrize("damage", [
    "not json",
    '{"stamp": 1}',
    "[1, 2, 3]",
])
def test_a_damaged_entry_means_walking_the_header_again(tmp_path, damage):
    model = _read_once(tmp_path / "m.gguf", "Real")
    (entry,) = _entries()
    entry.write_text(damage)
    _new_run()
    assert read_gguf(model).name == "Real"


def test_an_entry_with_impossible_values_is_not_believed(tmp_path):
    model = _read_once(tmp_path / "m.gguf", "Real")

    def craft(parsed: dict) -> None:
        parsed["metadata"]["llama.block_count"] = 10**9
        parsed["metadata"]["general.name"] = "Crafted"
        parsed["tensors"][0][2] = 9999  # a tensor type nobody knows

    _edit_entry(craft)
    _new_run()
    assert read_gguf(model).name == "Real"


def test_a_cache_that_cannot_be_written_still_reads_the_header(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setattr(header_cache, "_folder", lambda: blocked / "headers")
    model = _model(tmp_path / "m.gguf", "Real")
    _new_run()
    assert read_gguf(model).name == "Real"
    assert not list(tmp_path.glob(".header.*"))


def test_a_broken_file_is_not_remembered(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 20)
    _new_run()
    with pytest.raises(GGUFError):
        read_gguf(broken)
    assert _entries() == []


def test_old_entries_are_dropped_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(header_cache, "KEEP", 3)
    for index in range(5):
        model = write_gguf(tmp_path / f"m{index}.gguf", {"general.name": f"M{index}"})
        _new_run()
        read_gguf(model)
    assert len(_entries()) == 3

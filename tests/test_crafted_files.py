"""Crafted GGUF headers and hostile download destinations through the real CLI.

Each case is refused with one clear line and exit code 2, never a traceback,
within a time and memory bound (the child's peak RSS).
"""

from __future__ import annotations

import os
import sys

import pytest
from gguf_writer import gguf_bytes, llama_like, nested_arrays, with_u32
from measured import run_measured

MB = 1024**2
SECONDS, RSS = 30, 400 * MB


def tui_llm(*args: str, **kwargs):
    return run_measured([sys.executable, "-m", "tui_llm", *args], timeout=SECONDS * 2, **kwargs)


def assert_refused(run, *words: str) -> None:
    assert run.rc == 2, (run.rc, run.err[-2000:])
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert lines and lines[-1].startswith("tui-llm: "), run.err
    for word in words:
        assert word in lines[-1]
    assert run.seconds < SECONDS
    assert run.peak_rss < RSS, f"{run.peak_rss / MB:.0f} MB"


def crafted(tmp_path, name: str, **extra) -> str:
    meta, tensors = llama_like()
    meta.update(extra)
    path = tmp_path / name
    path.write_bytes(gguf_bytes(meta, tensors))
    return str(path)


HEADERS = {
    "no layers": ({"llama.block_count": 0}, "llama.block_count is 0"),
    "too many layers": ({"llama.block_count": 600}, "llama.block_count is 600"),
    "2^40 layers": ({"llama.block_count": 2**40}, "llama.block_count is 1099511627776"),
    "array alignment": ({"general.alignment": [64, 64]}, "general.alignment is (64, 64)"),
    "u32-max context": ({"llama.context_length": 2**32 - 1}, "llama.context_length is 4294967295"),
    "absurd width": ({"llama.embedding_length": 2**40}, "llama.embedding_length is"),
}


@pytest.mark.parametrize("command", ["fit", "chat"])
@pytest.mark.parametrize("case", sorted(HEADERS))
def test_crafted_header_is_refused_with_words(case, command, tmp_path):
    extra, words = HEADERS[case]
    path = crafted(tmp_path, "crafted.gguf", **extra)
    args = ("fit", path) if command == "fit" else ("chat", "--model", path, "--prompt", "hi")
    assert_refused(tui_llm(*args), "crafted.gguf", words)


def test_deeply_nested_arrays_are_refused(tmp_path):
    path = tmp_path / "nested.gguf"
    path.write_bytes(nested_arrays(100_000))
    assert_refused(tui_llm("fit", str(path)), "nests arrays too deeply")


@pytest.mark.parametrize("value", [0, 100_000])
def test_real_model_with_a_bad_layer_count_never_reaches_llama_cpp(value, model_path, tmp_path):
    # llama.cpp aborts the whole process (exit 134) on these.
    path = with_u32(model_path, tmp_path / "layers.gguf", "llama.block_count", value)
    run = tui_llm("chat", "--model", str(path), "--prompt", "hi", address_space=8 * 1024**3)
    assert_refused(run, f"llama.block_count is {value}")


def test_real_model_with_u32_max_context_is_refused(model_path, tmp_path):
    path = with_u32(model_path, tmp_path / "ctx.gguf", "llama.context_length", 2**32 - 1)
    run = tui_llm("chat", "--model", str(path), "--prompt", "hi", address_space=8 * 1024**3)
    assert_refused(run, "llama.context_length is 4294967295")


def test_download_into_a_file_is_refused(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert_refused(tui_llm("download", "org/repo", "m.gguf", "--dest", str(target)), "is a file, not a folder")


def test_download_below_a_file_is_refused(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    run = tui_llm("download", "org/repo", "m.gguf", "--dest", str(target / "sub"))
    assert_refused(run, "cannot create the folder", "Not a directory")


def test_download_with_an_over_long_name_is_refused(tmp_path):
    run = tui_llm("download", "org/repo", "m" * 250 + ".gguf", "--dest", str(tmp_path))
    assert_refused(run, "too long for this file system")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_download_into_a_read_only_folder_is_refused(tmp_path):
    target = tmp_path / "ro"
    target.mkdir(mode=0o500)
    assert_refused(tui_llm("download", "org/repo", "m.gguf", "--dest", str(target)), "cannot write to")


def test_a_model_too_large_for_the_machine_is_refused_unless_forced(tmp_path):
    meta, tensors = llama_like(n_layers=200, n_embd=8192, n_head=64, n_head_kv=8, n_ff=28672, n_vocab=128000)
    path = tmp_path / "huge.gguf"
    path.write_bytes(gguf_bytes(meta, tensors, header_only=True))
    run = tui_llm("chat", "--model", str(path), "--prompt", "hi")
    assert_refused(run, "huge.gguf is too large for this machine", "What would fit", "--force")
    forced = tui_llm("chat", "--model", str(path), "--prompt", "hi", "--force")
    assert_refused(forced, "huge.gguf is truncated")

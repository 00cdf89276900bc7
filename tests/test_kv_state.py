"""Saved engine state: a session continued in a new process reads only its new tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tui_llm.engine.kv_state import MAGIC, KVStateCache, StateFileError, common_prefix
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.kv_state import model_fingerprint

STORY = (
    "The lighthouse keeper counted the ships every night. One winter a ship came in without "
    "lights, and the keeper rowed out to meet it through the cold black water. "
) * 6


def chat(model_path, home, session, prompt, *extra):
    env = {**os.environ, "TUI_LLM_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--session", str(session),
         "--prompt", prompt, "--max-tokens", "8", "--seed", "3", "--ctx", "2048", "--json", *extra],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def state_files(home):
    return sorted((home / "cache" / "kv-state").glob("*.kv"))


def test_a_new_process_reads_only_the_new_tokens(model_path, isolated_home, tmp_path):
    session = tmp_path / "story.json"
    first = chat(model_path, isolated_home, session, STORY, "--mode", "story")
    assert first["evaluated_prompt_tokens"] == first["prompt_tokens"] > 150
    assert len(state_files(isolated_home)) == 1

    second = chat(model_path, isolated_home, session, "The ship was empty.")
    assert second["prompt_tokens"] > first["prompt_tokens"]
    assert second["evaluated_prompt_tokens"] <= second["prompt_tokens"] - first["prompt_tokens"] + 1
    assert second["reply"].strip()
    assert len(state_files(isolated_home)) == 1  # the same session's file, replaced


def test_a_session_not_saved_keeps_no_state(model_path, isolated_home):
    env = {**os.environ, "TUI_LLM_HOME": str(isolated_home)}
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--prompt", "Hello.",
         "--max-tokens", "4"], capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert state_files(isolated_home) == []


def test_a_corrupt_state_file_falls_back_to_reading_the_prompt(model_path, isolated_home, tmp_path):
    session = tmp_path / "story.json"
    chat(model_path, isolated_home, session, STORY, "--mode", "story")
    (state,) = state_files(isolated_home)
    data = bytearray(state.read_bytes())
    data[-100:] = bytes(100)  # inside llama.cpp's state bytes: only the checksum can tell
    state.write_bytes(bytes(data))

    second = chat(model_path, isolated_home, session, "The ship was empty.")
    assert second["evaluated_prompt_tokens"] == second["prompt_tokens"]
    assert second["reply"].strip()
    assert len(state_files(isolated_home)) == 1  # discarded, then written again after the reply
    third = chat(model_path, isolated_home, session, "Nobody answered.")
    assert third["evaluated_prompt_tokens"] < third["prompt_tokens"] // 2


def test_a_truncated_state_file_falls_back_too(model_path, isolated_home, tmp_path):
    session = tmp_path / "story.json"
    chat(model_path, isolated_home, session, STORY, "--mode", "story")
    (state,) = state_files(isolated_home)
    state.write_bytes(state.read_bytes()[: len(MAGIC) + 40])

    second = chat(model_path, isolated_home, session, "The ship was empty.")
    assert second["evaluated_prompt_tokens"] == second["prompt_tokens"]


def test_other_settings_do_not_share_state(model_path):
    base = model_fingerprint(model_path, LoadSettings(), "0.3.36")
    assert model_fingerprint(model_path, LoadSettings(n_threads=1, n_ctx=512), "0.3.36") == base
    assert model_fingerprint(model_path, LoadSettings(rope_freq_scale=0.5), "0.3.36") != base
    assert model_fingerprint(model_path, LoadSettings(), "0.3.37") != base


def test_a_header_for_another_model_is_refused(tmp_path):
    cache = KVStateCache(tmp_path)
    path = cache.path_for("s", "model-a")
    cache.save(path, "model-a", [1, 2, 3], bytearray(b"state"))
    tokens, header, offset = cache.read_header(path, "model-a")
    assert tokens == [1, 2, 3]
    assert bytes(cache.read_state(path, header, offset)) == b"state"
    try:
        cache.read_header(path, "model-b")
    except StateFileError:
        pass
    else:
        raise AssertionError("a state saved for another model was accepted")


def test_the_least_recently_used_files_go_first(tmp_path):
    cache = KVStateCache(tmp_path, max_bytes=2500)
    paths = [cache.path_for(str(n), "m") for n in range(3)]
    cache.save(paths[0], "m", [1], bytearray(1000))
    cache.save(paths[1], "m", [1], bytearray(1000))
    os.utime(paths[0], ns=(1, 1))
    os.utime(paths[1], ns=(2, 2))
    tokens, header, offset = cache.read_header(paths[0], "m")
    cache.read_state(paths[0], header, offset)  # used now: the newest
    cache.save(paths[2], "m", [1], bytearray(1000))
    assert [p.exists() for p in paths] == [True, False, True]


def test_a_state_bigger_than_the_cap_is_not_written(tmp_path):
    cache = KVStateCache(tmp_path, max_bytes=100)
    cache.save(cache.path_for("s", "m"), "m", [1], bytearray(1000))
    assert list(tmp_path.glob("*")) == []


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0


def test_the_cap_comes_from_config():
    from tui_llm.config import parse_config

    assert parse_config({}).kv_state_gb == 2.0
    assert parse_config({"cache": {"kv_state_gb": 0.5}}).kv_state_gb == 0.5
    assert parse_config({"cache": {"kv_state_gb": 0.5}}).to_toml_dict()["cache"] == {"kv_state_gb": 0.5}
    broken = parse_config({"cache": {"kv_state_gb": -1}})
    assert broken.kv_state_gb == 2.0 and "kv_state_gb" in broken.problems[0]

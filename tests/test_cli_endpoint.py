"""``--endpoint`` on ``tui-llm chat`` and ``tui-llm``, run as real processes against a
real llama_cpp.server (one that wants an API key) with the real test model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from llama_server import MODEL_ALIAS, LlamaServer, free_port

from tui_llm import locations

KEY = "cli-sesame"


@pytest.fixture(scope="module")
def keyed(model_path):
    with LlamaServer(model_path, api_key=KEY) as running:
        yield running


def run_cli(*args, home, env=None):
    full_env = {**os.environ, "TUI_LLM_HOME": str(home), **(env or {})}
    full_env.pop("TUI_LLM_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "tui_llm", *args],
        capture_output=True, text=True, env=full_env, timeout=120, stdin=subprocess.DEVNULL,
    )


def write_config(url: str) -> None:
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[endpoints.box]\nurl = "{url}"\napi_key_env = "BOX_KEY"\n', encoding="utf-8"
    )


def test_chat_through_a_named_endpoint_with_its_key_from_the_environment(keyed, isolated_home):
    write_config(keyed.url)
    done = run_cli("chat", "--endpoint", "box", "--prompt", "Name a colour.", "--max-tokens", "8",
                   "--seed", "3", home=isolated_home, env={"BOX_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Traceback" not in done.stderr
    assert KEY not in locations.config_file().read_text(encoding="utf-8")


def test_a_url_that_matches_a_configured_endpoint_uses_its_key(keyed, isolated_home):
    write_config(keyed.url)
    done = run_cli("chat", "--endpoint", keyed.url + "/v1", "--model", MODEL_ALIAS,
                   "--prompt", "Hi", "--max-tokens", "4", home=isolated_home, env={"BOX_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_an_unset_key_variable_is_named_in_the_error(keyed, isolated_home):
    write_config(keyed.url)
    env = {k: v for k, v in os.environ.items() if k != "BOX_KEY"}
    full = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--endpoint", "box", "--prompt", "Hi"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**env, "TUI_LLM_HOME": str(isolated_home)},
    )
    assert full.returncode == 2
    assert "BOX_KEY" in full.stderr and "not set" in full.stderr
    assert "Traceback" not in full.stderr


def test_an_unknown_model_lists_what_the_server_has(keyed, isolated_home):
    write_config(keyed.url)
    done = run_cli("chat", "--endpoint", "box", "--model", "no-such-model", "--prompt", "Hi",
                   home=isolated_home, env={"BOX_KEY": KEY})
    assert done.returncode == 2
    assert "no-such-model" in done.stderr and MODEL_ALIAS in done.stderr


def test_a_story_session_continues_through_the_server(keyed, isolated_home, tmp_path):
    write_config(keyed.url)
    session = tmp_path / "tale.json"
    env = {"BOX_KEY": KEY}
    first = run_cli("chat", "--endpoint", "box", "--mode", "story", "--session", str(session),
                    "--prompt", "The old lighthouse keeper climbed the stairs", "--max-tokens", "12",
                    "--seed", "1", home=isolated_home, env=env)
    assert first.returncode == 0, first.stderr
    told = json.loads(session.read_text(encoding="utf-8"))["turns"][-1]["text"]
    second = run_cli("chat", "--endpoint", "box", "--session", str(session), "--prompt", "",
                     "--max-tokens", "12", "--seed", "2", home=isolated_home, env=env)
    assert second.returncode == 0, second.stderr
    saved = json.loads(session.read_text(encoding="utf-8"))
    assert saved["model"] == MODEL_ALIAS
    assert keyed.url in saved["model_path"]
    roles = [turn["role"] for turn in saved["turns"]]
    # An empty prompt lets the story go on: the reply grows where it stopped.
    assert roles == ["user", "assistant"]
    assert saved["turns"][-1]["text"].startswith(told) and len(saved["turns"][-1]["text"]) > len(told)


def test_a_refused_endpoint_is_a_clear_error(isolated_home):
    done = run_cli("chat", "--endpoint", f"http://127.0.0.1:{free_port()}", "--prompt", "Hi",
                   home=isolated_home)
    assert done.returncode == 2
    assert "Cannot connect" in done.stderr and "connection refused" in done.stderr
    assert "Traceback" not in done.stderr


def test_chat_needs_a_model_or_an_endpoint(isolated_home):
    done = run_cli("chat", "--prompt", "Hi", home=isolated_home)
    assert done.returncode == 2
    assert "--model" in done.stderr and "--endpoint" in done.stderr


def test_the_app_rejects_a_bad_endpoint_url_before_starting(isolated_home):
    done = run_cli("--endpoint", "ftp://example.org", home=isolated_home)
    assert done.returncode == 2
    assert "--endpoint" in done.stderr and "http" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_mentions_endpoint(isolated_home):
    top = run_cli("--help", home=isolated_home)
    chat = run_cli("chat", "--help", home=isolated_home)
    assert "--endpoint" in top.stdout and "--endpoint" in chat.stdout

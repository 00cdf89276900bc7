"""``tui-llm chat``: the scriptable path, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args, env_home, stdin=None):
    env = {**os.environ, "TUI_LLM_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "tui_llm", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=300,
    )


def test_chat_prints_one_reply_and_exits_zero(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "Name a colour.",
                   "--max-tokens", "16", "--seed", "7", env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert len(done.stdout.split()) <= 20
    assert "Traceback" not in done.stderr


def test_chat_reads_the_prompt_from_stdin(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "-", "--max-tokens", "8",
                   env_home=isolated_home, stdin="Say yes.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_chat_with_a_missing_model_is_a_clear_error(tmp_path, isolated_home):
    done = run_cli("chat", "--model", str(tmp_path / "none.gguf"), "--prompt", "hi",
                   env_home=isolated_home)
    assert done.returncode == 2
    assert "No such model file" in done.stderr
    assert "Traceback" not in done.stderr


def test_chat_with_a_non_gguf_file_is_a_clear_error(tmp_path, isolated_home):
    bogus = tmp_path / "x.gguf"
    bogus.write_text("hello")
    done = run_cli("chat", "--model", str(bogus), "--prompt", "hi", env_home=isolated_home)
    assert done.returncode == 2
    assert "not a GGUF model" in done.stderr


def test_help_lists_the_subcommands(isolated_home):
    done = run_cli("--help", env_home=isolated_home)
    assert done.returncode == 0
    assert "chat" in done.stdout and "--model" in done.stdout and "--starter" in done.stdout


def test_a_closed_pipe_is_not_a_traceback(isolated_home):
    env = {**os.environ, "TUI_LLM_HOME": str(isolated_home)}
    shell = f"'{sys.executable}' -m tui_llm catalog --json | head -c 10"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr

"""``tui-llm chat --endpoint`` against a server that misbehaves on purpose.

Each case runs the real CLI in a measured child: the outcome, exit code, time
and peak RSS, and that no secret or escape sequence reaches the output.
"""

from __future__ import annotations

import os
import pty
import sys

from hostile_server import HostileServer
from measured import run_measured

MB = 1024**2
SECONDS, RSS = 30, 300 * MB


def chat(url: str, *extra: str, env: dict | None = None):
    args = [sys.executable, "-m", "tui_llm", "chat", "--endpoint", url, "--prompt", "hi", *extra]
    run = run_measured(args, timeout=SECONDS * 2) if env is None else _with_env(args, env)
    assert "Traceback" not in run.err, run.err[-2000:]
    assert run.seconds < SECONDS
    assert run.peak_rss < RSS, f"{run.peak_rss / MB:.0f} MB"
    return run


def _with_env(args, env):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return run_measured(args, timeout=SECONDS * 2)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_credentials_in_the_url_reach_no_file_and_no_message(tmp_path):
    session = tmp_path / "s.json"
    with HostileServer("escapes") as server:
        url = server.url.replace("://", "://alice:hunter2pass@")
        run = chat(url, "--session", str(session))
        assert run.rc == 0, run.err
        saved = session.read_text()
        assert "hunter2pass" not in saved and "***@127.0.0.1" in saved
        assert "hunter2pass" not in run.out + run.err
    dead = url.rsplit(":", 1)[0] + ":9"  # nothing listens there
    run = chat(dead)
    assert run.rc == 2 and "Cannot connect to http://***@127.0.0.1:9" in run.err
    assert "hunter2pass" not in run.err


def test_an_error_body_that_echoes_the_key_is_redacted(tmp_path):
    key = "sk-test-0123456789abcdef"
    config = tmp_path / "config.toml"
    with HostileServer("echo_auth") as server:
        config.write_text(f'[endpoints.box]\nurl = "{server.url}"\napi_key_env = "BOX_KEY"\n')
        run = chat("box", env={"TUI_LLM_CONFIG": str(config), "BOX_KEY": key})
    assert run.rc == 2 and "needs a valid API key" in run.err
    assert key not in run.err and "Bearer ***" in run.err


def test_escape_sequences_never_reach_a_terminal():
    with HostileServer("escapes") as server:
        args = [sys.executable, "-m", "tui_llm", "chat", "--endpoint", server.url, "--prompt", "hi"]
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(sys.executable, args)
        seen = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"\x1b" not in seen and b"\x07" not in seen
    assert "Hello world" in seen.decode()


def test_a_server_that_ignores_max_tokens_is_stopped_at_max_tokens():
    with HostileServer("endless") as server:
        run = chat(server.url, "--max-tokens", "16")
        assert server.requests[0]["max_tokens"] == 16
    assert run.rc == 0, run.err
    assert run.out.count("again") == 16


def test_a_line_without_end_is_cut_off():
    with HostileServer("long_line") as server:
        run = chat(server.url)
    assert run.rc == 2
    assert "sent a line of more than 1 MiB" in run.err


def test_a_json_reply_without_end_is_cut_off():
    with HostileServer("huge_json") as server:
        run = chat(server.url)
    assert run.rc == 2
    assert "sent a reply of more than 64 MiB" in run.err

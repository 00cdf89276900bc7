"""The interactive ``tui-llm`` on a real pseudo-terminal: a crash of the app leaves the terminal usable."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

HOME_TEXT = "choose what to do"


class Terminal:
    """``python -m tui_llm`` on an 80x24 pseudo-terminal; the test keeps the terminal's side open
    to read its settings."""

    def __init__(self, *args: str, home: Path) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.before = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "TUI_LLM_HOME": str(home)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui_llm", *args], stdin=self.slave, stdout=self.slave,
            stderr=self.slave, env=env, start_new_session=True,
        )
        self.output = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.output += data

    def text(self) -> str:
        with self.lock:
            return self.output.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if self.process.poll() is not None:
                pytest.fail(f"tui-llm ended ({self.process.returncode}) before showing {text!r}: {self.text()[-500:]!r}")
            assert time.monotonic() < deadline, f"{text!r} never appeared"
            time.sleep(0.05)

    def echo(self) -> bool:
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def app_process(self) -> int:
        """The supervised child that runs the app."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        time.sleep(0.2)  # the last output still on its way through the terminal
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def terminals(isolated_home):
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        opened.append(Terminal(*args, home=isolated_home))
        return opened[-1]

    yield start
    for terminal in opened:
        terminal.close()


def test_an_abort_of_the_app_restores_the_terminal_and_says_so(terminals):
    terminal = terminals()
    terminal.wait_for(HOME_TEXT)
    assert not terminal.echo()  # the app has the terminal raw
    shown = len(terminal.text())
    os.kill(terminal.app_process(), signal.SIGABRT)
    assert terminal.finish() == 2
    assert terminal.echo()
    assert termios.tcgetattr(terminal.slave)[3] == terminal.before[3]
    after = terminal.text()[shown:]
    assert "\x1b[?1049l" in after and "\x1b[?25h" in after and "\x1b[?1000l" in after
    lines = [line for line in after.splitlines() if "tui-llm: " in line]
    assert len(lines) == 1, after
    assert "SIGABRT" in lines[0] and "the terminal was restored" in lines[0]
    assert "Traceback" not in after


def test_the_crash_line_says_what_the_app_was_doing(terminals, model_path):
    terminal = terminals("--model", str(model_path))
    terminal.wait_for("Prompt template")
    os.kill(terminal.app_process(), signal.SIGABRT)
    assert terminal.finish() == 2
    assert terminal.echo()
    assert f"while idle with the model {model_path.name} loaded" in terminal.text()


def test_quit_exits_zero_and_ctrl_c_does_not_quit(terminals):
    terminal = terminals()
    terminal.wait_for(HOME_TEXT)
    terminal.press("\x03")  # Ctrl+C: a key for the app, not a signal
    terminal.wait_for("Ctrl+Q quits")
    assert terminal.process.poll() is None
    terminal.press("\x11")  # Ctrl+Q
    assert terminal.finish() == 0
    assert terminal.echo()
    assert "stopped abruptly" not in terminal.text()


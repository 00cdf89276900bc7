"""Start-up time, memory and idle CPU of the real ``tui-llm`` command.

- ``tui-llm --help``: wall time of the whole process (``python -c pass`` beside it:
  the interpreter's own start, which no app can beat);
- ``tui-llm`` in a pseudo-terminal at 80x24, from exec to the home screen's
  text arriving on the terminal;
- the app's resident memory (RSS) on the home screen, no model loaded (the app
  runs in a child of the supervisor that restores the terminal after a crash;
  the supervisor's own RSS is shown beside it);
- CPU time it uses while idle for ``--idle`` seconds on the home screen, and on
  the chat screen with the test model loaded (``tui-llm --model``).

Each start is run ``--runs`` times; medians are shown (file caches are warm
after the first run; the first run's time is printed too).

Targets: --help < 0.3 s; first screen < 1.5 s; RSS < 120 MB; idle CPU < 1 %.

Usage: python bench/startup_idle.py [--runs 5] [--idle 10]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from _common import Figure, footer, header, median, show, test_model, use_temporary_home

VENV_BIN = Path(sys.executable).parent
TUI_LLM = VENV_BIN / "tui-llm"


def timed_run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


class Terminal:
    """``tui-llm`` on a pseudo-terminal of 80x24; its output is read as it comes."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(TUI_LLM), *args], stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.seen: dict[bytes, float] = {}
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

    def wait_for(self, text: str, timeout: float = 60.0) -> float:
        """Seconds from exec until ``text`` appeared in the output."""
        needle = text.encode()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if needle in self.output:
                    return time.perf_counter() - self.started
            time.sleep(0.002)
        raise TimeoutError(f"{text!r} did not appear within {timeout} s")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        self.send(b"\x11")  # Ctrl+Q
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def app_pid(pid: int) -> int:
    """The process that runs the app: the supervisor's child (the command itself without one)."""
    import psutil

    children = psutil.Process(pid).children()
    return children[0].pid if children else pid


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one CPU used by the process (and its threads) over ``seconds``."""
    import psutil

    process = psutil.Process(pid)
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    home = use_temporary_home()
    header("startup_idle: start-up, memory and idle CPU of the tui-llm command",
           f"python bench/startup_idle.py --runs {args.runs} --idle {args.idle:g}")
    import psutil

    python = [sys.executable, "-c", "pass"]
    help_times = [timed_run([str(TUI_LLM), "--help"]) for _ in range(args.runs)]
    python_times = [timed_run(python) for _ in range(args.runs)]
    screen_times: list[float] = []
    rss: list[float] = []
    supervisor_rss: list[float] = []
    for _ in range(args.runs):
        terminal = Terminal()
        try:
            screen_times.append(terminal.wait_for("choose what to do"))
            time.sleep(0.5)
            rss.append(psutil.Process(app_pid(terminal.process.pid)).memory_info().rss / 2**20)
            if app_pid(terminal.process.pid) != terminal.process.pid:
                supervisor_rss.append(psutil.Process(terminal.process.pid).memory_info().rss / 2**20)
        finally:
            terminal.close()
    print(f"   first runs (coldest caches): --help {help_times[0]:.3f} s, first screen {screen_times[0]:.3f} s")

    terminal = Terminal()
    try:
        terminal.wait_for("choose what to do")
        time.sleep(1.0)
        home_idle = idle_cpu(app_pid(terminal.process.pid), args.idle)
    finally:
        terminal.close()

    model = test_model()
    terminal = Terminal("--model", str(model))
    try:
        terminal.wait_for("Enter sends")
        time.sleep(1.0)
        chat_idle = idle_cpu(app_pid(terminal.process.pid), args.idle)
        chat_rss = psutil.Process(app_pid(terminal.process.pid)).memory_info().rss / 2**20
    finally:
        terminal.close()

    show([
        Figure("python -c pass (interpreter start)", median(python_times), "s"),
        Figure("tui-llm --help", median(help_times), "s", "< 0.3", median(help_times) < 0.3),
        Figure("tui-llm to home screen (pty 80x24)", median(screen_times), "s", "< 1.5",
               median(screen_times) < 1.5),
        Figure("RSS on home screen, no model", median(rss), "MB", "< 120", median(rss) < 120),
        Figure("the supervisor's own RSS (shares its pages with the app)",
               median(supervisor_rss) if supervisor_rss else 0.0, "MB"),
        Figure(f"idle CPU on home screen ({args.idle:g} s)", home_idle, "%", "< 1", home_idle < 1),
        Figure(f"idle CPU on chat screen, model loaded ({args.idle:g} s)", chat_idle, "%", "< 1",
               chat_idle < 1),
        Figure("RSS on chat screen with the 98 MB test model", chat_rss, "MB"),
    ])
    del home
    footer()


if __name__ == "__main__":
    main()

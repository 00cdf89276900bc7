"""Keep the terminal usable when the app dies of a signal (llama.cpp may ``abort()``).

The interactive ``tui-llm`` forks: the child runs the app, the parent only
waits. If the child is killed by a signal, the terminal is still raw, in the
alternate screen, with mouse reporting on and no cursor; the parent puts back
the terminal settings it saved before the fork, leaves those modes, and says
in one line what happened and what the app was doing (its breadcrumb).
"""

from __future__ import annotations

import os
import signal
import sys

from tui_llm import breadcrumb

EXIT_CRASHED = 2
# Textual's modes, switched off in the order its own driver does on a clean exit:
# Kitty keyboard protocol, alternate screen, cursor, focus events, mouse, bracketed paste.
LEAVE_MODES = (
    "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l"
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l\x1b[?2004l\x1b[?2048l"
)
SIGNAL_NOTES = {
    signal.SIGABRT: "an abort, most likely inside llama.cpp",
    signal.SIGSEGV: "a memory fault, most likely inside llama.cpp",
    signal.SIGBUS: "a bus error (a model file changed or shrank while mapped?)",
    signal.SIGKILL: "killed; the system may have run out of memory",
}
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


def wanted() -> bool:
    """Only where there is a terminal to save and fork exists (POSIX, which has termios too)."""
    return hasattr(os, "fork") and sys.stdin is not None and sys.stdin.isatty()


def run_supervised() -> int | None:
    """Fork; the parent returns the app's exit code. None: run the app in this process (the
    child, or no supervisor could be set up)."""
    import termios

    try:
        saved = termios.tcgetattr(sys.stdin.fileno())
        crumb = _breadcrumb_file()
    except (termios.error, OSError):
        return None
    os.environ[breadcrumb.ENV] = crumb
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        child = os.fork()
    except OSError:
        _remove(crumb)
        return None
    if child == 0:
        return None
    try:
        status = _wait(child)
    finally:
        doing = breadcrumb.read(crumb)
        _remove(crumb)
    if not os.WIFSIGNALED(status):
        return os.waitstatus_to_exitcode(status)
    _restore(saved)
    print(f"tui-llm: {crash_line(os.WTERMSIG(status), doing)}", file=sys.stderr, flush=True)
    return EXIT_CRASHED


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _breadcrumb_file() -> str:
    """A new private file for the breadcrumb (without importing tempfile: it costs start-up time)."""
    folder = os.environ.get("TMPDIR") or "/tmp"
    for attempt in range(100):
        path = os.path.join(folder, f"tui-llm-{os.getpid()}-{attempt}.doing")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise OSError(f"no free breadcrumb file name in {folder}")


def crash_line(number: int, doing: str) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    note = SIGNAL_NOTES.get(number)
    what = f"{name}, {note}" if note else name
    during = f" while {doing}" if doing else ""
    return f"the app stopped abruptly ({what}){during}; the terminal was restored."


def _wait(child: int) -> int:
    """The child's wait status; Ctrl+C is the child's to handle, and termination requests go to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in FORWARDED:
        signal.signal(number, lambda received, frame: os.kill(child, received))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _restore(saved: list) -> None:
    import termios

    try:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, saved)
    except termios.error:
        pass
    for stream in (sys.stderr, sys.stdout):
        if stream.isatty():
            stream.write(LEAVE_MODES)
            stream.flush()
            break

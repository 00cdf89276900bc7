"""Run a command in a child process and measure it: exit code, output, seconds, peak RSS.

A small Python parent runs the command and reads its own RUSAGE_CHILDREN, so the
peak RSS is the command's alone (the test process's other children never count).
The command runs under an address-space limit, so a test that fails by using too
much memory fails with a MemoryError instead of swapping the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

_PARENT = r"""
import json, resource, subprocess, sys, time
limit, timeout, args = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
started = time.monotonic()
try:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    rc, out, err = done.returncode, done.stdout, done.stderr
except subprocess.TimeoutExpired as exc:
    rc, out, err = None, exc.stdout or "", exc.stderr or ""
    out = out.decode() if isinstance(out, bytes) else out
    err = err.decode() if isinstance(err, bytes) else err
seconds = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": rc, "out": out, "err": err, "seconds": seconds, "peak_rss": peak}))
"""


@dataclass
class Measured:
    rc: int | None  # None: killed at the timeout
    out: str
    err: str
    seconds: float
    peak_rss: int


def run_measured(args: list[str], timeout: float = 60, address_space: int = 4 * 1024**3) -> Measured:
    done = subprocess.run(
        [sys.executable, "-c", _PARENT, str(address_space), str(timeout), *args],
        capture_output=True, text=True, timeout=timeout + 30,
    )
    return Measured(**json.loads(done.stdout))


def run_python(code: str, *args: str, **kwargs) -> Measured:
    return run_measured([sys.executable, "-c", code, *args], **kwargs)

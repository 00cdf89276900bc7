"""How fast this machine's CPU reads memory: a short probe, measured once and kept.

One thread reads a buffer larger than any cache, then every decode thread
reads its own at once; each figure is the median of a few rounds, so a
machine that is busy now reads as busy. The result is kept in the cache dir
under the CPU's name and the thread count, and measured again only when
either changes or the file is unreadable. The whole probe takes about a
tenth of a second (about a GB read); callers run it off the event loop.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "bandwidth.json"
TOTAL_BYTES = 128 * 1024**2  # shared among the threads: past the last-level cache of most CPUs
MIN_BYTES_PER_THREAD = 32 * 1024**2
ROUNDS = 5


@dataclass(frozen=True)
class Bandwidth:
    """Bytes per second read by one thread alone, and by ``threads`` threads together."""

    one_thread: float
    all_threads: float
    threads: int

    def at(self, threads: int) -> float:
        """Bytes/s ``threads`` threads read: each adds one thread's rate until the bus is full."""
        return min(self.one_thread * max(1, threads), max(self.all_threads, self.one_thread))

    def as_dict(self) -> dict[str, float | int]:
        return {"one_thread": round(self.one_thread), "all_threads": round(self.all_threads),
                "threads": self.threads}


def cache_key(cpu_name: str, threads: int) -> str:
    return f"{cpu_name or 'unknown CPU'} / {threads} threads"


def _read_rate(threads: int) -> float:
    import numpy  # llama-cpp-python's own dependency; imported only when probing

    per_thread = max(TOTAL_BYTES // threads, MIN_BYTES_PER_THREAD)
    buffers = [numpy.ones(per_thread // 8) for _ in range(threads)]
    rates = []
    for _ in range(ROUNDS):
        workers = [threading.Thread(target=numpy.max, args=(buffer,)) for buffer in buffers]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rates.append(per_thread * threads / max(time.perf_counter() - start, 1e-9))
    return statistics.median(rates)


def measure(threads: int) -> Bandwidth:
    """Probe now: one thread, then ``threads`` threads (numpy releases the GIL while reading)."""
    threads = max(1, threads)
    one = _read_rate(1)
    together = _read_rate(threads) if threads > 1 else one
    return Bandwidth(one, together, threads)


def _load(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _from_dict(data: object, threads: int) -> Bandwidth | None:
    if not isinstance(data, dict):
        return None
    one, together = data.get("one_thread"), data.get("all_threads")
    if not all(isinstance(v, (int, float)) and 1e6 < v < 1e14 for v in (one, together)):
        return None
    return Bandwidth(float(one), float(together), threads)


_lock = threading.Lock()


def probed(cpu_name: str, threads: int, cache_dir: Path) -> Bandwidth:
    """This machine's bandwidth for ``threads`` decode threads: from the cache, else measured
    and written there (a cache that cannot be written costs only a probe next time)."""
    path = cache_dir / FILE_NAME
    key = cache_key(cpu_name, threads)
    with _lock:
        known = _load(path)
        cached = _from_dict(known.get(key), threads)
        if cached is not None:
            return cached
        measured = measure(threads)
        known[key] = measured.as_dict()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(known, indent=1), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass
        return measured

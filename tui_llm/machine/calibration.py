"""What this machine actually achieved: decode speeds of earlier replies, kept to correct
the speed model.

Each finished reply of a local model leaves one record (the bytes a token
read, layers, threads, GPU layers, the measured tokens/s) in a small file in
the cache dir, the newest ``KEEP`` only. The speed model predicts each
recorded run again and scales its next prediction by the median of
measured / predicted over the latest runs on the same machine and the same
device (CPU or GPU): a median, so one reply slowed by other work does not
move it once there are a few. Until then each run counts for less (the
median's logarithm is shrunk by n / (n + 1)), and no run counts for more than
a factor of ``FACTOR_RANGE``. A file that cannot be read counts as no runs.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

FILE_NAME = "speed-runs.json"
KEEP = 50
RECENT = 15
# Replies shorter than this time mostly the first token and the sampler, not decoding.
MIN_TOKENS = 16
FACTOR_RANGE = (0.2, 5.0)


@dataclass(frozen=True)
class RunRecord:
    machine: str
    bytes_per_token: int
    n_layers: int
    threads: int
    gpu_layers: int
    decode_tok_s: float
    when: float = 0.0

    @property
    def on_gpu(self) -> bool:
        return self.gpu_layers > 0


@dataclass(frozen=True)
class Correction:
    factor: float = 1.0
    runs: int = 0


_FIELDS = {f.name: f.type for f in fields(RunRecord)}


def _record(data: object) -> RunRecord | None:
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        return None
    if not isinstance(data["machine"], str):
        return None
    numbers = [data[name] for name in _FIELDS if name != "machine"]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) and 0 <= n < 1e15 for n in numbers):
        return None
    record = RunRecord(data["machine"], int(data["bytes_per_token"]), int(data["n_layers"]),
                       int(data["threads"]), int(data["gpu_layers"]), float(data["decode_tok_s"]),
                       float(data["when"]))
    return record if record.decode_tok_s > 0 and record.bytes_per_token > 0 else None


class RunLog:
    """The records file; rereads it only when it changed on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: list[RunRecord] = []

    def records(self) -> list[RunRecord]:
        with self._lock:
            try:
                status = self.path.stat()
                stamp = (status.st_mtime_ns, status.st_size)
            except OSError:
                self._stamp, self._records = None, []
                return []
            if stamp != self._stamp:
                self._stamp, self._records = stamp, self._read()
            return list(self._records)

    def _read(self) -> list[RunRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return []
        if not isinstance(data, list):
            return []
        return [r for r in map(_record, data) if r is not None][-KEEP:]

    def add(self, record: RunRecord) -> None:
        """Append one run (the oldest leave past ``KEEP``); an unwritable cache is skipped."""
        if record.decode_tok_s <= 0:
            return
        if not record.when:
            record = RunRecord(**{**asdict(record), "when": time.time()})
        kept = [asdict(r) for r in [*self.records(), record][-KEEP:]]
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                temporary = self.path.with_suffix(".tmp")
                temporary.write_text(json.dumps(kept), encoding="utf-8")
                temporary.replace(self.path)
            except OSError:
                pass

    def correction(self, machine: str, on_gpu: bool, predict: Callable[[RunRecord], float]) -> Correction:
        """Median of measured / ``predict(run)`` over the latest runs like this one."""
        alike = [r for r in self.records() if r.machine == machine and r.on_gpu == on_gpu][-RECENT:]
        logs = []
        for run in alike:
            predicted = predict(run)
            if predicted > 0:
                ratio = min(max(run.decode_tok_s / predicted, FACTOR_RANGE[0]), FACTOR_RANGE[1])
                logs.append(math.log(ratio))
        if not logs:
            return Correction()
        n = len(logs)
        return Correction(math.exp(statistics.median(logs) * n / (n + 1)), n)


_logs: dict[Path, RunLog] = {}
_logs_lock = threading.Lock()


def run_log(cache_dir: Path) -> RunLog:
    """The one ``RunLog`` of a cache dir in this process."""
    path = cache_dir / FILE_NAME
    with _logs_lock:
        if path not in _logs:
            _logs[path] = RunLog(path)
        return _logs[path]

"""Shared by the performance benches: the test model, the machine, and a figures table.

Every bench prints a header naming the machine and its load average, then one
row per figure with its target beside it. Benches run with ``TUI_LLM_HOME``
pointed at a temporary folder so they never touch the user's settings.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

# A reply long enough to time decoding; greedy sampling makes it the same every run.
STORY_PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def use_temporary_home() -> Path:
    """Point TUI_LLM_HOME at a fresh folder (the caller's process only)."""
    home = Path(tempfile.mkdtemp(prefix="tui-llm-bench-"))
    os.environ["TUI_LLM_HOME"] = str(home)
    os.environ.pop("TUI_LLM_CONFIG", None)
    return home


def test_model() -> Path:
    from testmodel import fetch_test_model

    return fetch_test_model()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    import psutil

    physical = psutil.cpu_count(logical=False)
    logical = psutil.cpu_count()
    return f"{cpu_model()}, {physical} physical cores / {logical} logical, Python {platform.python_version()}"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def header(title: str, how: str = "") -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")
    print(f"   load average (1/5/15 min) at start: {load_average()}")
    if how:
        print(f"   {how}")


def footer() -> None:
    print(f"   load average at end: {load_average()}")


@dataclass
class Figure:
    name: str
    value: float
    unit: str = ""
    target: str = ""
    ok: bool | None = None


def show(figures: Sequence[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    for figure in figures:
        value = f"{figure.value:,.3f}" if abs(figure.value) < 10 else f"{figure.value:,.1f}"
        verdict = "" if figure.ok is None else ("ok" if figure.ok else "MISSED")
        target = f"target {figure.target}" if figure.target else ""
        print(f"   {figure.name:<{width}}  {value:>10} {figure.unit:<6} {target:<18} {verdict}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation): a real observed value."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class ReplyWatch:
    """Times every update of an assistant turn on screen (wraps TurnView.set_text)."""

    def __init__(self) -> None:
        from tui_llm.ui.widgets.transcript import TurnView

        self.updates: list[tuple[float, str]] = []
        original = TurnView.set_text
        watch = self

        def set_text(view: Any, text: str) -> None:
            original(view, text)
            if view.role == "assistant":
                watch.updates.append((time.perf_counter(), text))

        TurnView.set_text = set_text  # type: ignore[method-assign]


async def submit(screen: Any, text: str) -> None:
    """Type ``text`` into the chat screen's prompt and send it; returns once generation started."""
    import asyncio

    from textual.widgets import Input

    prompt = screen.query_one("#prompt", Input)
    prompt.value = text
    await prompt.action_submit()
    while not screen.generating:
        await asyncio.sleep(0.005)

"""The automatic thread counts: every physical core, but never every CPU for decoding."""

from __future__ import annotations

import asyncio

import pytest

from tui_llm.engine import load_settings
from tui_llm.engine.load_settings import LoadSettings, decode_threads, physical_cores
from tui_llm.engine.llama import LlamaCppRunner


@pytest.mark.parametrize("physical,logical,expected", [
    (1, 1, 1),    # one CPU: nothing to spare
    (2, 2, 1),    # two cores, no SMT: leave one to the app
    (2, 4, 2),    # SMT: the app runs on a sibling thread
    (4, 4, 3),
    (8, 16, 8),
])
def test_decode_threads_leave_a_cpu_to_the_app(monkeypatch, physical, logical, expected):
    def cpu_count(logical: bool = True) -> int:
        return logical_count if logical else physical

    logical_count = logical
    monkeypatch.setattr(load_settings.psutil, "cpu_count", cpu_count)
    assert decode_threads() == expected
    assert LoadSettings().resolved_batch_threads() == physical


def test_chosen_threads_win_over_the_automatic_ones():
    assert LoadSettings(n_threads=3).resolved_threads() == 3
    assert LoadSettings(n_threads=3).resolved_batch_threads() == 3
    assert LoadSettings(n_threads=3, n_threads_batch=5).resolved_batch_threads() == 5


def test_the_runner_loads_llama_cpp_with_the_automatic_threads(model_path):
    runner = LlamaCppRunner()

    async def load() -> None:
        await runner.load(model_path, LoadSettings(n_ctx=256))

    asyncio.run(load())
    try:
        assert runner._llm.n_threads == decode_threads()
        assert runner._llm.n_threads_batch == physical_cores()
    finally:
        asyncio.run(runner.close())

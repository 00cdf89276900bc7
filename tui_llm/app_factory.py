"""One factory for the CLI and the tests: real parts by default, injected ones when given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tui_llm import locations
from tui_llm.config import AppConfig, load_config

if TYPE_CHECKING:
    from tui_llm.engine.kv_state import KVStateCache
    from tui_llm.machine.hardware import Hardware
    from tui_llm.engine.contract import Runner
    from tui_llm.ui.app import TuiLlmApp


def make_app(
    config: AppConfig | None = None,
    runner: "Runner | None" = None,
    model_path: Path | None = None,
    start: str = "home",
    hardware: "Hardware | None" = None,
) -> "TuiLlmApp":
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.ui.app import TuiLlmApp

    config = config or load_config(locations.config_file())
    return TuiLlmApp(
        config=config,
        runner=runner or LlamaCppRunner(kv_state_cache(config)),
        model_path=model_path,
        start=start,
        hardware=hardware,
    )


def kv_state_cache(config: AppConfig) -> "KVStateCache":
    """Where saved engine state lives, and how much of it is kept (``[cache] kv_state_gb``)."""
    from tui_llm.engine.kv_state import KVStateCache

    return KVStateCache(locations.cache_dir() / "kv-state", int(config.kv_state_gb * 1024**3))

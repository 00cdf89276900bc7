"""Where tui-llm keeps its files.

XDG base directories by default. ``TUI_LLM_HOME`` puts everything under one
folder (tests use it so they never touch the user's home); ``TUI_LLM_CONFIG``
names the config file alone.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "tui-llm"


def _home_override() -> Path | None:
    value = os.environ.get("TUI_LLM_HOME")
    return Path(value).expanduser() if value else None


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    base = Path(value).expanduser() if value else Path.home() / fallback
    return base / APP_NAME


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    home = _home_override()
    return home / "data" if home else _xdg("XDG_DATA_HOME", ".local/share")


def cache_dir() -> Path:
    home = _home_override()
    return home / "cache" if home else _xdg("XDG_CACHE_HOME", ".cache")


def config_file() -> Path:
    value = os.environ.get("TUI_LLM_CONFIG")
    return Path(value).expanduser() if value else config_dir() / "config.toml"


def models_dir() -> Path:
    return data_dir() / "models"


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def user_templates_dir() -> Path:
    return config_dir() / "templates"


def project_root() -> Path:
    """The source tree holding ``presets/`` and ``catalog.toml``."""
    return Path(__file__).resolve().parent.parent


def presets_dir() -> Path:
    return project_root() / "presets"


def catalog_file() -> Path:
    return project_root() / "catalog.toml"

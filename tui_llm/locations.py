"""Where tui-llm keeps its files.

XDG base directories by default. ``TUI_LLM_HOME`` puts everything under one
folder (tests use it so they never touch the user's home); ``TUI_LLM_CONFIG``
names the config file alone. The catalog and the presets that ship with the
app are read through :func:`package_data`.
"""

from __future__ import annotations

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
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


def package_data() -> Traversable:
    """The folder holding ``catalog.toml`` and ``presets/``.

    The wheel carries them as ``tui_llm/data/``. A source checkout (also an
    editable install, which imports the source tree) has them at its top level.
    """
    packaged = files("tui_llm") / "data"
    checkout = Path(__file__).resolve().parent.parent
    if packaged.is_dir() or not (checkout / "catalog.toml").is_file():
        return packaged
    return checkout


def presets_dir() -> Traversable:
    return package_data() / "presets"


def catalog_file() -> Traversable:
    return package_data() / "catalog.toml"


def toml_files(folder: Traversable) -> list[Traversable]:
    """The ``*.toml`` files in a folder, by name; none when it does not exist."""
    if not folder.is_dir():
        return []
    found = (item for item in folder.iterdir() if item.name.endswith(".toml") and item.is_file())
    return sorted(found, key=lambda item: item.name)

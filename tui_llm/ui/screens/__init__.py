"""The screen registry: every screen reachable from the home screen.

Each entry names a key, a title and a factory taking the app's shared parts
(a ``ScreenHost``). Screens added by later work register here and appear on
the home screen and in the palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_llm.config import AppConfig
    from tui_llm.hub.queue import DownloadQueue
    from tui_llm.machine.hardware import ProbedOnce


class ScreenHost(Protocol):
    """What the screen factories take from the app; the app satisfies it without this module importing it."""

    config: "AppConfig"
    machine: "ProbedOnce"
    downloads: "DownloadQueue"


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    key: str
    title: str
    help: str
    factory: Callable[[ScreenHost], "Screen"]


def registered_screens() -> list[ScreenEntry]:
    """Lazy imports keep start-up fast: a screen's module loads when it opens."""
    entries: list[ScreenEntry] = []
    entries.append(ScreenEntry(
        name="hardware", key="h", title="Hardware: what this machine can run",
        help="RAM and VRAM bars, CPU, GPUs, and which model sizes fit, in words", factory=_hardware,
    ))
    entries.append(ScreenEntry(
        name="catalog", key="c", title="Model catalog: what fits this machine",
        help="curated models by RAM tier, with a fit badge for this machine", factory=_catalog,
    ))
    entries.append(ScreenEntry(
        name="local-models", key="l", title="Local models: GGUF files already on disk",
        help="ours, the huggingface cache, LM Studio, Ollama and extra folders", factory=_local_models,
    ))
    entries.append(ScreenEntry(
        name="downloads", key="d", title="Downloads",
        help="the download queue: progress, pause, cancel, retry", factory=_downloads,
    ))
    entries.append(ScreenEntry(
        name="endpoints", key="e", title="Remote servers: chat with a model on another machine",
        help="OpenAI-compatible servers (llama.cpp, KoboldCpp, Ollama, vLLM): list models, chat",
        factory=_endpoints,
    ))
    entries.append(ScreenEntry(
        name="settings", key="o", title="Settings: sampler presets, loading, prompt templates",
        help="every sampler and load value with a one-line explanation; saved to config.toml",
        factory=_settings,
    ))
    entries.append(ScreenEntry(
        name="sessions", key="v", title="Saved sessions: open, rename, delete, export",
        help="every chat, story and adventure, saved after each turn", factory=_sessions,
    ))
    return entries


def _hardware(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.hardware import HardwareScreen

    return HardwareScreen(app.machine)


def _sessions(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.sessions import SessionsScreen

    return SessionsScreen()


def _settings(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.settings import SettingsScreen

    return SettingsScreen()


def _endpoints(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.endpoints import EndpointsScreen

    return EndpointsScreen()


def _catalog(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.catalog import CatalogScreen

    return CatalogScreen(app.machine)


def _local_models(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.local_models import LocalModelsScreen

    return LocalModelsScreen()


def _downloads(app: ScreenHost) -> "Screen":
    from tui_llm.ui.screens.downloads import DownloadsScreen

    return DownloadsScreen(app.downloads)

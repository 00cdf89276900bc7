"""The screen registry: every screen reachable from the home screen.

Each entry names a key, a title and a factory taking the app. Screens added
by later work register here and appear on the home screen and in the palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_llm.ui.app import TuiLlmApp


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    key: str
    title: str
    help: str
    factory: Callable[["TuiLlmApp"], "Screen"]


def registered_screens() -> list[ScreenEntry]:
    """Lazy imports keep start-up fast: a screen's module loads when it opens."""
    entries: list[ScreenEntry] = []
    return entries

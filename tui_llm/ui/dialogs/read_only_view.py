"""A full-screen read-only view: a titled frame, a line of facts, a scrolling body, a hint; Esc closes.

Subclasses give the title, the facts, the body and the ``escape`` binding
(with their own binding id, which keymaps refer to).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

HINT = "arrows, PgUp/PgDn scroll · Esc closes"


class ReadOnlyView(ModalScreen[None]):
    DEFAULT_CSS = """
    ReadOnlyView { align: center middle; }
    ReadOnlyView > Vertical {
        width: 100%; height: 100%; border: round $accent; background: $surface; padding: 0 1;
    }
    ReadOnlyView .view-facts { height: auto; max-height: 3; color: $text-muted; }
    ReadOnlyView .view-body { height: 1fr; }
    ReadOnlyView .view-hint { color: $text-muted; height: 1; }
    """
    HEADING = ""
    ID_PREFIX = "view"  # the facts and hint lines are #<prefix>-facts and #<prefix>-hint

    def facts(self) -> str:
        raise NotImplementedError

    def body(self) -> ComposeResult:
        """The scrolling part; its outer widget carries the class ``view-body``."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.HEADING
            yield Static(self.facts(), id=f"{self.ID_PREFIX}-facts", classes="view-facts", markup=False)
            yield from self.body()
            yield Static(HINT, id=f"{self.ID_PREFIX}-hint", classes="view-hint")

    def action_close(self) -> None:
        self.dismiss(None)

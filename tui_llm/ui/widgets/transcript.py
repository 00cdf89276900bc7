"""The conversation, one block per turn; the last block grows while streaming."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

ROLE_LABELS = {"user": "You", "assistant": "Model", "system": "System", "notice": "·"}


class TurnView(Static):
    DEFAULT_CSS = """
    TurnView { padding: 0 1; margin-bottom: 1; }
    TurnView.user { color: $text; background: $boost; }
    TurnView.assistant { color: $text; }
    TurnView.notice { color: $text-muted; text-style: italic; margin-bottom: 0; }
    """

    def __init__(self, role: str, text: str = "") -> None:
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self._render_text()

    def _render_text(self) -> None:
        label = ROLE_LABELS.get(self.role, self.role)
        body = Text()
        if self.role != "notice":
            body.append(f"{label}: ", style="bold")
        body.append(self.text)
        self.update(body)

    def set_text(self, text: str) -> None:
        self.text = text
        self._render_text()


class Transcript(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    Transcript { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def add_turn(self, role: str, text: str = "") -> TurnView:
        view = TurnView(role, text)
        self.mount(view)
        self.scroll_end(animate=False)
        return view

    def follow(self) -> None:
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False)

"""A transcript block for one session turn: labels per mode, actions set off."""

from __future__ import annotations

from rich.text import Text

from tui_llm.ui.widgets.transcript import TurnView


class SessionTurnView(TurnView):
    """``label`` names the speaker ('' for story prose); actions show as ``> action``."""

    DEFAULT_CSS = """
    SessionTurnView.action { text-style: bold; color: $accent; margin-bottom: 1; }
    SessionTurnView.out-of-context { color: $text-disabled; }
    """

    def __init__(self, role: str, text: str = "", label: str = "") -> None:
        self.label = label
        super().__init__(role, text)

    def _render_text(self) -> None:
        body = Text()
        if self.role == "action":
            body.append(f"> {self.text}", style="bold")
        else:
            if self.label:
                body.append(f"{self.label}: ", style="bold")
            body.append(self.text)
        self.update(body)

    def set_label(self, label: str) -> None:
        self.label = label
        self._render_text()

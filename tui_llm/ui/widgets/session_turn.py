"""A transcript block for one session turn: labels per mode, actions set off."""

from __future__ import annotations

from rich.text import Text

from tui_llm.ui.widgets.transcript import TurnView


class SessionTurnView(TurnView):
    """``label`` names the speaker ('' for story prose, the player's in italics); actions show as ``> action``."""

    DEFAULT_CSS = """
    SessionTurnView.action { text-style: bold; color: $accent; margin-bottom: 1; }
    SessionTurnView.out-of-context { color: $text-disabled; }
    """

    def __init__(self, role: str, text: str = "", label: str = "") -> None:
        self.label = label
        super().__init__(role, text)

    def _render_text(self) -> None:
        self.update(turn_text(self.role, self.text, self.label))

    def set_label(self, label: str) -> None:
        self.label = label
        self._render_text()


def turn_text(role: str, text: str, label: str) -> Text:
    body = Text()
    if role == "action":
        body.append(f"> {text}", style="bold")
    elif role == "user" and not label:
        body.append(text, style="italic")  # your own prose in a story, apart from the model's
    else:
        if label:
            body.append(f"{label}: ", style="bold")
        body.append(text)
    return body

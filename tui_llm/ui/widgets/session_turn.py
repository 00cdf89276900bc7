"""A transcript block for one session turn: labels per mode, actions set off, Markdown replies."""

from __future__ import annotations

from rich.text import Text

from tui_llm.safe_text import visible
from tui_llm.ui.widgets.markdown_text import STYLES, MarkdownText, starts_with_block
from tui_llm.ui.widgets.transcript import TurnView


class SessionTurnView(TurnView):
    """``label`` names the speaker ('' for story prose, the player's in italics); actions show as ``> action``.

    ``markdown``: the turn is a reply drawn as Markdown (chat and instruct modes).
    """

    COMPONENT_CLASSES = set(STYLES)
    DEFAULT_CSS = """
    SessionTurnView.action { text-style: bold; color: $accent; margin-bottom: 1; }
    SessionTurnView.out-of-context { color: $text-disabled; }
    SessionTurnView > .md--strong { text-style: bold; }
    SessionTurnView > .md--emphasis { text-style: italic; }
    SessionTurnView > .md--strike { text-style: strike; }
    SessionTurnView > .md--inline-code { color: $text-accent; background: $boost; }
    SessionTurnView > .md--code { color: $text-accent; }
    SessionTurnView > .md--gutter { color: $text-muted; }
    SessionTurnView > .md--fence { color: $text-muted; text-style: italic; }
    SessionTurnView > .md--heading { text-style: bold; color: $text-primary; }
    SessionTurnView > .md--heading-1 { text-style: bold underline; color: $text-primary; }
    SessionTurnView > .md--bullet { text-style: bold; color: $text-primary; }
    SessionTurnView > .md--quote { text-style: italic; color: $text-muted; }
    SessionTurnView > .md--rule { color: $text-muted; }
    """

    def __init__(self, role: str, text: str = "", label: str = "", markdown: bool = False) -> None:
        self.label = label
        self._markdown = MarkdownText() if markdown and role == "assistant" else None
        super().__init__(role, text)

    def _render_text(self) -> None:
        if self._markdown is None:
            self.update(turn_text(self.role, self.text, self.label))
            return
        head = ""
        if self.label:
            head = f"{self.label}:" + ("\n" if starts_with_block(self.text) else " ")
        self.update(self._markdown.render(self.text, head, "bold"))

    def set_label(self, label: str) -> None:
        self.label = label
        self._render_text()


def turn_text(role: str, text: str, label: str) -> Text:
    body = Text()
    text = visible(text)
    if role == "action":
        body.append(f"> {text}", style="bold")
    elif role == "user" and not label:
        body.append(text, style="italic")  # your own prose in a story, apart from the model's
    else:
        if label:
            body.append(f"{label}: ", style="bold")
        body.append(text)
    return body

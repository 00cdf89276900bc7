"""A transcript block for one session turn: labels per mode, actions set off, Markdown replies."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content, Span
from textual.selection import Selection

from tui_llm.safe_text import visible
from tui_llm.ui.widgets.lines_visual import LinesVisual, StripCache
from tui_llm.ui.widgets.markdown_text import MarkdownText, starts_with_block
from tui_llm.ui.widgets.transcript import TranscriptEntry, TurnView


class SessionTurnView(TurnView):
    """``label`` names the speaker ('' for story prose, the player's in italics); actions show as ``> action``.

    ``markdown``: the turn is a reply drawn as Markdown (chat and instruct modes), in the
    styles the ``Transcript`` declares.
    """

    DEFAULT_CSS = """
    SessionTurnView.action { text-style: bold; color: $accent; margin-bottom: 1; }
    SessionTurnView.out-of-context { color: $text-disabled; }
    """

    def __init__(self, role: str, text: str = "", label: str = "", markdown: bool = False) -> None:
        self.label = label
        self._markdown = MarkdownText() if markdown and role == "assistant" else None
        self._strips = StripCache()
        super().__init__(role, text)

    def _render_text(self) -> None:
        if self._markdown is None:
            self.update(turn_text(self.role, self.text, self.label))
            return
        lines = self._markdown.lines(self.text, reply_head(self.label, self.text), "bold")
        self.update(LinesVisual(lines, self._strips))

    def set_label(self, label: str) -> None:
        self.label = label
        self._render_text()

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """Text selected with the mouse, as drawn (Copy reply gives the Markdown source)."""
        visual = self._render()
        if isinstance(visual, LinesVisual):
            return selection.extract(visual.plain), "\n"
        return super().get_selection(selection)


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


def reply_head(label: str, text: str) -> str:
    """The speaker's label before a Markdown reply: on a line of its own when a block opens the reply."""
    if not label:
        return ""
    return f"{label}:" + ("\n" if starts_with_block(text) else " ")


def session_content(entry: TranscriptEntry) -> Content | None:
    """What the transcript's history draws for a styled turn, as ``SessionTurnView`` draws it."""
    if entry.role == "assistant" and entry.has_class("markdown"):
        return MarkdownText().render(entry.text, reply_head(entry.label or "", entry.text), "bold")
    if entry.role == "user" and entry.label == "":
        text = visible(entry.text).expandtabs(4)
        return Content(text, [Span(0, len(text), "italic")])
    return None

"""The conversation: the newest turns as widgets, everything older as lines of text.

A transcript can hold thousands of turns (a long saved session), so it does
not build a widget per turn. The newest turns (at most ``TAIL_MAX``) are
``TurnView`` widgets: the reply streams into one of them. Older turns fold
into one ``TranscriptHistory`` widget that keeps them as data and draws only
the lines on screen (Textual's line API). Each turn, wherever it is drawn, is
addressed through its ``TranscriptEntry``: ``set_text``, ``set_label``,
``set_class`` and ``remove`` work the same whether it is a widget right now or
a few lines of the history.
"""

from __future__ import annotations

from typing import Callable, Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.content import Content
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static

from tui_llm.safe_text import visible
from tui_llm.ui.widgets.markdown_text import STYLES, markdown_css
from tui_llm.ui.widgets.transcript_history import TranscriptHistory

ROLE_LABELS = {"user": "You", "assistant": "Model", "system": "System", "notice": "·"}
# Widgets kept for the newest turns: folding starts above TAIL_MAX, down to TAIL_KEEP.
TAIL_KEEP = 40
TAIL_MAX = 60


def turn_prefix(role: str, label: str | None) -> str:
    """What comes before a turn's text: ``"You: "``, ``"> "`` for an action, or nothing."""
    if role == "action":
        return "> "
    if role == "notice":
        return ""
    if label is None:
        label = ROLE_LABELS.get(role, role)
    return f"{label}: " if label else ""


def turn_text(role: str, text: str, label: str | None = None) -> Text:
    """A turn as rich text: the prefix in bold (an action is bold throughout)."""
    body = Text()
    prefix = turn_prefix(role, label)
    if role == "action":
        body.append(prefix + visible(text), style="bold")
        return body
    if prefix:
        body.append(prefix, style="bold")
    body.append(visible(text))
    return body


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
        self.update(turn_text(self.role, self.text, None))

    def set_text(self, text: str) -> None:
        self.text = text
        self._render_text()

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        """As ``Static.update``, but a text that still wraps to the same height only repaints.

        A streaming reply changes ~20 times a second: a layout pass lays out the whole
        screen, a repaint redraws this widget alone.
        """
        super().update(content, layout=False)
        if layout and not self._same_height():
            self.refresh(layout=True)

    def _same_height(self) -> bool:
        size = self.content_size
        if not self.is_mounted or size.width <= 0:
            return False
        return self.get_content_height(size, self.app.size, size.width) == size.height


ViewFactory = Callable[["TranscriptEntry"], TurnView]
# How the history draws a turn whose look is more than its text (None: as plain text).
ContentFactory = Callable[["TranscriptEntry"], "Content | None"]


def plain_view(entry: "TranscriptEntry") -> TurnView:
    return TurnView(entry.role, entry.text)


class TranscriptEntry:
    """One turn of a transcript, drawn by a ``TurnView`` or by the history.

    ``label`` None means the role's default label (``ROLE_LABELS``); ``make_view``
    builds the widget when the turn is among the newest ones, ``make_content`` what
    the history draws of a styled turn (both must look the same).
    """

    def __init__(
        self,
        role: str,
        text: str = "",
        label: str | None = None,
        make_view: ViewFactory = plain_view,
        make_content: ContentFactory | None = None,
    ) -> None:
        self.role = role
        self.text = text
        self.label = label
        self.make_view = make_view
        self.make_content = make_content
        self.classes: set[str] = set()
        self.view: TurnView | None = None
        self.transcript: Transcript | None = None

    def __repr__(self) -> str:
        return f"TranscriptEntry({self.role!r}, {self.text[:20]!r})"

    def build_view(self) -> TurnView:
        view = self.make_view(self)
        if self.classes:
            view.add_class(*self.classes)
        self.view = view
        return view

    def set_text(self, text: str) -> None:
        self.text = text
        if self.view is not None:
            self.view.set_text(text)
        else:
            self._history_changed()

    def set_label(self, label: str) -> None:
        self.label = label
        if self.view is not None and hasattr(self.view, "set_label"):
            self.view.set_label(label)
        elif self.view is not None:
            self.view.refresh()
        else:
            self._history_changed()

    def has_class(self, name: str) -> bool:
        return name in self.classes

    def set_class(self, add: bool, name: str) -> None:
        if (name in self.classes) == add:
            return
        if add:
            self.classes.add(name)
        else:
            self.classes.discard(name)
        if self.view is not None:
            self.view.set_class(add, name)
        else:
            self._history_changed()

    def remove(self) -> None:
        if self.transcript is not None:
            self.transcript.remove_entry(self)

    def _history_changed(self) -> None:
        if self.transcript is not None:
            self.transcript.history.entry_changed(self)

    def styled(self) -> Content | None:
        return self.make_content(self) if self.make_content is not None else None

    def content(self) -> tuple[str, int, bool]:
        """The turn as plain text, how many leading characters are bold, and whether all are."""
        prefix = turn_prefix(self.role, self.label)
        return prefix + visible(self.text).expandtabs(4), len(prefix), self.role == "action"

class Transcript(VerticalScroll, can_focus=False):
    """The turns; it declares the Markdown styles once for all of them (per turn, they cost start-up time)."""

    COMPONENT_CLASSES = set(STYLES)
    DEFAULT_CSS = """
    Transcript { height: 1fr; scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    """ + markdown_css("Transcript")

    def __init__(self, *children: Widget, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self.history = TranscriptHistory()
        self._tail: list[TranscriptEntry] = []

    def compose(self):
        yield self.history

    @property
    def entries(self) -> list[TranscriptEntry]:
        """Every turn, oldest first: the history's, then the newest ones."""
        return [*self.history.entries, *self._tail]

    @property
    def view_count(self) -> int:
        return len(self._tail)

    def show(self, entries: Sequence[TranscriptEntry]) -> None:
        """Replace the whole transcript; only the newest ``TAIL_KEEP`` turns become widgets."""
        for entry in self._tail:
            if entry.view is not None:
                entry.view.remove()
                entry.view = None
        split = max(len(entries) - TAIL_KEEP, 0)
        for entry in entries:
            entry.transcript = self
            entry.view = None
        self.history.set_entries(entries[:split])
        self._tail = list(entries[split:])
        views = [entry.build_view() for entry in self._tail]
        if views:
            self.mount_all(views)
        self.scroll_end(animate=False)

    def clear(self) -> None:
        self.show([])

    def append(self, entry: TranscriptEntry) -> TranscriptEntry:
        """Add a turn at the end (as a widget) and scroll to it."""
        entry.transcript = self
        self._tail.append(entry)
        self.mount(entry.build_view())
        if len(self._tail) > TAIL_MAX:
            self._fold(len(self._tail) - TAIL_KEEP)
        self.scroll_end(animate=False)
        return entry

    def add_turn(self, role: str, text: str = "") -> TurnView:
        entry = self.append(TranscriptEntry(role, text))
        assert entry.view is not None
        return entry.view

    def remove_entry(self, entry: TranscriptEntry) -> None:
        if entry in self._tail:
            self._tail.remove(entry)
            if entry.view is not None:
                entry.view.remove()
                entry.view = None
        elif entry in self.history.entries:
            self.history.discard(entry)
        entry.transcript = None

    def _fold(self, count: int) -> None:
        """Move the ``count`` oldest widgets into the history (same lines, no widgets)."""
        folded, self._tail = self._tail[:count], self._tail[count:]
        views = [entry.view for entry in folded if entry.view is not None]
        for entry in folded:
            entry.view = None
        removed = self.remove_children(views)
        self.history.extend(folded)

        async def scroll_when_settled() -> None:
            await removed  # the widgets leave the DOM a little later than this call
            self.scroll_end(animate=False)

        self.call_later(scroll_when_settled)

    def scroll_pages(self, direction: int) -> None:
        """A page up (-1) or down (1), or to the end (0)."""
        if direction < 0:
            self.scroll_page_up(animate=False)
        elif direction > 0:
            self.scroll_page_down(animate=False)
        else:
            self.scroll_end(animate=False)

    def follow(self) -> None:
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False)

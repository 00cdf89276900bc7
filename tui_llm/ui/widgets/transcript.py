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

import re
from bisect import bisect_right
from typing import Callable, Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.strip import Strip
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static

from tui_llm.safe_text import visible

ROLE_LABELS = {"user": "You", "assistant": "Model", "system": "System", "notice": "·"}
# Widgets kept for the newest turns: folding starts above TAIL_MAX, down to TAIL_KEEP.
TAIL_KEEP = 40
TAIL_MAX = 60
# Textual keeps every line a widget has drawn until it refreshes; the history lets go
# after this many, so scrolling through a long session does not pile up memory (and GC time).
HISTORY_CACHED_LINES = 600
# Turns with no bottom margin (the others are followed by a blank line).
TIGHT_ROLES = {"notice"}
_TOKEN = re.compile(r"\s+|\S+")


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


def plain_view(entry: "TranscriptEntry") -> TurnView:
    return TurnView(entry.role, entry.text)


class TranscriptEntry:
    """One turn of a transcript, drawn by a ``TurnView`` or by the history.

    ``label`` None means the role's default label (``ROLE_LABELS``); ``make_view``
    builds the widget when the turn is among the newest ones.
    """

    def __init__(
        self,
        role: str,
        text: str = "",
        label: str | None = None,
        make_view: ViewFactory = plain_view,
    ) -> None:
        self.role = role
        self.text = text
        self.label = label
        self.make_view = make_view
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

    def content(self) -> tuple[str, int, bool]:
        """The turn as plain text, how many leading characters are bold, and whether all are."""
        prefix = turn_prefix(self.role, self.label)
        return prefix + visible(self.text).expandtabs(4), len(prefix), self.role == "action"


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def _cut(line: str, start: int, cells: int) -> int:
    """The index in ``line`` where ``cells`` cells from ``start`` end (at least one character)."""
    if line.isascii():
        return start + max(cells, 1)
    end, used = start, 0
    while end < len(line):
        size = cell_len(line[end])
        if used + size > cells and end > start:
            break
        used += size
        end += 1
    return end


def wrap_line(line: str, width: int) -> list[tuple[int, int]]:
    """Greedy word wrap of one line (no newlines) to ``width`` cells, as (start, end) spans.

    Spaces where a line breaks are dropped; a word longer than the width is cut.
    """
    if _cells(line) <= width:
        return [(0, len(line))]
    spans: list[tuple[int, int]] = []
    start = used = 0
    for match in _TOKEN.finditer(line):
        token_start, token_end = match.span()
        size = _cells(match.group())
        if used + size <= width:
            used += size
            continue
        if match.group().isspace():
            spans.append((start, token_start))
            start, used = token_end, 0
            continue
        if used:
            spans.append((start, token_start))
            start, used = token_start, 0
        while size > width:
            cut = _cut(line, start, width)
            spans.append((start, cut))
            start = cut
            size = _cells(line[start:token_end])
        used = size
    spans.append((start, len(line)))
    return spans


def wrap_text(text: str, width: int) -> list[tuple[int, int]]:
    """Spans of ``text`` (which may hold newlines) wrapped to ``width`` cells."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        spans.extend((offset + start, offset + end) for start, end in wrap_line(line, width))
        offset += len(line) + 1
    return spans


class TranscriptHistory(Widget):
    """Older turns, drawn line by line: only the lines on screen are rendered."""

    COMPONENT_CLASSES = {
        "transcript-history--user",
        "transcript-history--assistant",
        "transcript-history--notice",
        "transcript-history--action",
        "transcript-history--other",
        "transcript-history--out-of-context",
    }
    DEFAULT_CSS = """
    TranscriptHistory { height: auto; }
    TranscriptHistory > .transcript-history--user { color: $text; background: $boost; }
    TranscriptHistory > .transcript-history--assistant { color: $text; }
    TranscriptHistory > .transcript-history--other { color: $text; }
    TranscriptHistory > .transcript-history--notice { color: $text-muted; text-style: italic; }
    TranscriptHistory > .transcript-history--action { color: $accent; text-style: bold; }
    TranscriptHistory > .transcript-history--out-of-context { color: $text-disabled; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[TranscriptEntry] = []
        self._width = -1
        self._spans: list[list[tuple[int, int]] | None] = []
        self._starts: list[int] = []
        self._total = 0
        self._drawn = 0

    # -- content --------------------------------------------------------
    def set_entries(self, entries: Iterable[TranscriptEntry]) -> None:
        self.entries = list(entries)
        self._invalidate()

    def extend(self, entries: Sequence[TranscriptEntry]) -> None:
        self.entries.extend(entries)
        if self._width > 0:
            self._spans.extend(None for _ in entries)
            self._measure()
        self.refresh(layout=True)

    def discard(self, entry: TranscriptEntry) -> None:
        index = self.entries.index(entry)
        del self.entries[index]
        if self._width > 0:
            del self._spans[index]
            self._measure()
        self.refresh(layout=True)

    def entry_changed(self, entry: TranscriptEntry) -> None:
        if self._width > 0:
            self._spans[self.entries.index(entry)] = None
            self._measure()
        self.refresh(layout=True)

    def _invalidate(self) -> None:
        self._width = -1
        self._spans = []
        self._starts = []
        self._total = 0
        self.refresh(layout=True)

    # -- measuring ------------------------------------------------------
    def _text_width(self, width: int) -> int:
        return max(width - 2, 1)  # one cell of padding each side, as TurnView

    def _measure(self) -> None:
        """Wrap what needs wrapping at the current width, and place every entry."""
        text_width = self._text_width(self._width)
        starts: list[int] = []
        total = 0
        for index, entry in enumerate(self.entries):
            spans = self._spans[index]
            if spans is None:
                spans = self._spans[index] = wrap_text(entry.content()[0], text_width)
            starts.append(total)
            total += len(spans) + (0 if entry.role in TIGHT_ROLES else 1)
        self._starts = starts
        self._total = total

    def _ensure(self, width: int) -> None:
        if width != self._width:
            self._width = width
            self._spans = [None] * len(self.entries)
            self._measure()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.entries or width <= 0:
            return 0
        self._ensure(width)
        return self._total

    # -- drawing --------------------------------------------------------
    def _styles_for(self, entry: TranscriptEntry) -> tuple[Style, Style]:
        """(text style, line style) for an entry: the line style carries the background."""
        role = entry.role if entry.role in ("user", "assistant", "notice", "action") else "other"
        style = self.get_component_rich_style(f"transcript-history--{role}")
        if "out-of-context" in entry.classes:
            style += self.get_component_rich_style("transcript-history--out-of-context", partial=True)
        return style, Style(bgcolor=style.bgcolor)

    def render_line(self, y: int) -> Strip:
        self._drawn += 1
        if self._drawn > HISTORY_CACHED_LINES:
            self._drawn = 0
            self.call_later(self.refresh)
        width = self.size.width
        base = self.rich_style
        if not self.entries or width <= 0:
            return Strip.blank(width, base)
        self._ensure(width)
        index = bisect_right(self._starts, y) - 1
        if index < 0:
            return Strip.blank(width, base)
        entry = self.entries[index]
        spans = self._spans[index] or []
        row = y - self._starts[index]
        if row >= len(spans):
            return Strip.blank(width, base)
        text, bold_until, all_bold = entry.content()
        start, end = spans[row]
        style, line_style = self._styles_for(entry)
        bold = style + Style(bold=True)
        segments = [Segment(" ", line_style)]
        if all_bold:
            segments.append(Segment(text[start:end], bold))
        else:
            if start < bold_until:
                segments.append(Segment(text[start:min(end, bold_until)], bold))
            if end > bold_until:
                segments.append(Segment(text[max(start, bold_until):end], style))
        used = 1 + _cells(text[start:end])
        if used < width:
            segments.append(Segment(" " * (width - used), line_style))
        if used > width:  # only on a terminal too narrow for the padding
            return Strip(segments).crop(0, width)
        return Strip(segments, width)


class Transcript(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    Transcript { height: 1fr; scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    """

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

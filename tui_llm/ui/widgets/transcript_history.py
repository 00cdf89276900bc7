"""The transcript's older turns, kept as data and drawn line by line.

Only the lines on screen are rendered (Textual's line API), so a saved session
of thousands of turns opens and scrolls quickly. Plain turns are wrapped from
their text alone; a styled turn (a Markdown reply, story prose) is drawn from
the same content its widget would show, cut at the same line breaks.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Iterable, Protocol, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget

from tui_llm.ui.widgets.line_wrap import text_cells, wrap_text

# Textual keeps every line a widget has drawn until it refreshes; the history lets go
# after this many, so scrolling through a long session does not pile up memory (and GC time).
HISTORY_CACHED_LINES = 600
# Turns with no bottom margin (the others are followed by a blank line).
TIGHT_ROLES = {"notice"}


class HistoryEntry(Protocol):
    """What the history needs of a turn (``TranscriptEntry`` in transcript.py)."""

    role: str
    classes: set[str]

    def content(self) -> tuple[str, int, bool]: ...

    def styled(self) -> Content | None: ...


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
        self.entries: list[HistoryEntry] = []
        self._width = -1
        self._spans: list[list[tuple[int, int]] | None] = []
        self._styled: list[Content | None] = []
        self._starts: list[int] = []
        self._total = 0
        self._drawn = 0

    # -- content --------------------------------------------------------
    def set_entries(self, entries: Iterable[HistoryEntry]) -> None:
        self.entries = list(entries)
        self._invalidate()

    def extend(self, entries: Sequence[HistoryEntry]) -> None:
        self.entries.extend(entries)
        if self._width > 0:
            self._spans.extend(None for _ in entries)
            self._styled.extend(None for _ in entries)
            self._measure()
        self.refresh(layout=True)

    def discard(self, entry: HistoryEntry) -> None:
        index = self.entries.index(entry)
        del self.entries[index]
        if self._width > 0:
            del self._spans[index]
            del self._styled[index]
            self._measure()
        self.refresh(layout=True)

    def entry_changed(self, entry: HistoryEntry) -> None:
        if self._width > 0:
            self._spans[self.entries.index(entry)] = None
            self._measure()
        self.refresh(layout=True)

    def _invalidate(self) -> None:
        self._width = -1
        self._spans = []
        self._styled = []
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
                styled = self._styled[index] = entry.styled()
                plain = entry.content()[0] if styled is None else styled.plain
                spans = self._spans[index] = wrap_text(plain, text_width)
            starts.append(total)
            total += len(spans) + (0 if entry.role in TIGHT_ROLES else 1)
        self._starts = starts
        self._total = total

    def _ensure(self, width: int) -> None:
        if width != self._width:
            self._width = width
            self._spans = [None] * len(self.entries)
            self._styled = [None] * len(self.entries)
            self._measure()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.entries or width <= 0:
            return 0
        self._ensure(width)
        return self._total

    # -- drawing --------------------------------------------------------
    def _styles_for(self, entry: HistoryEntry) -> tuple[Style, Style]:
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
        start, end = spans[row]
        style, line_style = self._styles_for(entry)
        segments = [Segment(" ", line_style)]
        styled = self._styled[index]
        if styled is not None:
            text = styled.plain
            base = VisualStyle.from_rich_style(style)
            segments += [Segment(piece, look.rich_style)
                         for piece, look in styled[start:end].render(base, "", self._get_style)]
            return self._finish(segments, text_cells(text[start:end]), width, line_style)
        text, bold_until, all_bold = entry.content()
        bold = style + Style(bold=True)
        if all_bold:
            segments.append(Segment(text[start:end], bold))
        else:
            if start < bold_until:
                segments.append(Segment(text[start:min(end, bold_until)], bold))
            if end > bold_until:
                segments.append(Segment(text[max(start, bold_until):end], style))
        return self._finish(segments, text_cells(text[start:end]), width, line_style)

    @staticmethod
    def _finish(segments: list[Segment], cells: int, width: int, line_style: Style) -> Strip:
        """The line padded to ``width`` (the text after one cell of padding takes ``cells``)."""
        used = 1 + cells
        if used < width:
            segments.append(Segment(" " * (width - used), line_style))
        if used > width:  # only on a terminal too narrow for the padding
            return Strip(segments).crop(0, width)
        return Strip(segments, width)

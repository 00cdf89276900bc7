"""Word wrap of plain text to a width in cells, as (start, end) spans of the text.

The transcript's history measures and draws thousands of turns with it: it only
finds where lines break, it builds no styled text.
"""

from __future__ import annotations

import re

from rich.cells import cell_len

_TOKEN = re.compile(r"\s+|\S+")


def text_cells(text: str) -> int:
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
    if text_cells(line) <= width:
        return [(0, len(line))]
    spans: list[tuple[int, int]] = []
    start = used = 0
    for match in _TOKEN.finditer(line):
        token_start, token_end = match.span()
        size = text_cells(match.group())
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
            size = text_cells(line[start:token_end])
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

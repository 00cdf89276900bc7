"""Which table columns a width has room for: the least important go first, the name shrinks.

A ``DataTable`` draws each column with one cell of padding either side, so a
column of width ``w`` takes ``w + 2``. One column (the name) is flexible: it
gives up width down to its minimum before anything is dropped, and takes back
whatever the dropped columns leave.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import DataTable

CELL_PADDING = 2
SCROLLBAR = 2


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    keep: int = 0  # the higher, the longer it stays as the table narrows
    min_width: int = 0  # > 0: the flexible column, shrunk to this before others are dropped


def plan_columns(columns: list[Column], available: int) -> list[tuple[Column, int]]:
    """The columns that fit in ``available`` cells, in their order, each with its width."""
    kept = list(columns)
    widths = {c.key: (c.min_width or c.width) for c in columns}

    def total() -> int:
        return sum(widths[c.key] + CELL_PADDING for c in kept)

    droppable = sorted((c for c in columns if not c.min_width), key=lambda c: c.keep)
    while total() > available and droppable:
        kept.remove(droppable.pop(0))
    for column in kept:
        if column.min_width:
            widths[column.key] = max(column.min_width, min(column.width, widths[column.key] + available - total()))
    return [(c, widths[c.key]) for c in kept]


def fit_columns(table: DataTable, columns: list[Column], width: int) -> bool:
    """Give ``table`` (as wide as ``width``) the columns that fit; clears it and says True
    only when they change."""
    planned = [(c.key, c.label, w) for c, w in plan_columns(columns, width - SCROLLBAR)]
    if planned == [(c.key.value, str(c.label), c.width) for c in table.ordered_columns]:
        return False
    table.clear(columns=True)
    for key, label, column_width in planned:
        table.add_column(label, key=key, width=column_width)
    return True

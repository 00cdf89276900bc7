"""Which columns a table keeps as the terminal narrows."""

from tui_llm.ui.widgets.column_plan import Column, plan_columns

COLUMNS = [
    Column("name", "Name", 30, min_width=10),
    Column("size", "Size", 8, keep=2),
    Column("extra", "Extra", 8, keep=1),
    Column("fit", "Fit", 8, keep=3),
]


def planned(width: int) -> list[tuple[str, int]]:
    return [(column.key, w) for column, w in plan_columns(COLUMNS, width)]


def test_everything_at_its_width_when_there_is_room():
    assert planned(200) == [("name", 30), ("size", 8), ("extra", 8), ("fit", 8)]


def test_the_name_shrinks_first_then_the_least_kept_column_goes():
    assert planned(50) == [("name", 18), ("size", 8), ("extra", 8), ("fit", 8)]  # each takes 2 more
    assert planned(42) == [("name", 10), ("size", 8), ("extra", 8), ("fit", 8)]
    assert planned(39) == [("name", 17), ("size", 8), ("fit", 8)]  # extra dropped, the name takes its room
    assert planned(31) == [("name", 19), ("fit", 8)]


def test_the_name_and_the_most_kept_column_stay_even_when_nothing_fits():
    assert planned(5) == [("name", 10)]
    assert planned(22) == [("name", 10), ("fit", 8)]

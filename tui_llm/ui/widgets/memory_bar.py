"""A used/free memory bar that reads without colour: ``RAM  ███░░░  3.1 GB used · 4.9 GB free of 8.0 GB``."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_llm.units import human_size

LABEL_WIDTH = 6
MIN_BAR = 8


def bar_text(label: str, used: int, total: int, width: int) -> Text:
    """The whole line for ``width`` cells; the bar takes what the words leave."""
    if total <= 0:
        return Text(f"{label:<{LABEL_WIDTH}}none")
    used = min(max(used, 0), total)
    free = total - used
    words = f"  {human_size(used)} used · {human_size(free)} free of {human_size(total)}"
    cells = max(MIN_BAR, min(40, width - LABEL_WIDTH - len(words)))
    filled = round(cells * used / total)
    text = Text(f"{label:<{LABEL_WIDTH}}")
    share = used / total
    style = "red" if share > 0.9 else "yellow" if share > 0.7 else "green"
    text.append("█" * filled, style=style)
    text.append("░" * (cells - filled), style="dim")
    text.append(words)
    return text


class MemoryBar(Static):
    DEFAULT_CSS = """
    MemoryBar { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, label: str, used: int = 0, total: int = 0, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.label = label
        self.used = used
        self.total = total

    def set_usage(self, used: int, total: int, label: str | None = None) -> None:
        self.used, self.total = used, total
        if label is not None:
            self.label = label
        self.refresh()

    def render(self) -> Text:
        return bar_text(self.label, self.used, self.total, self.size.width or 80)

"""Fit badges: a short mark for a fit-engine verdict that reads without colour too."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# verdict kind -> (mark and label, style)
BADGES: dict[str, tuple[str, str]] = {
    "fits on GPU": ("✓ GPU", "bold green"),
    "partial offload": ("◐ GPU+RAM", "green"),
    "fits in RAM": ("✓ RAM", "green"),
    "tight": ("! tight", "bold yellow"),
    "too large": ("✗ too big", "bold red"),
    "fit unknown": ("? unknown", "dim"),  # a catalog model whose shape is not known yet
}
GGML_BADGE = ("– GGML", "dim")
PENDING_BADGE = ("… probing", "dim")


def badge_text(kind: str | None, ggml: bool = False) -> Text:
    """The badge for a verdict kind (``None`` while the machine is still being probed)."""
    if ggml:
        label, style = GGML_BADGE
    elif kind is None:
        label, style = PENDING_BADGE
    else:
        label, style = BADGES.get(kind, (kind, ""))
    return Text(label, style=style)


class FitBadge(Static):
    """A badge and, beside it, why: the verdict's own explanation."""

    DEFAULT_CSS = """
    FitBadge { height: auto; }
    """

    def show(self, kind: str | None, explanation: str = "", ggml: bool = False) -> None:
        text = badge_text(kind, ggml)
        if explanation:
            text.append(f"  {explanation}")
        self.update(text)

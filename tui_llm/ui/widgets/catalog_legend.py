"""What the catalog's symbols mean: a one-line legend for the screen, the whole story for F1."""

from __future__ import annotations

from rich.cells import cell_len

from tui_llm.machine import catalog_fit
from tui_llm.machine.speed import TOO_SLOW_FOR_CHAT

LEGEND = ("✓ fits", "◐ GPU+RAM", "! tight", "✗ too big", "? unknown", "~ estimated", "★ tier pick")
HELP = "\n".join((
    "Fit, for this machine as probed: ✓ GPU fits in VRAM; ✓ RAM fits in RAM; ◐ GPU+RAM part on "
    "the GPU, the rest in RAM; ! tight fits with little to spare; ✗ too big does not fit; "
    "? unknown the fit engine does not know the model's architecture yet (tui-llm catalog --refresh "
    "reads its header from the hub); – GGML an old format llama.cpp no longer loads.",
    f"Tok/s: estimated tokens a second while writing a reply; \"slow\": under {TOO_SLOW_FOR_CHAT:g}, "
    "too slow for chat.",
    "Size: the file; ~ marks an estimate (the exact size is not published).",
    f"Needs: RAM to run it without a GPU at {catalog_fit.DEFAULT_CONTEXT:,} tokens of context.",
    "Tier: the smallest machine (GB of RAM) that runs it on the CPU.",
    "★ recommended for the chosen tier (Speed, Balanced or Quality).",
    "A search looks in every tier; press t during a search to narrow it to one.",
))


def legend(width: int) -> str:
    """The symbols' one-line legend, as spaced out as ``width`` allows."""
    for gap, more in (("  ", "  F1: more"), (" ", "  F1: more"), ("  ", ""), (" ", "")):
        text = gap.join(LEGEND) + more
        if cell_len(text) <= width:
            return text
    return text

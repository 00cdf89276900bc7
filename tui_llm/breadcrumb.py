"""What the app is doing, left in a small file for the supervisor to tell after a crash.

The interactive ``tui-llm`` runs under a supervisor (:mod:`tui_llm.supervisor`)
that names the file in ``TUI_LLM_BREADCRUMB``. Without it, nothing is written.
"""

from __future__ import annotations

import os

ENV = "TUI_LLM_BREADCRUMB"


def leave(doing: str) -> None:
    """Record ``doing`` ("loading the model x.gguf"); called from worker threads, not the event loop."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(doing)
    except OSError:
        pass  # a breadcrumb is a courtesy: never a reason to fail


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(300).strip()
    except OSError:
        return ""

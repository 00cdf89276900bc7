"""A list of every key the current screen answers to (footers at 80 columns cut some off)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class KeysDialog(ModalScreen[None]):
    DEFAULT_CSS = """
    KeysDialog { align: center middle; }
    KeysDialog > VerticalScroll {
        width: 60; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close", id="keys.close"),
    ]

    def __init__(self, rows: list[tuple[str, str]], notes: str = "") -> None:
        super().__init__()
        self.rows = rows
        self.notes = notes  # the screen's HELP: what its symbols and columns mean

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, description in self.rows:
            table.add_row(key, description)
        with VerticalScroll():
            yield Static("Keys on this screen (Esc closes)")
            yield Static(table)
            if self.notes:
                yield Static(Text("\n" + self.notes))

    def action_dismiss(self) -> None:
        self.dismiss(None)


def own_bindings(app, screen) -> list[tuple[Binding, object]]:
    """Our own bindings (they carry ids) that work now: the screen's, then the app's, once per key."""
    found: list[tuple[Binding, object]] = []
    seen: set[str] = set()
    for source in (screen, app):
        bindings = [b for group in source._bindings.key_to_bindings.values() for b in group]
        for binding in bindings:
            if not binding.id or not binding.description or binding.key in seen:
                continue
            if source is screen and screen.check_action(binding.action, ()) is False:
                continue
            seen.add(binding.key)
            found.append((binding, source))
    return found


def screen_keys(app, screen) -> list[tuple[str, str]]:
    """(key, description) for every key of the screen, as F1 lists them."""
    return [(app.get_key_display(b), b.description) for b, _ in own_bindings(app, screen)]

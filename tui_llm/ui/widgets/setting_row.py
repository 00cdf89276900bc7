"""One line of a settings form: label, editor, and a one-line explanation or status."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static


class SettingRow(Horizontal):
    DEFAULT_CSS = """
    SettingRow { height: 1; }
    SettingRow > .setting-label { width: 18; height: 1; padding: 0 1 0 0; }
    SettingRow > Input { width: 14; height: 1; }
    SettingRow > Select { width: 28; height: 1; }
    SettingRow > .setting-note {
        width: 1fr; height: 1; padding: 0 0 0 1; color: $text-muted;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    SettingRow.-error > .setting-note { color: $error; text-style: bold; }
    SettingRow.-reload > .setting-note { color: $warning; }
    SettingRow:focus-within > .setting-label { text-style: bold reverse; }
    """

    def __init__(self, group: str, field: str, label: str, help: str, editor: Widget) -> None:
        super().__init__(id=f"row-{group}-{field}")
        self.group = group
        self.field = field
        self.label = label
        self.help = help
        self.editor = editor
        self.error = ""
        self.reload = False

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="setting-label")
        yield self.editor
        yield Static(self.help, classes="setting-note", markup=False)

    def set_error(self, error: str) -> None:
        self.error = error
        self._show()

    def set_reload(self, reload: bool) -> None:
        self.reload = reload
        self._show()

    @property
    def note(self) -> str:
        """What the note line says now (plain text, so NO_COLOR loses nothing)."""
        if self.error:
            return f"! {self.error}"
        if self.reload:
            return f"needs reload · {self.help}"
        return self.help

    def _show(self) -> None:
        self.set_class(bool(self.error), "-error")
        self.set_class(self.reload and not self.error, "-reload")
        if self.is_mounted:
            self.query_one(".setting-note", Static).update(self.note)

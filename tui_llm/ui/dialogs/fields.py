"""Edit a few named texts at once (Memory, Author's note, a persona, a past turn)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static, TextArea

from tui_llm.ui.widgets.ordered_input import OrderedInput, OrderedTextArea


@dataclass(frozen=True)
class Field:
    """``lines`` > 1 gives a multi-line editor; a bool value gives a checkbox."""

    key: str
    label: str
    value: str | bool
    lines: int = 1


class FieldsDialog(ModalScreen[dict[str, Any] | None]):
    """Returns {key: new value} on Ctrl+S, None on Esc."""

    DEFAULT_CSS = """
    FieldsDialog { align: center middle; }
    FieldsDialog > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 23;
        border: round $accent; background: $surface; padding: 0 1;
    }
    FieldsDialog #fields-title { text-style: bold; height: 1; }
    FieldsDialog VerticalScroll { height: auto; max-height: 19; }
    FieldsDialog Label { height: 1; margin-top: 0; color: $text-muted; }
    FieldsDialog TextArea { height: auto; }
    FieldsDialog #fields-hint { color: $text-muted; height: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="dialog.save"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, title: str, fields: list[Field],
                 hint: str = "Ctrl+S saves · Esc cancels · Tab (or Enter) moves on") -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="fields-title")
            with VerticalScroll():
                for field in self.fields:
                    if isinstance(field.value, bool):
                        yield Checkbox(field.label, field.value, id=f"field-{field.key}")
                        continue
                    yield Label(field.label)
                    if field.lines > 1:
                        area = OrderedTextArea(
                            field.value, id=f"field-{field.key}", soft_wrap=True,
                            tab_behavior="focus", show_line_numbers=False,
                        )
                        area.styles.height = field.lines + 2
                        yield area
                    else:
                        # The cursor waits at the end: typing adds to the text instead of replacing it.
                        yield OrderedInput(field.value, id=f"field-{field.key}", select_on_focus=False)
            yield Static(self.hint, id="fields-hint")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#field-{self.fields[0].key}").focus()

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for field in self.fields:
            widget = self.query_one(f"#field-{field.key}")
            if isinstance(widget, TextArea):
                result[field.key] = widget.text
            elif isinstance(widget, (Input, Checkbox)):
                result[field.key] = widget.value
        return result

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a one-line field goes to the next field; in the last one it saves."""
        event.stop()
        last = self.query_one(f"#field-{self.fields[-1].key}")
        if event.input is last:
            self.action_save()
        else:
            self.focus_next()

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)

"""The next prompt, exactly as the model would read it: scrollable, read-only, Esc closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import TextArea

from tui_llm.chat.preview import Preview
from tui_llm.ui.dialogs.read_only_view import ReadOnlyView


def preview_facts(preview: Preview) -> str:
    lore = ", ".join(preview.lore) if preview.lore else "none"
    how = (f"template {preview.template or '?'}" if preview.rendered
           else "messages as sent: the server applies its template")
    return f"{preview.prompt_tokens} of {preview.budget} prompt tokens · {how} · lore: {lore}"


class PromptView(ReadOnlyView):
    HEADING = "Next prompt (what the model reads)"
    ID_PREFIX = "prompt"
    BINDINGS = [Binding("escape", "close", "Close", id="prompt_view.close")]

    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview

    def facts(self) -> str:
        facts = preview_facts(self.preview)
        return f"{facts}\n{self.preview.notice}" if self.preview.notice else facts

    def body(self) -> ComposeResult:
        yield TextArea(self.preview.prompt, read_only=True, soft_wrap=True,
                       show_line_numbers=False, id="prompt-text", classes="view-body")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

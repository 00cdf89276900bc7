"""The next prompt, exactly as the model would read it: scrollable, read-only, Esc closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from tui_llm.chat.preview import Preview


def preview_facts(preview: Preview) -> str:
    lore = ", ".join(preview.lore) if preview.lore else "none"
    how = (f"template {preview.template or '?'}" if preview.rendered
           else "messages as sent: the server applies its template")
    return f"{preview.prompt_tokens} of {preview.budget} prompt tokens · {how} · lore: {lore}"


class PromptView(ModalScreen[None]):
    DEFAULT_CSS = """
    PromptView { align: center middle; }
    PromptView > Vertical {
        width: 100%; height: 100%; border: round $accent; background: $surface; padding: 0 1;
    }
    PromptView #prompt-facts { height: auto; max-height: 3; color: $text-muted; }
    PromptView TextArea { height: 1fr; }
    PromptView #prompt-hint { color: $text-muted; height: 1; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="prompt_view.close")]

    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Next prompt (what the model reads)"
            facts = preview_facts(self.preview)
            if self.preview.notice:
                facts += f"\n{self.preview.notice}"
            yield Static(facts, id="prompt-facts", markup=False)
            yield TextArea(self.preview.prompt, read_only=True, soft_wrap=True,
                           show_line_numbers=False, id="prompt-text")
            yield Static("arrows, PgUp/PgDn scroll · Esc closes", id="prompt-hint")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_close(self) -> None:
        self.dismiss(None)

"""The last reply's tokens, each with its probability and the alternatives the model weighed."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_llm.engine.token_probs import TokenChoice
from tui_llm.safe_text import visible
from tui_llm.ui.dialogs.read_only_view import ReadOnlyView

TOKEN_WIDTH = 16
UNSURE = 0.5  # below this the model hesitated: the token is marked
UNLIKELY = 0.1


def shown(token: str) -> str:
    """A token as one line: quotes show its spaces, newlines and tabs are named."""
    return '"' + visible(token).replace("\n", "⏎").replace("\t", "⇥") + '"'


def _cut(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    while cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _style(prob: float) -> str:
    return "bold red" if prob < UNLIKELY else "yellow" if prob < UNSURE else ""


def token_line(choice: TokenChoice, width: int) -> Text:
    """``"Hello"   93.1%  "Hi" 4.2% · "Hey" 1.1%``, cut to ``width`` cells."""
    line = Text()
    line.append(f"{_cut(shown(choice.text), TOKEN_WIDTH):<{TOKEN_WIDTH}}", style=_style(choice.prob))
    line.append(f" {choice.prob:6.1%}  ", style=_style(choice.prob))
    others = [a for a in choice.alternatives if a.text != choice.text]
    line.append(" · ".join(f"{shown(a.text)} {a.prob:.1%}" for a in others), style="dim")
    line.truncate(width, overflow="ellipsis")
    return line


def summary(tokens: list[TokenChoice]) -> str:
    unsure = sum(1 for t in tokens if t.prob < UNSURE)
    unlikely = sum(1 for t in tokens if t.prob < UNLIKELY)
    mean = sum(t.prob for t in tokens) / len(tokens)
    return (f"{len(tokens)} tokens · mean probability {mean:.0%} · {unsure} under {UNSURE:.0%} "
            f"(yellow), {unlikely} under {UNLIKELY:.0%} (red) · the model's own odds, before the samplers")


class TokenView(ReadOnlyView):
    HEADING = "Token probabilities of the last reply written"
    ID_PREFIX = "tokens"
    BINDINGS = [Binding("escape", "close", "Close", id="token_view.close")]

    def __init__(self, tokens: list[TokenChoice]) -> None:
        super().__init__()
        self.tokens = tokens

    def facts(self) -> str:
        return summary(self.tokens)

    def body(self) -> ComposeResult:
        width = max(20, self.app.size.width - 8)  # border, padding and the scrollbar
        with VerticalScroll(classes="view-body"):
            lines = Text("\n", no_wrap=True).join(token_line(t, width) for t in self.tokens)
            yield Static(lines, id="tokens-list")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

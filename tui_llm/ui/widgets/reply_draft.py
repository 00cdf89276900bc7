"""What a reply view shows: the model's thought folded to one line (or shown in
full), then the answer; and the state of the reply that is streaming."""

from __future__ import annotations

import time

from tui_llm.chat.sessions import Turn

FOLDED = "▸"
UNFOLDED = "▾"


def thought_line(seconds: float, tokens: int, live: bool = False, expanded: bool = False) -> str:
    size = f"{tokens} token" + ("" if tokens == 1 else "s")
    what = f"thinking … {seconds:.0f} s, {size}" if live else f"thought for {seconds:.0f} s, {size}"
    return f"{UNFOLDED if expanded else FOLDED} {what}"


def with_thought(answer: str, thought: str, line: str, expanded: bool) -> str:
    if not thought and not line.startswith(UNFOLDED + " thinking"):
        return answer
    head = f"{line}\n{thought.strip()}\n" if expanded else f"{line}\n"
    return f"{head}{answer}" if answer else head.rstrip("\n")


def turn_display(turn: Turn, expanded: bool) -> str:
    """A finished turn as the transcript shows it: which version it is, when there are several."""
    mark = f"‹ {turn.shown + 1}/{turn.take_count} › " if turn.take_count > 1 else ""
    if not turn.reasoning:
        return mark + turn.text
    line = thought_line(turn.reasoning_s, turn.reasoning_tokens, expanded=expanded)
    return mark + with_thought(turn.text, turn.reasoning, line, expanded)


class ReplyDraft:
    """The reply being written: its thought and answer so far, and what is not yet shown."""

    def __init__(self, base: str = "") -> None:
        self.base = base
        self.thought = ""
        self.tokens = 0
        self.answer = ""
        self.dirty = False
        self._started = 0.0
        self._thought_s = 0.0

    @property
    def thinking(self) -> bool:
        """The thought is streaming: its line counts up even between pieces."""
        return bool(self.thought) and not self.answer

    @property
    def shown_nothing(self) -> bool:
        return not self.answer and not self.thought

    def add_thought(self, piece: str) -> None:
        if not self.thought:
            self._started = time.monotonic()
        self.thought += piece
        self.tokens += 1
        self.dirty = True

    def add_text(self, piece: str) -> None:
        if self.thought and not self._thought_s:
            self._thought_s = time.monotonic() - self._started
        self.answer += piece
        self.dirty = True

    def display(self, expanded: bool) -> str:
        self.dirty = False
        if not self.thought:
            return self.base + self.answer
        live = not self.answer
        seconds = time.monotonic() - self._started if live else self._thought_s
        line = thought_line(seconds, self.tokens, live=live, expanded=expanded)
        return with_thought(self.base + self.answer, self.thought, line, expanded)

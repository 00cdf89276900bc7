"""The chat screen's one-line texts: title, input label and hint, status."""

from __future__ import annotations

from tui_llm.chat.sessions import Session
from tui_llm.engine.contract import GenerationStats
from tui_llm.models.info import short_model_name

PLACEHOLDERS = {
    "chat": "Say something · Enter sends · Esc stops",
    "instruct": "Type a message · Enter sends · Esc stops",
    "story": "Write into the story, or Enter on empty to let it go on",
    "adventure": "What do you do? · Enter sends · Ctrl+T: story text",
}
STORY_INPUT = "Write story text · Enter sends · Ctrl+T: action"


def title_line(model: str, session: Session) -> str:
    parts = ["tui-llm", short_model_name(model), session.mode]
    if session.mode == "chat" and session.character.strip():
        parts.append(f"with {session.character.strip()}")
    return " · ".join(p for p in parts if p)


def input_look(mode: str, input_kind: str) -> tuple[str, str]:
    """(border title, placeholder) of the prompt."""
    if mode == "adventure":
        story = input_kind == "story"
        return ("Story", STORY_INPUT) if story else ("Action >", PLACEHOLDERS[mode])
    return mode.capitalize(), PLACEHOLDERS[mode]


def status_line(model: str, session: Session, n_ctx: int, figures: GenerationStats | None) -> str:
    """The figures of the last reply on screen; None when they no longer describe it."""
    stats = figures or GenerationStats()
    parts = [short_model_name(model) or "no model", session.mode]
    if n_ctx and figures is not None:
        parts.append(f"ctx {stats.context_used}/{n_ctx}")
    if stats.completion_tokens:
        parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    if stats.cancelled:
        parts.append("stopped")
    if session.hidden_turns:
        parts.append(f"{session.hidden_turns} old turns out of context")
    return " · ".join(parts)


def progress_line(model: str, mode: str, tokens: int, seconds: float) -> str:
    """While a reply streams: how much so far, how fast since its first token."""
    parts = [short_model_name(model), mode, f"writing · {tokens} tokens"]
    if tokens > 1 and seconds > 0:
        parts.append(f"{(tokens - 1) / seconds:.1f} tok/s")
    return " · ".join(parts)

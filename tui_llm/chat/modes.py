"""The four ways to play, and how each turns a session into a prompt.

- chat: a character (name, persona, greeting) and the user, as role messages.
- instruct: plain assistant turns, as role messages.
- story: one continuous text the model continues; the user may write into it.
- adventure: like story, but the user's actions are set off as ``> action``
  and generation stops where the model would write the next action.

Chat and instruct build role messages for the model's template; story and
adventure build one raw text. Memory always comes first; the Author's note
goes a few lines before the end (into the latest user message for role modes,
so that strict templates that forbid a mid-conversation system message still work).
"""

from __future__ import annotations

from typing import Sequence

from tui_llm.chat.sessions import Session, Turn
from tui_llm.engine.contract import Request

MODE_HELP = {
    "chat": "a character and you, in the model's chat template",
    "instruct": "plain assistant replies, in the chat template",
    "story": "one continuous text that the model continues",
    "adventure": "a text adventure: '> actions' and what happens",
}
ROLE_MODES = ("chat", "instruct")

ACTION_PREFIX = "\n\n> "
ACTION_SUFFIX = "\n\n"
ACTION_STOP = "\n> "
AUTHORS_NOTE_DEPTH = 3  # lines before the end of a story
GAME_PREAMBLE = (
    "[Interactive fiction: this is a text adventure game. The player's actions are "
    "written after '> '. After each action, describe in the second person what "
    "happens next, then wait for the next action.]"
)


def uses_messages(mode: str) -> bool:
    return mode in ROLE_MODES


def extra_stops(mode: str) -> tuple[str, ...]:
    return (ACTION_STOP,) if mode == "adventure" else ()


def authors_note_text(note: str) -> str:
    return f"[Author's note: {note.strip()}]"


def build_request(session: Session, start: int) -> Request:
    """The prompt for ``session.turns[start:]`` with Memory, system prompt and Author's note.

    A role-mode request may end with an assistant message: the reply being
    continued (the caller renders it as an open turn).
    """
    turns = session.turns[start:]
    if uses_messages(session.mode):
        return _messages(session, turns)
    return _story_prompt(session, turns)


# -- role modes ------------------------------------------------------------
def system_text(session: Session) -> str:
    persona = session.system_prompt.strip()
    if session.mode == "chat" and not persona and session.character.strip():
        persona = f"You are {session.character.strip()}. Stay in character."
    return "\n\n".join(part for part in (persona, session.memory.strip()) if part)


def _messages(session: Session, turns: Sequence[Turn]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = system_text(session)
    if system:
        messages.append({"role": "system", "content": system})
    for turn in turns:
        if turn.role == "action":
            messages.append({"role": "user", "content": f"> {turn.text}"})
        else:
            messages.append({"role": turn.role, "content": turn.text})
    note = session.authors_note.strip()
    if note:
        for message in reversed(messages):
            if message["role"] == "user":
                message["content"] = f"{authors_note_text(note)}\n\n{message['content']}"
                break
    return messages


# -- text modes ------------------------------------------------------------
def story_text(turns: Sequence[Turn]) -> str:
    """The turns as one text: user prose joins the story, actions are set off."""
    text = ""
    for turn in turns:
        if turn.role == "action":
            text = text.rstrip() + ACTION_PREFIX + turn.text.strip() + ACTION_SUFFIX
        elif turn.role == "user":
            text += _joiner(text, turn.text) + turn.text
        else:
            text += turn.text
    return text.lstrip()


def _joiner(before: str, after: str) -> str:
    if not before or not after or before[-1].isspace() or after[0].isspace():
        return ""
    return "" if after[0] in ",.;:!?)'\"" else " "


def _story_prompt(session: Session, turns: Sequence[Turn]) -> str:
    head = [session.memory.strip()]
    if session.mode == "adventure" and session.game_preamble:
        head.append(GAME_PREAMBLE)
    header = "".join(f"{part}\n\n" for part in head if part)
    return header + insert_authors_note(story_text(turns), session.authors_note)


def insert_authors_note(text: str, note: str, depth: int = AUTHORS_NOTE_DEPTH) -> str:
    """Put the note before the last ``depth`` non-empty lines, on a line of its own."""
    if not note.strip():
        return text
    lines = text.split("\n")
    at, seen = len(lines), 0
    while at > 0 and seen < depth:
        at -= 1
        seen += bool(lines[at].strip())
    return "\n".join([*lines[:at], authors_note_text(note), *lines[at:]])


def clean_reply(mode: str, text: str) -> str:
    """What is kept of a finished reply: adventure replies lose their edge whitespace."""
    return text.strip() if mode == "adventure" else text

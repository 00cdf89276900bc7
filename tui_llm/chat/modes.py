"""The four ways to play, and how each turns a session into a prompt.

- chat: a character (name, persona, greeting) and the user, as role messages.
- instruct: plain assistant turns, as role messages.
- story: one continuous text the model continues; the user may write into it.
- adventure: like story, but the user's actions are set off as ``> action``
  and generation stops where the model would write the next action.

Chat and instruct build role messages for the model's template; story and
adventure build one raw text. Memory always comes first, with a character
card's text and lore placed around the description; the Author's note goes a
few lines before the end (into the latest user message for role modes, so that
strict templates that forbid a mid-conversation system message still work), or
at the top, the bottom or a depth the session sets (lore at depth likewise).
Example dialogue closes the system message; post-history instructions follow
the latest user message.
"""

from __future__ import annotations

from typing import Sequence

from tui_llm.chat.cards import substitute
from tui_llm.chat.lore import AFTER, AT_DEPTH, BEFORE, LoreEntry, joined, placed
from tui_llm.chat.play import NOTE_BOTTOM, NOTE_DEPTH, NOTE_LATEST, NOTE_TOP
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


def build_request(session: Session, start: int, lore: Sequence[LoreEntry] = ()) -> Request:
    """The prompt for ``session.turns[start:]`` with Memory, system prompt, card, lore and note.

    A role-mode request may end with an assistant message: the reply being
    continued (the caller renders it as an open turn).
    """
    turns = session.turns[start:]
    if uses_messages(session.mode):
        return _messages(session, turns, lore)
    return _story_prompt(session, turns, lore)


def _lore_text(session: Session, entries: Sequence[LoreEntry]) -> str:
    return substitute(joined(entries), session.character.strip(), session.play.user_name)


def character_text(session: Session, lore: Sequence[LoreEntry] = ()) -> list[str]:
    """The card's description, personality and scenario, between the lore placed around them."""
    play, name = session.play, session.character.strip() or "The character"
    return [
        _lore_text(session, placed(lore, BEFORE)),
        play.description,
        f"{name}'s personality: {play.personality}" if play.personality.strip() else "",
        f"Scenario: {play.scenario}" if play.scenario.strip() else "",
        _lore_text(session, placed(lore, AFTER)),
    ]


# -- role modes ------------------------------------------------------------
def system_text(session: Session, lore: Sequence[LoreEntry] = ()) -> str:
    persona = session.system_prompt.strip()
    if session.mode == "chat" and not persona and session.character.strip():
        persona = f"You are {session.character.strip()}. Stay in character."
    parts = [persona, *character_text(session, lore), session.memory, session.play.examples]
    if session.authors_note.strip() and session.play.note_position == NOTE_TOP:
        parts.append(authors_note_text(session.authors_note))
    return "\n\n".join(part.strip() for part in parts if part.strip())


def _messages(session: Session, turns: Sequence[Turn], lore: Sequence[LoreEntry]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = system_text(session, lore)
    if system:
        messages.append({"role": "system", "content": system})
    first = len(messages)
    for turn in turns:
        if turn.role == "action":
            messages.append({"role": "user", "content": f"> {turn.text}"})
        else:
            messages.append({"role": turn.role, "content": turn.text})
    latest = next((m for m in reversed(messages[first:]) if m["role"] == "user"), None)
    play, note = session.play, session.authors_note.strip()
    for depth, entries in _by_depth(lore):
        _at_depth(messages, first, depth, _lore_text(session, entries))
    if latest is not None and play.post_history.strip():
        latest["content"] = f"{latest['content']}\n\n{play.post_history.strip()}"
    if note and play.note_position == NOTE_DEPTH:
        _at_depth(messages, first, play.note_depth, authors_note_text(note))
    elif note and latest is not None and play.note_position == NOTE_BOTTOM:
        latest["content"] = f"{latest['content']}\n\n{authors_note_text(note)}"
    elif note and latest is not None and play.note_position == NOTE_LATEST:
        latest["content"] = f"{authors_note_text(note)}\n\n{latest['content']}"
    return messages


def _by_depth(lore: Sequence[LoreEntry]) -> list[tuple[int, list[LoreEntry]]]:
    entries = placed(lore, AT_DEPTH)
    return [(depth, [e for e in entries if e.depth == depth])
            for depth in sorted({e.depth for e in entries})]


def _at_depth(messages: list[dict[str, str]], first: int, depth: int, text: str) -> None:
    """Put ``text`` before the ``depth``-th message from the end (0: after the last one).

    It joins that message rather than making a system message of its own, so
    templates that forbid a system message mid-conversation still work.
    """
    if not text.strip() or len(messages) == first:
        return
    if depth == 0:
        messages[-1]["content"] = f"{messages[-1]['content']}\n\n{text}"
        return
    target = messages[max(first, len(messages) - depth)]
    target["content"] = f"{text}\n\n{target['content']}"


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


def _story_prompt(session: Session, turns: Sequence[Turn], lore: Sequence[LoreEntry] = ()) -> str:
    play, note = session.play, session.authors_note.strip()
    head = [session.memory.strip(), *character_text(session, lore)]
    if session.mode == "adventure" and session.game_preamble:
        head.append(GAME_PREAMBLE)
    if note and play.note_position == NOTE_TOP:
        head.append(authors_note_text(note))
    header = "".join(f"{part.strip()}\n\n" for part in head if part.strip())
    text = story_text(turns)
    for depth, entries in _by_depth(lore):
        text = insert_line(text, _lore_text(session, entries), depth)
    if note and play.note_position == NOTE_BOTTOM:
        text = insert_line(text, authors_note_text(note), 0)
    elif note and play.note_position != NOTE_TOP:
        depth = play.note_depth if play.note_position == NOTE_DEPTH else AUTHORS_NOTE_DEPTH
        text = insert_line(text, authors_note_text(note), depth)
    return header + text


def insert_authors_note(text: str, note: str, depth: int = AUTHORS_NOTE_DEPTH) -> str:
    """Put the note before the last ``depth`` non-empty lines, on a line of its own."""
    return insert_line(text, authors_note_text(note), depth) if note.strip() else text


def insert_line(text: str, line: str, depth: int) -> str:
    """``line`` before the last ``depth`` non-empty lines of ``text`` (0: at its end)."""
    if not line.strip():
        return text
    lines = text.split("\n")
    at, seen = len(lines), 0
    while at > 0 and seen < depth:
        at -= 1
        seen += bool(lines[at].strip())
    return "\n".join([*lines[:at], line, *lines[at:]])


def clean_reply(mode: str, text: str) -> str:
    """What is kept of a finished reply: adventure replies lose their edge whitespace."""
    return text.strip() if mode == "adventure" else text

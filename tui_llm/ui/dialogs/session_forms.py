"""The chat screen's forms over a session: Memory, setup, and picking and editing a turn."""

from __future__ import annotations

from typing import Callable

from tui_llm.chat.sessions import Session, Turn
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import Field, FieldsDialog

Labeler = Callable[[Turn], str]  # how the transcript names a turn's speaker


def memory_dialog(session: Session) -> FieldsDialog:
    return FieldsDialog("Memory and Author's note", [
        Field("memory", "Memory (always at the top of the context)", session.memory, 6),
        Field("authors_note", "Author's note (a few lines before the end)", session.authors_note, 3),
    ])


def setup_dialog(session: Session) -> FieldsDialog:
    return FieldsDialog("Setup", [
        Field("character", "Character name (chat)", session.character),
        Field("system_prompt", "Persona / system prompt (chat, instruct)", session.system_prompt, 4),
        Field("greeting", "Greeting: the character's first line (chat)", session.greeting, 2),
        Field("game_preamble", "Game-mode preamble (adventure)", session.game_preamble),
    ])


def turn_picker(session: Session, label: Labeler) -> ChoiceDialog:
    options = []
    for index, turn in enumerate(session.turns):
        words = " ".join(turn.text.split())
        line = f"{index + 1:>3} {label(turn) or turn.role}: {words}"
        options.append((str(index), line if len(line) <= 68 else line[:67] + "…"))
    return ChoiceDialog("Edit which turn?", options, options[-1][0])


def turn_editor(session: Session, index: int, label: Labeler) -> FieldsDialog:
    turn = session.turns[index]
    title = f"Turn {index + 1} ({label(turn) or turn.role})"
    return FieldsDialog("Edit turn", [Field("text", title, turn.text, 12)])


# What a new session may take from the one on screen: each choice and the setup fields it carries.
CARRY_OVER = {
    "memory": ("Memory", ("memory",)),
    "authors_note": ("Author's note", ("authors_note",)),
    "setup": ("Character and setup (name, persona, greeting, game preamble)",
              ("character", "system_prompt", "greeting", "game_preamble")),
}


def new_session_dialog() -> FieldsDialog:
    """Nothing is ticked: a new session starts clean unless asked otherwise."""
    return FieldsDialog(
        "New session: carry over from this one?",
        [Field(key, label, False) for key, (label, _) in CARRY_OVER.items()],
        hint="Space ticks · Ctrl+S starts the new session · Esc keeps this one",
    )


def carried_fields(values: dict[str, object]) -> list[str]:
    return [name for key, (_, names) in CARRY_OVER.items() if values.get(key) for name in names]

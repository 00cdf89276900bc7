"""What a session plays beyond its own fields: the card's text, lorebooks, where the note goes.

Kept in the session file under ``"play"``; every part is optional, so a
session without a card or lore reads and writes exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tui_llm.chat.lore import LoreError, Lorebook

NOTE_LATEST, NOTE_TOP, NOTE_BOTTOM, NOTE_DEPTH = "latest", "top", "bottom", "depth"
NOTE_POSITIONS = (NOTE_LATEST, NOTE_TOP, NOTE_BOTTOM, NOTE_DEPTH)
DEFAULT_LORE_SHARE = 0.25  # of the prompt budget, when no lore budget is set
TEXT_FIELDS = ("card", "user_name", "description", "personality", "scenario", "examples",
               "post_history")


class PlayError(ValueError):
    """A malformed ``play`` table in a session file."""


@dataclass(frozen=True)
class PlaySetup:
    card: str = ""  # the card's file name in the cards folder, when a card was imported
    user_name: str = "User"
    description: str = ""
    personality: str = ""
    scenario: str = ""
    examples: str = ""
    post_history: str = ""
    greetings: tuple[str, ...] = ()  # first message and alternates, for choosing again
    lorebooks: tuple[Lorebook, ...] = ()
    note_position: str = NOTE_LATEST
    note_depth: int = 4
    lore_budget: int = 0  # tokens; 0: a quarter of the prompt budget

    def __post_init__(self) -> None:
        if self.note_position not in NOTE_POSITIONS:
            raise PlayError(f"the Author's note goes {', '.join(NOTE_POSITIONS)}, "
                            f"not {self.note_position!r}")
        if self.note_depth < 0 or self.lore_budget < 0:
            raise PlayError("the note depth and the lore budget cannot be negative")

    def changed(self, **values: Any) -> "PlaySetup":
        return replace(self, **values)

    def with_lorebook(self, book: Lorebook) -> "PlaySetup":
        """Add a book, replacing one of the same name."""
        kept = tuple(b for b in self.lorebooks if b.name != book.name)
        return replace(self, lorebooks=(*kept, book))

    def lore_budget_for(self, prompt_budget: int) -> int:
        return self.lore_budget or int(prompt_budget * DEFAULT_LORE_SHARE)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in TEXT_FIELDS}
        data.update(greetings=list(self.greetings), note_position=self.note_position,
                    note_depth=self.note_depth, lore_budget=self.lore_budget,
                    lorebooks=[book.to_dict() for book in self.lorebooks])
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "PlaySetup":
        if not isinstance(data, dict):
            raise PlayError("'play' is not a table")
        values: dict[str, Any] = {}
        for name in TEXT_FIELDS:
            if name in data:
                if not isinstance(data[name], str):
                    raise PlayError(f"'play.{name}' is not text")
                values[name] = data[name]
        greetings = data.get("greetings", [])
        if not isinstance(greetings, list) or not all(isinstance(g, str) for g in greetings):
            raise PlayError("'play.greetings' is not a list of text")
        for name in ("note_depth", "lore_budget"):
            if name in data:
                if not isinstance(data[name], int) or isinstance(data[name], bool):
                    raise PlayError(f"'play.{name}' is not a whole number")
                values[name] = data[name]
        books = data.get("lorebooks", [])
        if not isinstance(books, list):
            raise PlayError("'play.lorebooks' is not a list")
        try:
            lorebooks = tuple(Lorebook.from_dict(book) for book in books)
        except LoreError as exc:
            raise PlayError(str(exc)) from exc
        return cls(greetings=tuple(greetings), lorebooks=lorebooks,
                   note_position=str(data.get("note_position", NOTE_LATEST)), **values)

    def is_empty(self) -> bool:
        return self == PlaySetup()


def parse_note_place(text: str) -> tuple[str, int]:
    """'top', 'bottom', 'latest' or a depth (messages from the end) as the user writes it."""
    word = text.strip().lower()
    if word in (NOTE_LATEST, NOTE_TOP, NOTE_BOTTOM):
        return word, 4
    try:
        depth = int(word.removeprefix("depth").strip(" =:"))
    except ValueError:
        raise PlayError(f"the Author's note goes top, bottom, latest or at a depth "
                        f"(a number of messages from the end), not {text!r}") from None
    if depth < 0:
        raise PlayError("the Author's note depth cannot be negative")
    return NOTE_DEPTH, depth

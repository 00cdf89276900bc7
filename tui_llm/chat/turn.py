"""One turn of a session, and the alternatives ("swipes") a reply may hold.

A reply written again keeps every version. The turn's own fields (``text``,
``reasoning``, ...) are the version shown: the conversation continues from it
and the session file saves it as the turn's text, so a reader that knows
nothing of alternatives still reads the session as it looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("user", "assistant", "action")


class TurnError(ValueError):
    """A turn in a session file that cannot be read: the words after "turn N"."""


@dataclass
class Take:
    """One version of a reply: its text and the thought before it."""

    text: str
    reasoning: str = ""
    reasoning_s: float = 0.0
    reasoning_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text}
        if self.reasoning:
            data.update(reasoning=self.reasoning, reasoning_s=round(self.reasoning_s, 2),
                        reasoning_tokens=self.reasoning_tokens)
        return data

    @classmethod
    def from_dict(cls, item: Any) -> "Take":
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TurnError(" is malformed")
        reasoning = item.get("reasoning", "")
        seconds = item.get("reasoning_s", 0.0)
        tokens = item.get("reasoning_tokens", 0)
        if (
            not isinstance(reasoning, str)
            or not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
            or not isinstance(tokens, int) or isinstance(tokens, bool)
        ):
            raise TurnError("'s reasoning is malformed")
        return cls(item["text"], reasoning, float(seconds), tokens)


@dataclass
class Turn:
    role: str
    text: str
    reasoning: str = ""  # the model's thought before this reply; never sent back
    reasoning_s: float = 0.0
    reasoning_tokens: int = 0
    speaker: str = ""  # the character's name when this was written; "" for the current name
    takes: list[Take] = field(default_factory=list)  # every version, once there are two
    shown: int = 0  # which of ``takes`` the turn's own fields are

    @property
    def take_count(self) -> int:
        return max(len(self.takes), 1)

    def current(self) -> Take:
        return Take(self.text, self.reasoning, self.reasoning_s, self.reasoning_tokens)

    def all_takes(self) -> list[Take]:
        """Every version, the shown one as it is now (edited or continued)."""
        if not self.takes:
            return [self.current()]
        takes = list(self.takes)
        takes[self.shown] = self.current()
        return takes

    def add_take(self, take: Take) -> None:
        """Keep what is shown as one version, and show ``take`` as the newest."""
        self.takes = self.all_takes() + [take]
        self._show(len(self.takes) - 1)

    def show_take(self, index: int) -> None:
        if not 0 <= index < self.take_count:
            raise IndexError(f"there is no version {index + 1} of this reply")
        if self.takes and index != self.shown:
            self.takes = self.all_takes()
            self._show(index)

    def _show(self, index: int) -> None:
        self.shown = index
        self.set_current(self.takes[index])

    def set_current(self, take: Take) -> None:
        """The shown version becomes ``take`` (a reply continued, or just written)."""
        self.text, self.reasoning = take.text, take.reasoning
        self.reasoning_s, self.reasoning_tokens = take.reasoning_s, take.reasoning_tokens

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, **self.current().to_dict()}
        if self.speaker:
            data["speaker"] = self.speaker
        if len(self.takes) > 1:
            data["alternatives"] = [take.to_dict() for take in self.all_takes()]
            data["shown"] = self.shown
        return data

    @classmethod
    def from_dict(cls, item: Any) -> "Turn":
        """Read one turn of a session file; a TurnError says what is wrong with it."""
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise TurnError(" is malformed")
        take = Take.from_dict(item)
        speaker = item.get("speaker", "")
        if not isinstance(speaker, str):
            raise TurnError("'s speaker is not text")
        turn = cls(item["role"], take.text, take.reasoning, take.reasoning_s,
                   take.reasoning_tokens, speaker)
        if "alternatives" not in item:
            return turn
        alternatives, shown = item["alternatives"], item.get("shown", 0)
        if not isinstance(alternatives, list) or not alternatives or item["role"] != "assistant":
            raise TurnError("'s alternatives are malformed")
        if not isinstance(shown, int) or isinstance(shown, bool) or not 0 <= shown < len(alternatives):
            raise TurnError(f"'s shown alternative {shown!r} is not one of its {len(alternatives)}")
        takes = []
        for number, alternative in enumerate(alternatives, start=1):
            try:
                takes.append(Take.from_dict(alternative))
            except TurnError as exc:
                raise TurnError(f"'s alternative {number}{exc}") from None
        if len(takes) > 1:
            takes[shown] = take  # the turn's text is what was shown (and maybe edited since)
            turn.takes, turn.shown = takes, shown
        return turn

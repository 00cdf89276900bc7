"""What a conversation tells its listeners: turns added, changed and removed, a reply streaming in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from tui_llm.chat.turn import Turn
from tui_llm.engine.contract import GenerationStats


class ConversationBusy(RuntimeError):
    """A reply is being written; wait for it or stop it first."""


class NothingToDo(ValueError):
    """The action has nothing to act on (no reply to retry, nothing to go on from)."""


@dataclass(frozen=True)
class TurnAdded:
    index: int
    turn: Turn


@dataclass(frozen=True)
class TurnRemoved:
    index: int
    turn: Turn


@dataclass(frozen=True)
class TurnChanged:
    index: int
    turn: Turn


@dataclass(frozen=True)
class ReplyStarted:
    continuing: bool
    base: str  # the text being continued, or ""


@dataclass(frozen=True)
class ReplyText:
    piece: str


@dataclass(frozen=True)
class ReplyThinking:
    """A piece of the model's thought before its answer; never part of the reply text."""

    piece: str


@dataclass(frozen=True)
class ReplyEnded:
    """The reply is over. ``turn`` is the new or continued reply; None when nothing was kept."""

    turn: Turn | None
    continuing: bool
    stats: GenerationStats
    error: str = ""


@dataclass(frozen=True)
class InputReturned:
    """The player's input left the session (undo, or a reply that failed): give it back to edit."""

    text: str
    role: str


@dataclass(frozen=True)
class Notice:
    text: str


@dataclass(frozen=True)
class ContextChanged:
    hidden_turns: int  # the oldest turns no longer sent to the model


@dataclass(frozen=True)
class SessionReset:
    """The whole transcript changed (a mode switch, a new session): show it again."""


@dataclass(frozen=True)
class SetupChanged:
    """Memory, Author's note, character or persona changed."""


Event = Union[
    TurnAdded, TurnRemoved, TurnChanged, ReplyStarted, ReplyThinking, ReplyText, ReplyEnded,
    InputReturned, Notice, ContextChanged, SessionReset, SetupChanged,
]
Listener = Callable[[Event], None]

"""Typed-ahead keys: each key goes where the keys before it have left the focus.

Textual hands a key to the widget that has the focus when the app reads it,
and the widget runs it later, in its own turn. Over SSH a burst such as F2
followed by text is read at once: the text was handed to the chat prompt
before F2 had opened the Memory dialog, and keys read while the dialog was
still being built went to a screen with nothing focused (Ctrl+S could then
save a form that did not exist yet).

Here the app holds the keys that follow one which may move the focus, and
sends them on, in order, once things have settled: a marker message follows
that key to its widget and up the same way, so it reaches the app after the
key; after it, markers go round through whatever has the focus until one
comes back with the screen and focus as they were (a choice's Enter closes
its dialog only in a message the key set off; closing it may open the next).
A new screen is waited for until it has mounted and focused its field. Text
typed into a text field cannot move the focus, so it is sent on at once.
"""

from __future__ import annotations

from collections import deque

from textual import events
from textual.message import Message
from textual.timer import Timer

from tui_llm.ui.widgets.ordered_input import inserts_text

# Settled after this many rounds with the screen and focus unchanged.
QUIET_ROUNDS = 2
# A marker lost with its widget (a dialog closed) lets the keys go after this long.
ROUND_AT_MOST_SECONDS = 1.0


class TypeAhead:
    """Mixed into the app before ``App``: holds keys read while an earlier one is on its way."""

    class RoundDone(Message):
        """Sent to the focused widget; bubbles back up to the app behind what that widget had to do."""

        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._held: deque[events.Key] = deque()
        self._settling = False
        self._round = 0
        self._quiet = 0
        self._seen: tuple[object, ...] = ()
        self._late: Timer | None = None
        self._watching = False

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._watch_screens()
            if self._settling or self._held:
                self._held.append(event)
            elif not self.screen.is_mounted:  # type: ignore[attr-defined]
                self._held.append(event)
                self._begin_settling()
                self._start_round(self.screen)  # type: ignore[attr-defined]
            else:
                await self._send(event)
            return
        await super().on_event(event)  # type: ignore[misc]

    def _watch_screens(self) -> None:
        if not self._watching:
            self._watching = True
            self.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)  # type: ignore[attr-defined]

    def _where(self) -> tuple[object, ...]:
        return (*self.screen_stack, self.focused)  # type: ignore[attr-defined]

    async def _send(self, event: events.Key) -> None:
        target = self.focused or self.screen  # type: ignore[attr-defined]
        if inserts_text(target, event):
            await super().on_event(event)  # type: ignore[misc]
            return
        self._begin_settling()
        await super().on_event(event)  # type: ignore[misc]
        self._start_round(target)

    def _begin_settling(self) -> None:
        self._settling = True
        self._quiet = 0
        self._seen = self._where()

    def _start_round(self, through: object | None = None) -> None:
        self._round += 1
        number = self._round
        target = through or self.focused or self.screen  # type: ignore[attr-defined]
        if self._late is not None:
            self._late.stop()
        if target.post_message(self.RoundDone(number)):
            self._late = self.set_timer(  # type: ignore[attr-defined]
                ROUND_AT_MOST_SECONDS, lambda: self._round_done(number))
        else:
            self.call_later(self._round_done, number)  # type: ignore[attr-defined]

    async def on_type_ahead_round_done(self, message: RoundDone) -> None:
        message.stop()
        await self._round_done(message.number)

    async def _round_done(self, number: int) -> None:
        if not self._settling or number != self._round:
            return  # a round overtaken by a screen change, or by its own timer
        if not self.screen_stack:  # type: ignore[attr-defined]
            return  # the app is closing
        where = self._where()
        if where != self._seen:
            self._seen, self._quiet = where, 0
        else:
            self._quiet += 1
        if self._quiet < QUIET_ROUNDS:
            self._start_round()
            return
        if self._late is not None:
            self._late.stop()
            self._late = None
        self._settling = False
        while self._held and not self._settling:
            await self._send(self._held.popleft())

    def _screen_changed(self, screen: object) -> None:
        # The round on its way may be lost with a closed screen. A screen handles
        # messages only once it has mounted (and asked for its field to be focused).
        if self._settling:
            self._start_round(screen)

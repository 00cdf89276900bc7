"""Text fields that act on every key in the order it arrived, however fast keys come.

Textual gives printable keys to the focused widget at once, but runs key
bindings (End, Backspace, Enter's submit, Tab's focus change, a screen's
Down) only after the key has bubbled up to the app. Over SSH keys arrive in
bursts, so text typed after such a key used to land before it, or in the
field the focus had just left. These fields run the binding themselves, in
turn, and hand on keys that reached them after the focus moved.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input, TextArea


class _InOrder:
    """Mixed into a text widget before its Textual class."""

    def _inserts(self, event: events.Key) -> bool:
        """Keys the widget turns into text itself."""
        raise NotImplementedError

    async def _on_key(self, event: events.Key) -> None:
        app = self.app  # type: ignore[attr-defined]
        focused = app.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if self._inserts(event):
            await super()._on_key(event)  # type: ignore[misc]
            return
        # Textual's own binding lookup (focused widget, then its ancestors, screen, app),
        # run now instead of when the key has bubbled up to the app.
        if await app._check_bindings(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)  # type: ignore[misc]


def inserts_text(widget: object, event: events.Key) -> bool:
    """Whether ``widget`` turns ``event`` into text itself (so it cannot move the focus)."""
    return isinstance(widget, _InOrder) and widget._inserts(event)


class OrderedInput(_InOrder, Input):
    def _inserts(self, event: events.Key) -> bool:
        return event.is_printable


class OrderedTextArea(_InOrder, TextArea):
    def _inserts(self, event: events.Key) -> bool:
        indents = self.tab_behavior == "indent" and event.key in ("tab", "escape")
        return event.is_printable or event.key == "enter" or indents


class PromptInput(OrderedInput):
    """The chat prompt: Enter takes the text out at once, so what is typed next starts a new message."""

    async def action_submit(self) -> None:
        value, self.value = self.value, ""
        self.post_message(self.Submitted(self, value))

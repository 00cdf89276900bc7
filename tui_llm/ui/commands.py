"""The command palette (Ctrl+P): every screen to open, and everything the current screen can do."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_llm.ui.dialogs.keys import own_bindings
from tui_llm.ui.screens import registered_screens


class ScreenCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app, screen = self.app, self.screen
        commands = []
        for binding, node in own_bindings(app, screen):
            if binding.action in ("command_palette", "app.command_palette"):
                continue
            key = app.get_key_display(binding)
            commands.append((f"{binding.description} ({key})", f"on this screen: {key}",
                             partial(app.run_action, binding.action, node)))
        for entry in registered_screens():
            title = entry.title.split(":")[0]
            commands.append((f"Open {title} ({entry.key} on home)", entry.help,
                             partial(app.open_registered, entry.name)))
        return commands

    async def discover(self) -> Hits:
        for title, help_text, command in self._commands():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._commands():
            score = max(matcher.match(title), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, text=title, help=help_text)

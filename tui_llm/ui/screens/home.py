"""The home screen: chat with a model on disk, get the starter, open other screens."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui_llm import locations
from tui_llm.hub.starter import STARTER_FILE, find_starter
from tui_llm.ui.screens import registered_screens


def models_on_disk(models_dir: Path) -> list[Path]:
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.rglob("*.gguf") if p.is_file())


class HomeScreen(Screen):
    BINDINGS = [
        Binding("s", "starter", "Starter model", id="home.starter"),
        Binding("r", "refresh", "Refresh", id="home.refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("tui-llm · choose what to do (arrows + Enter)", id="home-title")
        yield OptionList(id="home-menu")
        yield Static("", id="home-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_menu()

    def on_screen_resume(self) -> None:
        self.refresh_menu()

    def _models_dir(self) -> Path:
        return self.app.config.models_dir or locations.models_dir()

    def refresh_menu(self) -> None:
        menu = self.query_one("#home-menu", OptionList)
        menu.clear_options()
        models = models_on_disk(self._models_dir())
        for path in models:
            menu.add_option(Option(f"Chat with {path.name}", id=f"model:{path}"))
        if find_starter(self._models_dir()) is None:
            menu.add_option(
                Option(f"Get the starter model ({STARTER_FILE}, about 100 MB)", id="starter")
            )
        for entry in registered_screens():
            label = Text.assemble((f"{entry.key}  ", "bold"), entry.title)
            menu.add_option(Option(label, id=f"screen:{entry.name}"))
        menu.add_option(Option("Quit", id="quit"))
        hint = (
            f"No model found in {self._models_dir()}. Start with the starter model."
            if not models
            else f"{len(models)} model(s) in {self._models_dir()}"
        )
        self.query_one("#home-hint", Static).update(hint)
        menu.highlighted = 0
        menu.focus()

    @on(OptionList.OptionSelected, "#home-menu")
    def choose(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or ""
        if choice.startswith("model:"):
            self.app.open_chat(Path(choice.removeprefix("model:")))
        elif choice == "starter":
            self.action_starter()
        elif choice.startswith("screen:"):
            self.app.open_registered(choice.removeprefix("screen:"))
        elif choice == "quit":
            self.app.exit()

    def on_key(self, event: events.Key) -> None:
        """Each registered screen opens with the key the menu shows next to it."""
        for entry in registered_screens():
            if event.key == entry.key:
                event.stop()
                self.app.open_registered(entry.name)
                return

    def action_starter(self) -> None:
        self.app.open_starter()

    def action_refresh(self) -> None:
        self.refresh_menu()

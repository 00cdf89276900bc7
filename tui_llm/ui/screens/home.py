"""The home screen: chat with a model on disk, get the starter, open other screens."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist
from textual.worker import Worker, WorkerState

from tui_llm import locations
from tui_llm.hub.starter import STARTER_FILE, find_starter
from tui_llm.models.local import gguf_files_in
from tui_llm.ui.messages import ModelFilesFound
from tui_llm.ui.screens import registered_screens


class HomeMenu(OptionList):
    """The menu stops at its ends: Up on the first entry must not land on Quit."""

    def action_cursor_up(self) -> None:
        if self.highlighted:
            super().action_cursor_up()

    def action_cursor_down(self) -> None:
        if self.highlighted is None or self.highlighted < self.option_count - 1:
            super().action_cursor_down()


class HomeScreen(Screen):
    # Each registered screen opens with the key the menu shows beside it (remappable by id).
    BINDINGS = [
        Binding("s", "starter", "Starter model", id="home.starter"),
        Binding("r", "refresh", "Refresh", id="home.refresh"),
        *(Binding(entry.key, f"open('{entry.name}')", entry.title.split(":")[0], show=False,
                  id=f"home.{entry.name}") for entry in registered_screens()),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[Path] = []
        self.scanned = False

    def compose(self) -> ComposeResult:
        yield Static("tui-llm · choose what to do (arrows + Enter)", id="home-title")
        yield HomeMenu(id="home-menu")
        yield Static(f"Looking for models in {self._models_dir()} ...", id="home-hint")
        yield Footer()

    def on_screen_resume(self) -> None:
        """Also the first showing: the models folder may have changed while another screen was up."""
        self.refresh_menu()

    def _models_dir(self) -> Path:
        return self.app.config.models_dir or locations.models_dir()

    @work(thread=True, exclusive=True, exit_on_error=False, group="home-scan", description="look for models")
    def refresh_menu(self) -> None:
        models_dir = self._models_dir()
        self.post_message(ModelFilesFound(gguf_files_in(models_dir), find_starter(models_dir) is not None))

    @on(Worker.StateChanged)
    def _scan_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "home-scan" and event.state == WorkerState.ERROR:
            self._fill([], has_starter=False, hint=f"Could not look in {self._models_dir()}: {event.worker.error}")

    def on_model_files_found(self, message: ModelFilesFound) -> None:
        models_dir = self._models_dir()
        hint = (
            f"{len(message.paths)} model(s) in {models_dir}" if message.paths
            else f"No model found in {models_dir}. Start with the starter model."
        )
        self._fill(message.paths, message.has_starter, hint)

    def _fill(self, models: list[Path], has_starter: bool, hint: str) -> None:
        menu = self.query_one("#home-menu", OptionList)
        kept = menu.highlighted_option.id if menu.highlighted_option is not None else None
        menu.clear_options()
        for path in models:
            menu.add_option(Option(f"Chat with {path.name}", id=f"model:{path}"))
        if not has_starter:
            menu.add_option(
                Option(f"Get the starter model ({STARTER_FILE}, about 100 MB)", id="starter")
            )
        for entry in registered_screens():
            label = Text.assemble((f"{entry.key}  ", "bold"), entry.title)
            menu.add_option(Option(label, id=f"screen:{entry.name}"))
        menu.add_option(Option("Quit", id="quit"))
        self.query_one("#home-hint", Static).update(hint)
        try:
            menu.highlighted = menu.get_option_index(kept) if kept else 0
        except OptionDoesNotExist:  # the highlighted model is gone
            menu.highlighted = 0
        menu.focus()
        self.models = models
        self.scanned = True

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
            self.app.action_quit()

    def action_open(self, name: str) -> None:
        self.app.open_registered(name)

    def action_starter(self) -> None:
        self.app.open_starter()

    def action_refresh(self) -> None:
        self.refresh_menu()

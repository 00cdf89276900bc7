"""Get the starter model, then open a chat with it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, RichLog, Static

from tui_llm import locations
from tui_llm.hub.downloads import DownloadProgress
from tui_llm.hub.starter import STARTER_FILE, StarterError, fetch_starter
from tui_llm.ui.messages import StarterLog, StarterProgress, StarterReady
from tui_llm.units import human_size


def progress_text(progress: DownloadProgress) -> str:
    """Bytes so far, of how many when that is known, and how fast."""
    done = human_size(progress.bytes_done)
    text = f"{done} of {human_size(progress.total)}" if progress.total else f"{done} so far"
    if progress.speed:
        text += f" · {human_size(progress.speed)}/s"
    return f"{progress.filename}: {text}"


class StarterScreen(Screen):
    DEFAULT_CSS = """
    StarterScreen #starter-progress { padding: 0 1; }
    StarterScreen #starter-bytes { height: 1; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="starter.cancel")]

    def __init__(self, models_dir: Path | None = None, fetch: Callable[..., Path] = fetch_starter) -> None:
        """``fetch`` takes fetch_starter's arguments; tests pass a scripted one that needs no network."""
        super().__init__()
        self.models_dir = models_dir or locations.models_dir()
        self._fetch = fetch
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(f"Getting the starter model: {STARTER_FILE} (about 100 MB)", id="starter-title")
        yield ProgressBar(total=None, show_eta=False, id="starter-progress")
        yield Static("", id="starter-bytes", markup=False)
        yield RichLog(id="starter-log", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.fetch()

    @work(thread=True, exclusive=True, group="starter", exit_on_error=False, description="starter")
    def fetch(self) -> None:
        try:
            path = self._fetch(
                self.models_dir, report=lambda line: self.post_message(StarterLog(line)),
                cancel=self._cancel, progress=lambda progress: self.post_message(StarterProgress(progress)),
            )
        except (StarterError, OSError) as exc:
            self.post_message(StarterLog(f"Could not get the starter model: {exc}"))
            return
        self.post_message(StarterReady(str(path)))

    def on_starter_log(self, message: StarterLog) -> None:
        self.query_one(RichLog).write(message.line)

    def on_starter_progress(self, message: StarterProgress) -> None:
        progress = message.progress
        bar = self.query_one(ProgressBar)
        if progress.total:
            bar.update(total=progress.total, progress=progress.bytes_done)
        else:  # the size is not known: the bar cannot say a percentage, the line says the bytes
            bar.update(total=None)
        self.query_one("#starter-bytes", Static).update(progress_text(progress))

    def on_starter_ready(self, message: StarterReady) -> None:
        self.app.open_chat(Path(message.path), replace=True)

    def action_cancel(self) -> None:
        self._cancel.set()
        self.app.pop_screen()

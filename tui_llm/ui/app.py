"""The app shell: global keys, the screen stack, and the injected engine."""

from __future__ import annotations

import base64
import gc
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding
from textual.filter import Monochrome, NoColor
from textual.notifications import SeverityLevel

from tui_llm import locations
from tui_llm.config import AppConfig
from tui_llm.hub.queue import ACTIVE, DownloadQueue, JobStatus
from tui_llm.hub.errors import DownloadError
from tui_llm.machine.hardware import Hardware, ProbedOnce, probe
from tui_llm.engine.contract import Runner
from tui_llm.ui.commands import ScreenCommands
from tui_llm.ui.screens import registered_screens
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.screens.starter import StarterScreen
from tui_llm.ui.typeahead import TypeAhead

if TYPE_CHECKING:
    from tui_llm.ui.screens.catalog import CatalogScreen
    from tui_llm.ui.screens.hub import HubScreen


QUIT_CONFIRM_SECONDS = 3.0


class TuiLlmApp(TypeAhead, App):
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    TITLE = "tui-llm"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
        Binding("f1", "keys", "Keys", id="app.keys"),
        Binding("ctrl+c", "interrupt", "Stop", id="app.interrupt", priority=True, show=False),
    ]

    def __init__(
        self,
        config: AppConfig,
        runner: Runner,
        model_path: Path | None = None,
        start: str = "home",
        hardware: "Hardware | None" = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.runner = runner
        # This machine, probed once (in a screen's thread worker) with the config's
        # VRAM override and shared by every screen; ``hardware`` given: no probe.
        self.machine = ProbedOnce(lambda: probe(vram_override_gb=config.vram_gb, measure_bandwidth=True), hardware)
        self.model_path = model_path
        self.start = start
        self.downloads = DownloadQueue(config.models_dir or locations.models_dir(),
                                       journal=locations.data_dir() / "downloads.json")
        self._quit_asked = -QUIT_CONFIRM_SECONDS
        if self.no_color:
            # Textual's NO_COLOR keeps greys (monochrome); no colour means none.
            self._filters = [f for f in self._filters if not isinstance(f, Monochrome)] + [NoColor()]
        if config.keymap:
            self.set_keymap(config.keymap)

    def on_mount(self) -> None:
        # Everything built at start-up lives as long as the app: keeping it out of the
        # collector's full passes makes those passes (pauses felt while scrolling) shorter.
        self.call_after_refresh(gc.freeze)
        self.push_screen(HomeScreen())
        unfinished = [job for job in self.downloads.restore() if job.state in ("queued", "paused")]
        if unfinished:
            self.notify(f"{len(unfinished)} unfinished download(s) from last time are back (see Downloads)",
                        title="Download")
        for problem in self.config.problems:
            self.notify(problem, title="Settings", severity="warning", timeout=15)
        if self.model_path is not None:
            self.open_chat(self.model_path)
        elif self.start == "starter":
            self.open_starter()
        elif self.start == "chat":  # an injected runner that needs no loading (a remote one)
            self.open_chat(None)
        elif self.start in {entry.name for entry in registered_screens()}:
            self.open_registered(self.start)

    def open_chat(self, model_path: Path | None, replace: bool = False) -> None:
        screen = ChatScreen(self.runner, model_path)
        if replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def open_starter(self) -> None:
        self.push_screen(StarterScreen(self.config.models_dir))

    def open_registered(self, name: str) -> None:
        for entry in registered_screens():
            if entry.name == name:
                self.push_screen(entry.factory(self))
                return

    def on_catalog_screen_download_requested(self, message: "CatalogScreen.DownloadRequested") -> None:
        self.enqueue_download(message.repo_id, message.quant_file.filename)

    def on_hub_screen_download_requested(self, message: "HubScreen.DownloadRequested") -> None:
        self.enqueue_download(message.repo_id, message.filename)

    def enqueue_download(self, repo_id: str, filename: str) -> JobStatus | None:
        """Queue a hub file; it downloads in the background and shows on the downloads screen."""
        try:
            status = self.downloads.add(repo_id, filename)
        except DownloadError as exc:  # a hostile or non-GGUF file name
            self.notify(str(exc), title="Download", severity="error")
            return None
        self.notify(f"Queued {status.name} (see Downloads)", title="Download")
        return status

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notices carry file names, server replies and errors: show them as plain text."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def copy_to_clipboard(self, text: str) -> None:
        """OSC 52 reaches the local clipboard over SSH; inside tmux it is also wrapped to pass through."""
        super().copy_to_clipboard(text)
        if self._driver is not None and os.environ.get("TMUX"):
            encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
            self._driver.write(f"\x1bPtmux;\x1b\x1b]52;c;{encoded}\a\x1b\\")

    def action_keys(self) -> None:
        """Every key of the current screen, for footers too narrow to show them all."""
        from tui_llm.ui.dialogs.keys import KeysDialog, screen_keys

        if not isinstance(self.screen, KeysDialog):
            self.push_screen(KeysDialog(screen_keys(self, self.screen), self.screen.HELP or ""))

    def action_interrupt(self) -> None:
        """Ctrl+C stops a reply; it never quits (a second press after a reply ends must not lose the app)."""
        if isinstance(self.screen, ChatScreen) and self.screen.is_busy:
            self.screen.conversation.stop()
        else:
            self.notify("Ctrl+C stops a reply; Ctrl+Q quits.", timeout=3)

    def action_quit(self) -> None:
        """Quit; with something to lose (a model loaded, a reply, a download) only on a second Ctrl+Q."""
        at_stake = self._at_stake()
        now = time.monotonic()
        if at_stake and now - self._quit_asked > QUIT_CONFIRM_SECONDS:
            self._quit_asked = now
            self.notify(f"{at_stake}. Press Ctrl+Q again to quit.", title="Quit?",
                        severity="warning", timeout=QUIT_CONFIRM_SECONDS)
            return
        self.exit()

    def _at_stake(self) -> str:
        busy = any(isinstance(s, ChatScreen) and s.is_busy for s in self.screen_stack)
        downloading = sum(job.state in ACTIVE for job in self.downloads.jobs())
        parts = []
        if busy:
            parts.append("a reply is being written")
        elif self.runner.loaded:
            parts.append(f"{self.runner.model_name or 'a model'} is loaded")
        if downloading:
            parts.append(f"{downloading} download{'s' if downloading > 1 else ''} running")
        said = "; ".join(parts)
        return said[:1].upper() + said[1:]

    async def on_unmount(self) -> None:
        self.downloads.close()
        await self.runner.close()

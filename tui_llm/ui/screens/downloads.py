"""The downloads screen: the app's queue with a progress bar, speed and ETA per file.

The queue (tui_llm.hub.queue) belongs to the app and keeps running when
this screen is closed; the screen only watches it. Other screens enqueue with
``app.enqueue_download(repo_id, filename)``.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, ListItem, ListView, ProgressBar, Static

from tui_llm.hub.queue import (
    CANCELLED, DONE, DOWNLOADING, FAILED, PAUSED, QUEUED, DownloadQueue, JobStatus,
)
from tui_llm.hub.checksums import NOT_VERIFIED
from tui_llm.hub.errors import DownloadError
from tui_llm.units import human_size
from tui_llm.ui.messages import DownloadUpdated
from tui_llm.ui.widgets.ordered_input import OrderedInput

STATE_WORDS = {
    QUEUED: "waiting",
    DOWNLOADING: "downloading",
    PAUSED: "paused",
    DONE: "verified",
    FAILED: "failed",
    CANCELLED: "cancelled",
}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(status: JobStatus) -> str:
    """The line under the bar: bytes, speed and ETA, or what went wrong."""
    if status.state == FAILED:
        return status.error or "failed"
    if status.state == DONE:
        checked = "SHA-256 verified" if status.verified else NOT_VERIFIED
        return f"{human_size(status.total)}, {checked} · Enter opens a chat"
    done = human_size(status.bytes_done)
    total = human_size(status.total) if status.total else "?"
    if status.state == DOWNLOADING:
        text = f"{done} / {total} · {human_size(status.speed)}/s · ETA {_clock(status.eta)}"
        return f"{text} · {status.note}" if status.note else text
    if status.state == PAUSED:
        return f"{done} / {total} kept · p resumes"
    return f"{done} / {total}"


class JobRow(ListItem):
    def __init__(self, status: JobStatus) -> None:
        super().__init__(id=f"job-{status.id}")
        self.status = status
        self.title = Label("", classes="job-title", markup=False)
        self.bar = ProgressBar(total=None, show_eta=False, classes="job-bar")
        self.detail = Label("", classes="job-detail", markup=False)

    def compose(self) -> ComposeResult:
        yield self.title
        with Horizontal(classes="job-line"):
            yield self.bar
            yield self.detail

    def on_mount(self) -> None:
        self.show(self.status)

    def show(self, status: JobStatus) -> None:
        self.status = status
        state = STATE_WORDS[status.state] if status.verified or status.state != DONE else "not verified"
        self.title.update(f"{status.name} · {state} · {status.repo_id}")
        if status.total:
            self.bar.update(total=status.total, progress=status.bytes_done)
        self.bar.display = status.state not in (FAILED, CANCELLED)
        self.detail.update(describe(status))
        for state in STATE_WORDS:
            self.set_class(state == status.state, f"-{state}")


class DownloadsScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "Pause/resume", id="downloads.pause"),
        Binding("c", "cancel_job", "Cancel", id="downloads.cancel"),
        Binding("r", "retry", "Retry", id="downloads.retry"),
        Binding("x", "clear_ended", "Clear ended", id="downloads.clear"),
        Binding("a", "add", "Add", id="downloads.add"),
        Binding("escape", "back", "Back", id="downloads.back"),
    ]

    DEFAULT_CSS = """
    DownloadsScreen #downloads-title { height: 1; padding: 0 1; text-style: bold; }
    DownloadsScreen #downloads-list { height: 1fr; }
    DownloadsScreen JobRow { height: auto; padding: 0 1; }
    DownloadsScreen .job-line { height: auto; }
    DownloadsScreen .job-bar { width: auto; margin-right: 1; }
    DownloadsScreen .job-bar Bar { width: 20; }
    DownloadsScreen .job-detail { width: 1fr; height: auto; }
    DownloadsScreen JobRow.-failed .job-detail { text-style: bold; }
    DownloadsScreen #downloads-add { display: none; }
    DownloadsScreen #downloads-add.-shown { display: block; }
    DownloadsScreen #downloads-hint { height: 1; padding: 0 1; }
    """

    def __init__(self, queue: DownloadQueue) -> None:
        super().__init__()
        self.queue = queue
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield Static(f"Downloads · into {self.queue.dest_dir}", id="downloads-title")
        yield ListView(id="downloads-list")
        yield OrderedInput(placeholder="REPO_ID FILENAME.gguf, then Enter (Esc closes)", id="downloads-add")
        yield Static("", id="downloads-hint")
        yield Footer()

    def on_mount(self) -> None:
        self._unsubscribe = self.queue.subscribe(lambda status: self.post_message(DownloadUpdated(status)))
        for status in self.queue.jobs():
            self._show(status)
        self._hint()
        self.query_one(ListView).focus()

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    # --- the list -------------------------------------------------------------
    def rows(self) -> list[JobRow]:
        return list(self.query(JobRow))

    def _show(self, status: JobStatus) -> None:
        for row in self.query(JobRow):
            if row.status.id == status.id:
                row.show(status)
                return
        listing = self.query_one(ListView)
        listing.append(JobRow(status))
        if listing.index is None:
            listing.index = 0

    def on_download_updated(self, message: DownloadUpdated) -> None:
        self._show(message.status)
        self._hint()

    def _hint(self) -> None:
        jobs = self.queue.jobs()
        if not jobs:
            text = "Nothing queued. Press a to add a file, or queue one from the catalog."
        else:
            running = sum(j.state == DOWNLOADING for j in jobs)
            waiting = sum(j.state == QUEUED for j in jobs)
            text = f"{running} downloading, {waiting} waiting · p pause/resume · c cancel · r retry · x clear ended"
        self.query_one("#downloads-hint", Static).update(text)

    def selected(self) -> JobStatus | None:
        item = self.query_one(ListView).highlighted_child
        return item.status if isinstance(item, JobRow) else None

    # --- keys -----------------------------------------------------------------
    def action_pause(self) -> None:
        if (job := self.selected()) is not None:
            self.queue.toggle_pause(job.id)

    def action_cancel_job(self) -> None:
        if (job := self.selected()) is not None:
            self.queue.cancel(job.id)

    def action_retry(self) -> None:
        job = self.selected()
        if job is None:
            self.notify("Nothing to retry: there are no downloads here.", timeout=4)
        elif job.state in (FAILED, CANCELLED):
            self.queue.retry(job.id)
            self.notify(f"Retrying {job.name}: it resumes from the bytes kept.", timeout=4)
        else:
            self.notify(f"Nothing to retry: {job.name} is {STATE_WORDS[job.state]}; "
                        "only failed or cancelled downloads are retried.", timeout=4)

    def action_clear_ended(self) -> None:
        """Remove the failed and cancelled rows."""
        removed = set(self.queue.clear_ended())
        for row in self.query(JobRow):
            if row.status.id in removed:
                row.remove()
        self._hint()

    @on(ListView.Selected, "#downloads-list")
    def open_model(self, event: ListView.Selected) -> None:
        job = self.selected()
        if job is not None and job.state == DONE and job.path is not None:
            self.app.open_chat(Path(job.path))

    def action_add(self) -> None:
        field = self.query_one("#downloads-add", Input)
        field.add_class("-shown")
        field.focus()

    @on(Input.Submitted, "#downloads-add")
    def add_from_input(self, event: Input.Submitted) -> None:
        parts = event.value.split()
        if len(parts) != 2:
            self.notify("Type the repository and the file name, e.g. org/Model-GGUF model.Q4_K_M.gguf",
                        severity="warning")
            return
        try:
            self.queue.add(*parts)
        except DownloadError as exc:
            self.notify(str(exc), severity="error")
            return
        event.input.value = ""
        self._close_input()

    def _close_input(self) -> None:
        field = self.query_one("#downloads-add", Input)
        field.remove_class("-shown")
        self.query_one(ListView).focus()

    def action_back(self) -> None:
        if self.query_one("#downloads-add", Input).has_class("-shown"):
            self._close_input()
        else:
            self.app.pop_screen()

"""Saved sessions: open, rename, delete, export to Markdown. Broken files are listed, not hidden."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from tui_llm.chat.session_keeper import take_lock
from tui_llm.chat.sessions import (
    Session,
    SessionError,
    SessionLock,
    SessionSummary,
    delete_session,
    export_markdown,
    list_sessions,
    load_session,
    rename_session,
)
from tui_llm.models.info import short_model_name
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import Field, FieldsDialog
from tui_llm.ui.messages import SessionsListed


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_line(summary: SessionSummary) -> str:
    """Title, mode, model and when, in the 74 columns the list has at 80x24."""
    if not summary.ok:
        return _fit(f"! {summary.path.name}: cannot be read (kept as is)", 74)
    when = summary.updated[:16].replace("T", " ")
    model = _fit(short_model_name(summary.model), 16) if summary.model else "-"
    return f"{_fit(summary.title, 30):<30} {summary.mode:<9} {model:<16} {when}"


class SessionsScreen(Screen):
    DEFAULT_CSS = """
    SessionsScreen #sessions-title {
        height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1;
    }
    SessionsScreen #sessions-list { height: 1fr; }
    SessionsScreen #sessions-hint { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("r", "rename", "Rename", id="sessions.rename"),
        Binding("d", "delete", "Delete", id="sessions.delete"),
        Binding("e", "export", "Export .md", id="sessions.export"),
        Binding("f5", "refresh", "Refresh", id="sessions.refresh"),
        Binding("escape,ctrl+b", "back", "Back", id="sessions.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[SessionSummary] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("tui-llm · saved sessions (Enter opens)", id="sessions-title")
        yield OptionList(id="sessions-list")
        yield Static("", id="sessions-hint")
        yield Footer()

    def on_screen_resume(self) -> None:
        self.refresh_list()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sessions", description="list sessions")
    def refresh_list(self) -> None:
        self.post_message(SessionsListed(list_sessions()))

    @on(Worker.StateChanged)
    def _listing_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "sessions" and event.state == WorkerState.ERROR:
            self.query_one("#sessions-hint", Static).update(f"The sessions could not be listed: {event.worker.error}")
        elif event.worker.group == "open" and event.state == WorkerState.ERROR:
            self._not_opened(f"The session could not be opened: {event.worker.error}")

    def on_sessions_listed(self, message: SessionsListed) -> None:
        self.summaries = summaries = message.summaries
        menu = self.query_one("#sessions-list", OptionList)
        keep = menu.highlighted or 0
        menu.clear_options()
        for summary in summaries:
            menu.add_option(Option(summary_line(summary), id=str(summary.path)))
        broken = sum(not s.ok for s in summaries)
        hint = f"{len(summaries)} session(s)" if summaries else "No saved sessions yet."
        if broken:
            hint += f" · {broken} cannot be read (marked !)"
        self.query_one("#sessions-hint", Static).update(hint)
        if summaries:
            menu.highlighted = min(keep, len(summaries) - 1)
        menu.focus()
        self.loaded = True

    def current(self) -> SessionSummary | None:
        index = self.query_one("#sessions-list", OptionList).highlighted
        if index is None or not 0 <= index < len(self.summaries):
            return None
        return self.summaries[index]

    def _refuse_broken(self, summary: SessionSummary) -> bool:
        if summary.ok:
            return False
        self.notify(summary.problem, title="Session file cannot be read", severity="error",
                    timeout=10)
        return True

    @on(OptionList.OptionSelected, "#sessions-list")
    def open_session(self, event: OptionList.OptionSelected) -> None:
        summary = self.current()
        if summary is None or self._refuse_broken(summary):
            return
        self._open(summary.path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="open", description="open a session")
    def _open(self, path: Path) -> None:
        """Read the file and take its lock (another tui-llm may be writing it) off the event loop."""
        try:
            lock = take_lock(path)
        except SessionError as exc:
            self.app.call_from_thread(self._not_opened, str(exc))
            return
        try:
            session = load_session(path)
        except SessionError as exc:
            lock.__exit__(None, None, None)
            self.app.call_from_thread(self._not_opened, str(exc))
            return
        self.app.call_from_thread(self._opened, session, lock)

    def _not_opened(self, problem: str) -> None:
        self.notify(problem, title="Session not opened", severity="error", timeout=10)

    def _opened(self, session: Session, lock: SessionLock) -> None:
        if not self.is_current:  # the user went elsewhere while it was read
            lock.__exit__(None, None, None)
            return
        wanted = self._model_to_offer(session)
        runner = self.app.runner
        if wanted is None or not runner.loaded:  # nothing loaded: nothing to keep instead
            self._show(session, wanted, lock)
            return
        current = runner.model_name
        self.app.push_screen(
            ChoiceDialog(
                f"This session was written with {wanted.name}. Enter loads it · Esc keeps {current}",
                [("load", f"Load {wanted.name}"), ("keep", f"Keep {current}")], "load",
            ),
            lambda choice: self._show(session, wanted if choice == "load" else None, lock),
        )

    def _model_to_offer(self, session: Session) -> Path | None:
        """The model the session was written with, where it is still there and not the one loaded."""
        runner = self.app.runner
        if not session.model_path or not runner.capabilities.loads_files:
            return None
        wanted = Path(session.model_path).expanduser()
        if runner.loaded and runner.location and Path(runner.location).expanduser() == wanted:
            return None
        if not wanted.is_file():
            self.notify(f"{wanted.name}, which this session was written with, is no longer at {wanted.parent}.",
                        title="Model not found", timeout=8)
            return None
        return wanted

    def _show(self, session: Session, model_path: Path | None, lock: SessionLock) -> None:
        from tui_llm.ui.screens.chat import ChatScreen

        self.app.push_screen(ChatScreen(self.app.runner, model_path, session, lock))

    def action_rename(self) -> None:
        summary = self.current()
        if summary is None or self._refuse_broken(summary):
            return
        self.app.push_screen(
            FieldsDialog("Rename session", [Field("title", "Title", summary.title)]),
            lambda values: self._renamed(summary, values),
        )

    def _renamed(self, summary: SessionSummary, values: dict[str, object] | None) -> None:
        if not values:
            return
        try:
            rename_session(summary.path, str(values["title"]))
        except SessionError as exc:
            self.notify(str(exc), title="Not renamed", severity="error", timeout=10)
        self.refresh_list()

    def action_delete(self) -> None:
        summary = self.current()
        if summary is None:
            return
        question = f"Delete {summary.title or summary.path.name}? This cannot be undone."
        self.app.push_screen(
            ChoiceDialog(question, [("keep", "No, keep it"), ("delete", "Yes, delete the file")]),
            lambda choice: self._deleted(summary, choice),
        )

    def _deleted(self, summary: SessionSummary, choice: str | None) -> None:
        if choice != "delete":
            return
        try:
            delete_session(summary.path)
        except SessionError as exc:
            self.notify(str(exc), title="Not deleted", severity="error", timeout=10)
        self.refresh_list()

    def action_export(self) -> None:
        summary = self.current()
        if summary is None or self._refuse_broken(summary):
            return
        try:
            target = export_markdown(load_session(summary.path))
        except SessionError as exc:
            self.notify(str(exc), title="Not exported", severity="error", timeout=10)
            return
        self.notify(f"Exported to {target}", title="Markdown", timeout=8)

    def action_refresh(self) -> None:
        self.refresh_list()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

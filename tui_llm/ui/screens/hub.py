"""The hub screen: search the Hugging Face hub for GGUF repos, open one to see its
files with their fit and speed on this machine, download one.

Keys: ``/`` search (Enter asks the hub), Enter on a repo lists its files, ``x``
reads the highlighted file's header for an exact fit, ``d`` (or Enter on a
file) downloads it, Esc goes back to the repos, then to the catalog.
Every hub request runs in a thread worker; answers come back by worker state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui_llm.units import human_size
from tui_llm.ui.widgets.column_plan import Column, fit_columns

if TYPE_CHECKING:
    from tui_llm.hub.search import HubGGUF, RepoHit
    from tui_llm.machine.file_fit import FileFit
    from tui_llm.machine.hardware import ProbedOnce

NAME_WIDTH = 38
FILE_WIDTH = 32
# As the terminal narrows the least kept go first; "Here" (fit and speed) goes last.
REPO_COLUMNS = [Column("repo", "Repo", NAME_WIDTH, min_width=16), Column("downloads", "Downloads", 11, keep=3),
                Column("likes", "Likes", 6, keep=1), Column("updated", "Updated", 10, keep=2)]
FILE_COLUMNS = [Column("file", "File", FILE_WIDTH, min_width=14), Column("quant", "Quant", 9, keep=1),
                Column("size", "Size", 9, keep=2), Column("here", "Here", 23, keep=3)]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _display_name(model: "HubGGUF") -> str:
    """The file name without ``.gguf``; a split model as its stem and part count."""
    from tui_llm.hub.header import SPLIT_NAME

    match = SPLIT_NAME.match(model.name)
    if match:
        return f"{match['stem']} ({model.parts} parts)"
    return model.name[: -len(".gguf")] if model.name.lower().endswith(".gguf") else model.name


def _problem(error: BaseException | None) -> str:
    from tui_llm import locations
    from tui_llm.hub.errors import DownloadError, HubUnreachable

    if isinstance(error, HubUnreachable):
        return (f"{error}. Set HF_ENDPOINT to a mirror, or copy a .gguf into "
                f"{locations.models_dir()} and open Local models (l).")
    if isinstance(error, (DownloadError, ValueError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


class HubScreen(Screen):
    """Hub search, a repo's files judged for this machine, and downloads."""

    DEFAULT_CSS = """
    HubScreen #hub-title { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    HubScreen #hub-search { height: 1; border: none; padding: 0 1; }
    HubScreen #hub-table { height: 1fr; }
    HubScreen #hub-status { height: auto; max-height: 6; border-top: solid $primary; padding: 0 1; }
    """

    BINDINGS = [
        Binding("slash", "search", "Search", id="hub.search"),
        Binding("d", "download", "Download", id="hub.download"),
        Binding("x", "exact", "Exact fit", id="hub.exact"),
        Binding("escape", "back", "Back", id="hub.back"),
    ]

    class DownloadRequested(Message):
        """The user asked for a hub file (every shard of a split model is one request)."""

        def __init__(self, repo_id: str, filename: str) -> None:
            super().__init__()
            self.repo_id = repo_id
            self.filename = filename

    def __init__(self, machine: "ProbedOnce", query: str = "") -> None:
        super().__init__()
        self.machine = machine
        self.query_text = query
        self.repo: str | None = None  # None: the repo list is shown
        self.hits: list["RepoHit"] = []
        self.files: list[tuple["HubGGUF", str, "FileFit"]] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static("Hugging Face hub", id="hub-title")
        yield Input(value=self.query_text, placeholder="/ model name, then Enter to search the hub",
                    id="hub-search")
        yield DataTable(id="hub-table", cursor_type="row")
        yield Static("", id="hub-status")
        yield Footer()

    def on_mount(self) -> None:
        if self.query_text.strip():
            self.query_one("#hub-table", DataTable).focus()
            self.start_search(self.query_text)
        else:
            self.query_one("#hub-search", Input).focus()
            self.say("Type a model name and press Enter: repos with GGUF files, most downloaded first.")

    def say(self, text: str) -> None:
        self.query_one("#hub-status", Static).update(Text(text))

    # --- hub requests, off the event loop ------------------------------------------

    def start_search(self, query: str) -> None:
        self.query_text = query.strip()
        self.busy = True
        self.say(f"Searching the hub for {self.query_text!r} …")
        self._search(self.query_text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub", description="hub: search")
    def _search(self, query: str) -> tuple[str, list["RepoHit"]]:
        from tui_llm.hub.search import search_repos

        return "repos", search_repos(query, limit=50)

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub", description="hub: repo files")
    def _list_files(self, repo_id: str) -> tuple[str, tuple[str, list[Any]]]:
        from tui_llm.hub.search import repo_files
        from tui_llm.machine.file_fit import judge_size, quant_of

        hardware = self.machine.get()
        judged = []
        for model in repo_files(repo_id):
            quant = quant_of(model.name)
            judged.append((model, quant, judge_size(model.size, quant, hardware)))
        return "files", (repo_id, judged)

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub", description="hub: read header")
    def _read_exact(self, index: int, model: "HubGGUF") -> tuple[str, tuple[int, str, Any]]:
        from tui_llm.hub.header import read_model_header
        from tui_llm.machine.file_fit import judge_header

        info = read_model_header(model.repo_id, model.path)
        return "exact", (index, info.quant, judge_header(info, self.machine.get()))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "hub" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.busy = False
        if event.state == WorkerState.ERROR:
            self.say(_problem(event.worker.error))
            return
        kind, payload = event.worker.result
        if kind == "repos":
            self.hits, self.repo = payload, None
            self.show_repos()
        elif kind == "files":
            self.repo, self.files = payload
            self.show_files()
        else:
            index, quant, judged = payload
            model = self.files[index][0]
            self.files[index] = (model, quant, judged)
            self.show_files(keep=index)
            self.say(f"{model.name}, from its header: {judged.label}; "
                     f"needs {human_size(judged.verdict.estimate.ram_bytes)} RAM. {judged.verdict.explanation}")

    # --- the table -------------------------------------------------------------------

    def _reset_table(self, columns: list[Column]) -> tuple[DataTable, int]:
        """The table emptied, with the columns that fit this width; and the first column's width."""
        table = self.query_one("#hub-table", DataTable)
        if not fit_columns(table, columns, self.app.size.width):
            table.clear()
        return table, table.ordered_columns[0].width

    def _cells(self, table: DataTable, cells: dict[str, Any]) -> list[Any]:
        return [cells[str(column.key.value)] for column in table.ordered_columns]

    def on_resize(self, event: events.Resize) -> None:
        """Columns come and go with the width: draw the list again, the cursor where it was."""
        keep = self.highlighted()
        if self.repo is not None:
            self.show_files(keep=keep)
        elif self.hits:
            self.show_repos(keep=keep)

    def show_repos(self, keep: int | None = None) -> None:
        table, width = self._reset_table(REPO_COLUMNS)
        for i, hit in enumerate(self.hits):
            name = hit.repo_id + (" (gated)" if hit.gated else "")
            table.add_row(*self._cells(table, {"repo": _short(name, width), "downloads": f"{hit.downloads:,}",
                                               "likes": f"{hit.likes:,}", "updated": hit.updated}), key=str(i))
        self.query_one("#hub-title", Static).update(Text(f"Hub · {self.query_text!r} · {len(self.hits)} repos"))
        table.focus()
        if keep is not None:
            table.move_cursor(row=keep)
            return
        self.say("Enter: this repo's files with fit and speed here · / new search · Esc back"
                 if self.hits else f"No GGUF repos on the hub match {self.query_text!r}.")

    def show_files(self, keep: int | None = None) -> None:
        table, width = self._reset_table(FILE_COLUMNS)
        for i, (model, quant, judged) in enumerate(self.files):
            here = judged.label + ("" if judged.exact else " ?")
            table.add_row(*self._cells(table, {"file": _short(_display_name(model), width), "quant": quant or "?",
                                               "size": human_size(model.size), "here": here}), key=str(i))
        self.query_one("#hub-title", Static).update(Text(f"Hub · {self.repo} · {len(self.files)} files"))
        table.focus()
        if keep is not None:
            table.move_cursor(row=keep)
        else:
            self.say("d download · x exact fit from the file's header (? = judged by size) · Esc repos"
                     if self.files else f"{self.repo} has no GGUF model files.")

    def highlighted(self) -> int | None:
        table = self.query_one("#hub-table", DataTable)
        if table.row_count == 0:
            return None
        return table.cursor_row

    # --- actions -----------------------------------------------------------------------

    @on(Input.Submitted, "#hub-search")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.start_search(event.value)

    @on(DataTable.RowSelected, "#hub-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if self.repo is None:
            index = self.highlighted()
            if index is not None and index < len(self.hits):
                self.busy = True
                self.say(f"Listing {self.hits[index].repo_id} …")
                self._list_files(self.hits[index].repo_id)
        else:
            self.action_download()

    def action_search(self) -> None:
        self.query_one("#hub-search", Input).focus()

    def action_back(self) -> None:
        search = self.query_one("#hub-search", Input)
        if search.has_focus and (self.hits or self.repo):
            self.query_one("#hub-table", DataTable).focus()
        elif self.repo is not None:
            self.repo, self.files = None, []
            self.show_repos()
        else:
            self.app.pop_screen()

    def action_exact(self) -> None:
        index = self.highlighted()
        if self.repo is None or index is None or index >= len(self.files):
            return
        self.busy = True
        self.say(f"Reading the header of {self.files[index][0].name} (a few MB) …")
        self._read_exact(index, self.files[index][0])

    def action_download(self) -> None:
        from tui_llm.hub.header import split_parts

        index = self.highlighted()
        if self.repo is None or index is None or index >= len(self.files):
            return
        model = self.files[index][0]
        for part in split_parts(model.path):
            self.post_message(self.DownloadRequested(model.repo_id, part))

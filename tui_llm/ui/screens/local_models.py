"""Local models: every GGUF file found on disk (ours, huggingface cache, LM Studio,
Ollama, extra folders); Enter opens a chat with the highlighted one."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from tui_llm.units import human_size
from tui_llm.models.local import SOURCE_EXTRA, SOURCE_TUI_LLM, LocalModel, default_places, discover
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.messages import LocalModelsFound

DELETABLE = (SOURCE_TUI_LLM, SOURCE_EXTRA)  # files in our folders; other apps manage their own


def option_for(model: LocalModel) -> Option:
    where = f"{model.source}, {human_size(model.size)}"
    if model.usable:
        return Option(f"{model.name}  ({where})", id=f"model:{model.path}")
    if model.foreign:
        # Selectable, so that highlighting it shows what it is and the way to a GGUF.
        return Option(f"✗ {model.name}  ({model.foreign.kind}, {where}): not runnable here",
                      id=f"foreign:{model.path}")
    return Option(f"✗ {model.name}  ({where}): {model.problem}", id=f"bad:{model.path}")


class LocalModelsScreen(Screen):
    BINDINGS = [
        Binding("r", "rescan", "Rescan", id="local.rescan"),
        Binding("delete", "delete", "Delete", id="local.delete"),
        Binding("escape", "back", "Back", id="local.back"),
    ]

    DEFAULT_CSS = """
    LocalModelsScreen #local-title, LocalModelsScreen #local-hint { height: 1; padding: 0 1; }
    LocalModelsScreen #local-title { text-style: bold; }
    LocalModelsScreen #local-list { height: 1fr; }
    LocalModelsScreen #local-detail { height: auto; max-height: 4; padding: 0 1; color: $text-muted; display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.models: list[LocalModel] = []
        self.scanned = False

    def compose(self) -> ComposeResult:
        yield Static("Local models · Enter chats with the highlighted one", id="local-title")
        yield OptionList(id="local-list")
        yield Static("", id="local-detail", markup=False)
        yield Static("Looking for GGUF files ...", id="local-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.scan()

    @work(thread=True, exclusive=True, group="local-models", exit_on_error=False, description="scan models")
    def scan(self) -> None:
        # A full check reads each header: a truncated download is marked, not offered.
        models = discover(places=default_places(self.app.config), check=True)
        self.post_message(LocalModelsFound(models))

    def on_local_models_found(self, message: LocalModelsFound) -> None:
        self.models = message.models
        self.scanned = True
        listing = self.query_one(OptionList)
        listing.clear_options()
        listing.add_options([option_for(m) for m in self.models])
        usable = sum(m.usable for m in self.models)
        if not self.models:
            hint = "No GGUF models found. Get one from the catalog or the downloads screen."
        else:
            hint = f"{usable} usable, {len(self.models) - usable} that cannot be used · r rescans"
        self.query_one("#local-hint", Static).update(hint)
        if usable:
            listing.highlighted = next(i for i, m in enumerate(self.models) if m.usable)

    @on(Worker.StateChanged)
    def scan_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#local-hint", Static).update(f"The scan failed: {event.worker.error}")

    @on(OptionList.OptionHighlighted, "#local-list")
    def show_detail(self, event: OptionList.OptionHighlighted) -> None:
        detail = self.query_one("#local-detail", Static)
        choice = event.option.id or ""
        model = self._model(choice)
        detail.display = model is not None
        if model is not None and model.foreign is not None:
            foreign = model.foreign
            detail.update(f"{foreign.what}. {foreign.needs}.\n{foreign.gguf_way}")
        elif model is not None:
            how = "Del deletes" if model.source in DELETABLE else f"kept by {model.source}"
            detail.update(f"{model.path}\n{human_size(model.size)} · Enter chats · {how}")

    def _model(self, choice: str) -> LocalModel | None:
        return next((m for m in self.models if choice.split(":", 1)[-1] == str(m.path)), None)

    def action_delete(self) -> None:
        listing = self.query_one(OptionList)
        option = listing.highlighted_option
        model = self._model(option.id or "") if option is not None else None
        if model is None:
            return
        if model.source not in DELETABLE:
            self.notify(f"{model.name} belongs to {model.source}; delete it with that tool.", timeout=6)
            return
        question = f"Delete {model.path.name} ({human_size(model.size)})? This cannot be undone."
        self.app.push_screen(
            ChoiceDialog(question, [("keep", "No, keep it"), ("delete", "Yes, delete the file")]),
            lambda choice: self._delete(model) if choice == "delete" else None,
        )

    @work(thread=True, exit_on_error=False, group="local-delete", description="delete a model")
    def _delete(self, model: LocalModel) -> None:
        try:
            model.path.unlink()
            said = f"Deleted {model.path}"
        except OSError as exc:
            said = f"Could not delete {model.path}: {exc.strerror or exc}"
        self.app.call_from_thread(self.notify, said, timeout=6)
        self.scan()

    @on(OptionList.OptionSelected, "#local-list")
    def open_model(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or ""
        if choice.startswith("model:"):
            self.app.open_chat(Path(choice.removeprefix("model:")))

    def action_rescan(self) -> None:
        self.query_one("#local-hint", Static).update("Looking for GGUF files ...")
        self.scan()

    def action_back(self) -> None:
        self.app.pop_screen()

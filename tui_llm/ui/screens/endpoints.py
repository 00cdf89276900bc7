"""Remote servers: pick an endpoint (or type a URL), see its models, chat with one.

Each chat opened here gets its own RemoteRunner; the screen closes it when the
chat is left. Nothing secret is shown or saved: an endpoint names the
environment variable that holds its key, never the key.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui_llm.config import ConfigError, save_config
from tui_llm.engine.endpoints import Endpoint, EndpointError, rename_endpoint, resolve_endpoint
from tui_llm.engine.remote import RemoteRunner
from tui_llm.engine.remote_errors import RemoteError
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import Field, FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.widgets.ordered_input import OrderedInput


def describe_endpoint(endpoint: Endpoint) -> str:
    parts = [endpoint.name, endpoint.shown_url]
    if endpoint.api_key_env:
        parts.append(f"key from ${endpoint.api_key_env}")
    if endpoint.kind != "auto":
        parts.append(endpoint.kind)
    return " · ".join(parts)


class EndpointsScreen(Screen):
    DEFAULT_CSS = """
    EndpointsScreen #endpoints-title { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    EndpointsScreen #endpoint-list { height: auto; max-height: 6; }
    EndpointsScreen #endpoint-url { height: 3; }
    EndpointsScreen #models-title { height: 1; padding: 0 1; text-style: bold; }
    EndpointsScreen #model-list { height: 1fr; }
    EndpointsScreen #endpoint-status { height: auto; max-height: 4; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", id="endpoints.back"),
        Binding("ctrl+s", "save", "Save endpoint", id="endpoints.save"),
        Binding("ctrl+r", "reconnect", "Reconnect", id="endpoints.reconnect"),
        Binding("f2", "rename", "Rename", id="endpoints.rename"),
        Binding("delete", "delete", "Delete", id="endpoints.delete"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.endpoint: Endpoint | None = None
        self.models: list[str] = []
        self.status = ""
        self._chat_runners: list[RemoteRunner] = []

    def compose(self) -> ComposeResult:
        yield Static("Remote servers · choose one, then a model (arrows + Enter)", id="endpoints-title")
        yield OptionList(id="endpoint-list")
        yield OrderedInput(placeholder="or type a server URL (http://host:port) and press Enter",
                    id="endpoint-url")
        yield Static("Models", id="models-title")
        yield OptionList(id="model-list")
        yield Static("", id="endpoint-status", markup=False)
        yield Footer()

    @property
    def configured(self) -> list[Endpoint]:
        return list(self.app.config.endpoints)

    def on_mount(self) -> None:
        self.refresh_endpoints()
        if self.configured:
            self.query_one("#endpoint-list", OptionList).focus()
            self._set_status(f"{len(self.configured)} endpoint(s) in config.toml")
        else:
            self.query_one("#endpoint-url", Input).focus()
            self._set_status("No [endpoints] in config.toml yet: type a server URL.")

    def on_screen_resume(self) -> None:
        self._close_chat_runners()

    def on_unmount(self) -> None:
        self._close_chat_runners()

    def refresh_endpoints(self) -> None:
        menu = self.query_one("#endpoint-list", OptionList)
        keep = menu.highlighted or 0
        menu.clear_options()
        for index, endpoint in enumerate(self.configured):
            menu.add_option(Option(describe_endpoint(endpoint), id=str(index)))
        menu.display = bool(self.configured)
        if self.configured:
            menu.highlighted = min(keep, len(self.configured) - 1)
        elif menu.has_focus:
            self.query_one("#endpoint-url", Input).focus()

    def _set_status(self, text: str) -> None:
        self.status = text
        self.query_one("#endpoint-status", Static).update(text)

    # -- choosing a server --------------------------------------------------
    @on(OptionList.OptionSelected, "#endpoint-list")
    def endpoint_chosen(self, event: OptionList.OptionSelected) -> None:
        self.connect(self.configured[int(event.option.id or 0)])

    @on(Input.Submitted, "#endpoint-url")
    def url_entered(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        try:
            endpoint = resolve_endpoint(text, self.configured)
        except EndpointError as exc:
            self._set_status(f"Not a usable URL: {exc}")
            return
        self.connect(endpoint)

    @work(exclusive=True, group="endpoint", exit_on_error=False, description="list models")
    async def connect(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.models = []
        models_list = self.query_one("#model-list", OptionList)
        models_list.clear_options()
        self._set_status(f"Connecting to {endpoint.shown_url} ...")
        runner = RemoteRunner(endpoint.with_model(""))
        try:
            models = await runner.connect()
        except RemoteError as exc:
            self._set_status(f"{exc}")
            self.notify(str(exc), title="Server not reachable", severity="error", timeout=10)
            return
        finally:
            await runner.close()
        self.models = [model.id for model in models]
        for model in models:
            size = f" · context {model.n_ctx}" if model.n_ctx else ""
            models_list.add_option(Option(f"{model.id}{size}", id=model.id))
        if not models and endpoint.model:
            self.models = [endpoint.model]
            models_list.add_option(Option(endpoint.model, id=endpoint.model))
        self._set_status(
            f"{len(self.models)} model(s) at {endpoint.shown_url} · {runner.kind} server · Enter chats"
        )
        if self.models:
            models_list.highlighted = self._preferred_index(endpoint)
            models_list.focus()

    def _preferred_index(self, endpoint: Endpoint) -> int:
        return self.models.index(endpoint.model) if endpoint.model in self.models else 0

    # -- opening a chat -------------------------------------------------------
    @on(OptionList.OptionSelected, "#model-list")
    def model_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.endpoint is None or not event.option.id:
            return
        runner = RemoteRunner(self.endpoint.with_model(event.option.id))
        self._chat_runners.append(runner)
        self.app.push_screen(ChatScreen(runner))

    def _close_chat_runners(self) -> None:
        runners, self._chat_runners = self._chat_runners, []
        for runner in runners:
            runner.cancel()
            self.app.run_worker(runner.close(), group="endpoint-close", exit_on_error=False)

    # -- actions --------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reconnect(self) -> None:
        if self.endpoint is not None:
            self.connect(self.endpoint)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rename", "delete"):
            # Delete in the URL field deletes a character, never an endpoint.
            menu = self.query_one("#endpoint-list", OptionList)
            return menu.has_focus or (None if self.configured else False)
        return True

    def _highlighted(self) -> Endpoint | None:
        index = self.query_one("#endpoint-list", OptionList).highlighted
        configured = self.configured
        return configured[index] if index is not None and 0 <= index < len(configured) else None

    def action_rename(self) -> None:
        endpoint = self._highlighted()
        if endpoint is None:
            return
        self.app.push_screen(FieldsDialog("Rename endpoint", [Field("name", "Name", endpoint.name)]),
                             lambda values: self._renamed(endpoint, values))

    def _renamed(self, endpoint: Endpoint, values: dict[str, object] | None) -> None:
        if not values:
            return
        try:
            renamed = rename_endpoint(self.configured, endpoint.name, str(values["name"]))
        except EndpointError as exc:
            self._set_status(f"Not renamed: {exc}")
            return
        name = str(values["name"]).strip()
        if self._store(renamed):
            if self.endpoint is not None and self.endpoint.name == endpoint.name:
                self.endpoint = replace(self.endpoint, name=name)
            self._set_status(f"Renamed {endpoint.name} to {name} in config.toml.")

    def action_delete(self) -> None:
        endpoint = self._highlighted()
        if endpoint is None:
            return
        question = f"Delete the endpoint {endpoint.name} ({endpoint.shown_url}) from config.toml?"
        self.app.push_screen(
            ChoiceDialog(question, [("keep", "No, keep it"), ("delete", "Yes, delete it")]),
            lambda choice: self._deleted(endpoint, choice),
        )

    def _deleted(self, endpoint: Endpoint, choice: str | None) -> None:
        if choice != "delete":
            self._set_status(f"Kept {endpoint.name}.")
            return
        if self._store([e for e in self.configured if e is not endpoint]):
            self._set_status(f"Deleted {endpoint.name} from config.toml.")

    def _store(self, endpoints: list[Endpoint]) -> bool:
        """Save ``endpoints`` to config.toml; on failure keep the old ones and say why."""
        config = self.app.config
        before, config.endpoints = config.endpoints, endpoints
        try:
            save_config(config)
        except (ConfigError, OSError) as exc:
            config.endpoints = before
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return False
        self.refresh_endpoints()
        return True

    def action_save(self) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            self._set_status("Connect to a server first, then Ctrl+S saves it to config.toml.")
            return
        config = self.app.config
        if any(e.base_url == endpoint.base_url for e in config.endpoints):
            self._set_status(f"{endpoint.shown_url} is already in config.toml.")
            return
        config.endpoints.append(endpoint)
        try:
            path = save_config(config)
        except (ConfigError, OSError) as exc:
            config.endpoints.remove(endpoint)
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return
        self.refresh_endpoints()
        self._set_status(f"Saved {endpoint.name} to {path} (no key is stored).")

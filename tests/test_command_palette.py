"""Ctrl+P offers every screen and everything the current screen can do, with its key."""

from __future__ import annotations

from textual.command import CommandPalette

from helpers import FakeRunner, wait_until
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.ui.dialogs.keys import KeysDialog
from tui_llm.ui.screens.catalog import CatalogScreen
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.hardware import HardwareScreen
from tui_llm.ui.screens.home import HomeScreen


def shown(app) -> list[str]:
    from textual.widgets import OptionList

    options = app.screen.query_one("CommandList", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_searching_catalog_from_home_opens_it():
    app = make_app(config=AppConfig(), runner=FakeRunner(loaded=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"catalog")
        await wait_until(pilot, lambda: any("Model catalog" in line for line in shown(app)))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CatalogScreen))


async def test_the_chat_screen_offers_its_own_actions_with_their_keys():
    app = make_app(config=AppConfig(), runner=FakeRunner(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"retry")
        await wait_until(pilot, lambda: any("Retry (^r)" in line for line in shown(app)))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))


async def test_home_keys_are_bindings_listed_in_f1():
    app = make_app(config=AppConfig(), runner=FakeRunner(loaded=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysDialog))
        rows = dict(app.screen.rows)
        assert rows["h"] == "Hardware" and rows["c"] == "Model catalog" and rows["o"] == "Settings"
        await pilot.press("escape")
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HardwareScreen))

"""Quitting is deliberate: Ctrl+C never quits, Ctrl+Q asks once when something would be lost."""

from __future__ import annotations

from textual.widgets import OptionList

from helpers import FakeRunner, wait_until
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen


def config() -> AppConfig:
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=64))


def notices(app) -> str:
    return " ".join(n.message for n in app._notifications)


async def test_two_ctrl_c_in_a_chat_stop_the_reply_and_leave_the_app_running():
    runner = FakeRunner([" word" * 200], delay=0.02)
    app = make_app(config=config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Tell me a story", "enter")
        await wait_until(pilot, lambda: len(screen._draft.answer) > 10)
        await pilot.press("ctrl+c", "ctrl+c")
        await wait_until(pilot, lambda: not screen.generating)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert runner.last_stats.cancelled
        assert "Ctrl+Q quits" in notices(app)


async def test_ctrl_c_on_home_does_not_quit():
    app = make_app(config=config(), runner=FakeRunner(loaded=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running


async def test_ctrl_q_with_nothing_to_lose_quits_at_once():
    app = make_app(config=config(), runner=FakeRunner(loaded=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_ctrl_q_with_a_model_loaded_asks_once_then_quits():
    app = make_app(config=config(), runner=FakeRunner(model_name="tiny-Q4_K_M"), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running
        assert "Tiny-Q4_K_M is loaded. Press Ctrl+Q again to quit." in notices(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_the_home_menu_does_not_wrap_onto_quit():
    app = make_app(config=config(), runner=FakeRunner(loaded=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.scanned)
        menu = app.screen.query_one("#home-menu", OptionList)
        menu.highlighted = 0
        await pilot.press("up")
        assert menu.highlighted == 0
        menu.highlighted = menu.option_count - 1
        await pilot.press("down")
        assert menu.highlighted == menu.option_count - 1
        assert menu.get_option_at_index(menu.highlighted).id == "quit"

"""The fit guard in the TUI: the real guard, the real engine, a machine made small by injection."""

from __future__ import annotations

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.machine.guard import load_refusal
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.plan import plan_for_file
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen
from helpers import wait_until

MIB = 1024**2
# Less memory than the test model's weights and context need (about 150 MB).
SMALL = Hardware(ram_total=256 * MIB, ram_available=48 * MIB, cores_physical=2, cores_logical=2)
ROOMY = Hardware(ram_total=16 * 1024 * MIB, ram_available=8 * 1024 * MIB, cores_physical=2, cores_logical=2)


def config() -> AppConfig:
    return AppConfig(load=LoadSettings(n_ctx=1024))


def refusal(model_path) -> str:
    """What the CLI says about this model on this machine (the same guard)."""
    said = load_refusal(model_path, plan_for_file(config(), model_path, SMALL).settings, SMALL)
    assert said is not None
    return said


async def asked(pilot, app) -> ChoiceDialog:
    await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
    return app.screen


async def test_a_model_too_large_is_asked_about_and_cancel_goes_back(model_path):
    app = make_app(config=config(), model_path=model_path, hardware=SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await asked(pilot, app)
        words = refusal(model_path)
        assert words in dialog.title_text
        assert "is too large for this machine" in words and "What would fit" in words
        assert [label for _, label in dialog.options] == ["Cancel", "Load anyway"]
        assert not app.runner.loaded
        await pilot.press("enter")  # Cancel is the one highlighted
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert not any(isinstance(screen, ChatScreen) for screen in app.screen_stack)
        assert not app.runner.loaded
        assert any(n.title == "Model not loaded" and words in n.message for n in app._notifications)


async def test_escape_is_cancel_too(model_path):
    app = make_app(config=config(), model_path=model_path, hardware=SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await asked(pilot, app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert not app.runner.loaded


async def test_load_anyway_loads_it(model_path):
    app = make_app(config=config(), model_path=model_path, hardware=SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await asked(pilot, app)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert app.runner.loaded and app.runner.model_name


async def test_a_model_that_fits_is_loaded_without_a_question(model_path):
    app = make_app(config=config(), model_path=model_path, hardware=ROOMY)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert app.runner.loaded
        assert not any(isinstance(screen, ChoiceDialog) for screen in app.screen_stack)

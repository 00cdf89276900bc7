"""The chat screen with a thinking model at 80x24: the thought folds to one line
that F5 expands. UI only: a scripted FakeRunner writes the reply."""

from __future__ import annotations

from helpers import FakeRunner, wait_until

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.dialogs.keys import KeysDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.widgets.session_turn import SessionTurnView


async def test_a_thought_is_one_folded_line_that_f5_opens():
    runner = FakeRunner(["<think>The user greets me, so I greet back.</think> Hello there!"])
    config = AppConfig(sampler=SamplerSettings(max_tokens=64), load=LoadSettings(n_ctx=512))
    app = make_app(config=config, runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hi", "enter")
        await wait_until(pilot, lambda: screen.session.last_reply is not None and not screen.generating)
        reply = [v for v in screen.query(SessionTurnView) if v.role == "assistant"][-1]
        turn = screen.session.last_reply
        assert turn.text == "Hello there!"
        assert turn.reasoning == "The user greets me, so I greet back."
        lines = reply.text.split("\n")
        assert lines[0].startswith("▸ thought for ") and lines[0].endswith(" 8 tokens")
        assert lines[1:] == ["Hello there!"]
        assert "greets" not in reply.text and "think>" not in reply.text
        assert runner.requests[0][-1]["content"] == "Hi"

        await pilot.press("f5")
        assert reply.text.split("\n")[1:] == ["The user greets me, so I greet back.", "Hello there!"]
        assert reply.text.startswith("▾ thought for ")
        await pilot.press("f5")
        assert "greets" not in reply.text

        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysDialog))
        assert dict(app.screen.rows)["f5"] == "Show/fold thoughts"


async def test_while_it_thinks_the_line_counts_and_the_thought_stays_out_of_sight():
    runner = FakeRunner(["<think>" + " hmm" * 30 + "</think> Done."], delay=0.02)
    config = AppConfig(sampler=SamplerSettings(max_tokens=64), load=LoadSettings(n_ctx=512))
    app = make_app(config=config, runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hi", "enter")

        def live_line():
            views = [v for v in screen.query(SessionTurnView) if v.role == "assistant"]
            return views and views[-1].text.startswith("▸ thinking … ") and views[-1].text

        await wait_until(pilot, live_line)
        assert "hmm" not in live_line() and "\n" not in live_line()
        await wait_until(pilot, lambda: not screen.generating)
        assert screen.session.last_reply.text == "Done."


async def test_the_models_thinking_setting_from_config_reaches_its_template(tmp_path):
    from tui_llm.config import ModelOverrides

    runner = FakeRunner(["Plain answer."])
    await runner.load(tmp_path / "thinker.gguf")
    config = AppConfig(sampler=SamplerSettings(max_tokens=64), load=LoadSettings(n_ctx=512),
                       models={"thinker.gguf": ModelOverrides(thinking="off")})
    app = make_app(config=config, runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        assert screen.conversation.thinking == "off"
        await pilot.press(*"Hi", "enter")
        await wait_until(pilot, lambda: screen.session.last_reply is not None and not screen.generating)
        assert runner.template.extra == {"enable_thinking": False}


async def test_thinking_chosen_in_settings_applies_to_the_next_reply(tmp_path):
    from textual.widgets import Select

    from tui_llm.ui.screens.settings import SettingsScreen

    runner = FakeRunner(["One.", "Two."])
    await runner.load(tmp_path / "thinker.gguf")
    config = AppConfig(sampler=SamplerSettings(max_tokens=64), load=LoadSettings(n_ctx=512))
    app = make_app(config=config, runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        await pilot.press(*"Hi", "enter")
        await wait_until(pilot, lambda: chat.session.last_reply is not None and not chat.generating)
        assert runner.template.extra == {}

        app.open_registered("settings")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen)
                         and app.screen.query("#model-thinking"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.query_one("#model-thinking", Select).value = "off"
        await pilot.pause()
        assert config.overrides_for(tmp_path / "thinker.gguf").thinking == "off"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is chat)
        await pilot.press(*"Again", "enter")
        await wait_until(pilot, lambda: len(chat.session.turns) == 4 and not chat.generating)
        assert runner.template.extra == {"enable_thinking": False}

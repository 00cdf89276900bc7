"""The chat screen at 80x24 with the real engine and the real test model."""

from __future__ import annotations


from textual.widgets import Input

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.widgets.transcript import TurnView
from helpers import FakeRunner, wait_until




def turns(screen, role):
    return [t for t in screen.query(TurnView) if t.role == role]


def make_config(max_tokens=48):
    return AppConfig(
        sampler=SamplerSettings(temperature=0.0, max_tokens=max_tokens),
        load=LoadSettings(n_ctx=1024),
    )


async def test_send_message_and_reply_streams_in(model_path):
    app = make_app(config=make_config(), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hi there")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.messages and screen.messages[-1]["role"] == "assistant")
        reply = turns(screen, "assistant")[-1]
        assert reply.text.strip()
        assert screen.messages[0] == {"role": "user", "content": "Hi there"}
        status = str(screen.query_one("#status").render())
        assert "ctx" in status and "/1024" in status and "tok/s" in status


async def test_escape_stops_generation_and_input_still_works(model_path):
    app = make_app(config=make_config(max_tokens=2000), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Write a very long story about a lighthouse keeper.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen._draft.answer) > 20)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        assert app.runner.last_stats.cancelled
        assert app.runner.last_stats.completion_tokens < 1000
        assert turns(screen, "assistant")[-1].text.endswith("[stopped]")
        # The app still accepts input and replies again.
        screen.app.config.sampler = SamplerSettings(temperature=0.0, max_tokens=16)
        await pilot.press(*"Thanks")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.messages) == 4 and not screen.generating)
        assert screen.messages[2]["content"] == "Thanks"


async def test_ctrl_c_stops_generation_without_quitting(model_path):
    app = make_app(config=make_config(max_tokens=2000), model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Tell me a long tale.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen._draft.answer) > 10)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not screen.generating)
        assert app.is_running
        assert app.runner.last_stats.cancelled


async def test_bad_model_file_shows_an_error_and_keeps_the_app(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"not a model at all" * 100)
    app = make_app(config=make_config(), model_path=bogus)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = app.screen
        await wait_until(pilot, lambda: turns(screen, "notice"))
        assert "not a GGUF model" in turns(screen, "notice")[0].text
        assert screen.query_one("#prompt", Input).disabled
        assert app.is_running


async def test_per_model_overrides_apply_when_the_model_loads(model_path):
    from tui_llm.config import ModelOverrides

    config = make_config()
    config.set_overrides(model_path, ModelOverrides(n_ctx=512, sampler_preset="deterministic"))
    app = make_app(config=config, model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert app.runner.n_ctx == 512
        assert app.config.sampler.temperature == 0.0
        assert any("deterministic" in t.text for t in turns(app.screen, "notice"))


def exploding() -> FakeRunner:
    """An engine that fails in a way nobody planned for, after its first word."""
    return FakeRunner(["Hal and more"], n_ctx=1024, model_name="exploding",
                      fail_with=ZeroDivisionError("engine bug"), fail_after=1)


async def test_an_unexpected_engine_error_is_shown_and_the_screen_recovers():
    app = make_app(config=make_config(), runner=exploding(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"hello")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("engine bug" in t.text for t in turns(screen, "notice")))
        assert not screen.generating
        prompt = screen.query_one("#prompt", Input)
        assert not prompt.disabled
        await pilot.press(*"again")
        assert prompt.value.endswith("again")


async def test_f1_lists_every_key_including_those_the_footer_cuts_off():
    from tui_llm.ui.dialogs.keys import KeysDialog

    app = make_app(config=make_config(), runner=exploding(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysDialog))
        rows = dict(app.screen.rows)
        assert rows["f3"] == "Setup" and rows["f4"] == "Edit" and rows["^b"] == "Back"
        assert rows["^c"] == "Stop"
        assert "^t" not in rows  # Action/Story exists only in adventure mode
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))


async def test_notices_show_brackets_as_written():
    app = make_app(config=make_config(), runner=exploding(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        app.screen.notify("No [endpoints] in config.toml; [Errno -2] lookup failed")
        await pilot.pause()
        shown = [str(n.message) for n in app._notifications]
        assert "No [endpoints] in config.toml; [Errno -2] lookup failed" in shown
        assert all(n.markup is False for n in app._notifications)


async def test_page_keys_scroll_the_transcript_while_the_prompt_keeps_focus():
    from tui_llm.ui.widgets.transcript import Transcript

    app = make_app(config=make_config(), runner=exploding(), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        transcript = app.screen.query_one(Transcript)
        for n in range(30):
            transcript.add_turn("notice", f"line {n}")
        await pilot.pause()
        transcript.scroll_end(animate=False)
        await pilot.pause()
        bottom = transcript.scroll_y
        assert bottom > 0
        await pilot.press("pageup")
        await pilot.pause()
        assert transcript.scroll_y < bottom
        assert app.screen.focused is app.screen.query_one("#prompt", Input)
        await pilot.press("pagedown")
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert transcript.scroll_y == bottom


async def test_the_status_line_is_live_while_streaming_and_never_stale():
    runner = FakeRunner([" word" * 60, "Short."], delay=0.03, model_name="tiny")
    app = make_app(config=make_config(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen

        def status() -> str:
            return str(screen.query_one("#status").render())

        await pilot.press(*"Go", "enter")
        await wait_until(pilot, lambda: "writing" in status() and "tok/s" in status())
        assert "Thinking" not in status()
        await wait_until(pilot, lambda: not screen.generating)
        assert "ctx " in status() and "tok/s" in status() and "writing" not in status()
        await pilot.press("ctrl+z")  # the reply goes: its figures go with it
        await pilot.pause()
        assert "ctx " not in status() and "tok/s" not in status()


async def test_a_failed_load_says_so_in_the_prompt_and_status(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    app = make_app(config=make_config(), runner=FakeRunner(loaded=False), model_path=broken)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen)
                         and "Could not load" in app.screen.last_notice)
        await pilot.pause()
        screen = app.screen
        assert "No model loaded" in str(screen.query_one("#status").render())
        assert screen.query_one("#prompt", Input).placeholder == "No model loaded"


async def test_the_last_reply_can_be_copied_and_saved():
    from tui_llm import locations

    app = make_app(config=make_config(), runner=FakeRunner(["Copy me, please."]), start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        await pilot.press(*"Hi", "enter")
        await wait_until(pilot, lambda: len(screen.session.turns) == 2 and not screen.generating)
        await pilot.press("ctrl+y")
        assert app.clipboard == "Copy me, please."
        await pilot.press("ctrl+s")
        exports = locations.data_dir() / "exports"
        await wait_until(pilot, lambda: exports.is_dir() and any(exports.glob("*-reply-*.md")))
        saved = next(exports.glob("*-reply-*.md"))
        assert saved.read_text(encoding="utf-8") == "Copy me, please.\n"

"""The settings screen at 80x24, driven from the keyboard."""

from __future__ import annotations

from dataclasses import fields

from textual.widgets import Input, Select

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig, load_config
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler import SamplerSettings, get_sampler_preset
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.settings import SettingsScreen
from tui_llm.ui.widgets.setting_row import SettingRow
from helpers import wait_until




async def open_settings(pilot) -> SettingsScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.screen


def row(screen: SettingsScreen, group: str, name: str) -> SettingRow:
    return screen.query_one(f"#row-{group}-{name}", SettingRow)


async def focus(pilot, screen, widget_id: str) -> None:
    screen.query_one(f"#{widget_id}").focus()
    await pilot.pause()
    assert pilot.app.focused.id == widget_id


async def retype(pilot, text: str) -> None:
    """Replace the focused input's text, as a user would."""
    pilot.app.focused.action_select_all()
    await pilot.press("backspace", *text)
    await pilot.pause()


def notifications(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_o_on_the_home_screen_opens_settings():
    app = make_app(config=AppConfig(), runner=LlamaCppRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        screen = await open_settings(pilot)
        assert isinstance(screen, SettingsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)


async def test_every_value_has_a_row_an_explanation_and_is_reached_by_tab():
    app = make_app(config=AppConfig(), runner=LlamaCppRunner(), start="settings")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot)
        expected = [f"sampler-{f.name}" for f in fields(SamplerSettings)]
        expected += [f"load-{f.name}" for f in fields(LoadSettings)]
        for widget_id in expected:
            r = screen.query_one(f"#row-{widget_id}", SettingRow)
            assert r.help and len(r.help) < 90
            assert r.region.height == 1 and r.region.right <= 80
        reached = []
        for _ in range(len(expected) + 3):
            if app.focused is not None and app.focused.id not in reached:
                reached.append(app.focused.id)
            await pilot.press("tab")
        assert set(expected) <= set(reached)
        # The focused row scrolled into view and its help shows in full at the bottom.
        assert app.focused.region.bottom <= 22
        help_text = str(screen.query_one("#settings-help").render())
        assert help_text.startswith(row(screen, *app.focused.id.split("-", 1)).label)
        # Arrows move between rows too.
        await focus(pilot, screen, "sampler-min_p")
        await pilot.press("down")
        assert app.focused.id == "sampler-top_p"
        await pilot.press("up", "up")
        assert app.focused.id == "sampler-temperature"


async def test_typed_values_apply_at_once_and_bad_ones_are_explained():
    config = AppConfig()
    app = make_app(config=config, runner=LlamaCppRunner(), start="settings")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot)
        assert app.focused.id == "sampler-temperature"
        await retype(pilot, "0.35")
        assert config.sampler.temperature == 0.35
        assert "modified" in row(screen, "sampler", "preset").note

        await focus(pilot, screen, "sampler-min_p")
        await retype(pilot, "1.5")
        # Refused; the last valid value typed ("1" on the way to "1.5") stays in use, and says so.
        assert config.sampler.min_p == 1.0
        assert row(screen, "sampler", "min_p").note == (
            "! min_p must be between 0 and 1, got 1.5 (still using 1)"
        )
        assert "min_p must be between 0 and 1" in str(screen.query_one("#settings-help").render())
        await retype(pilot, "0.2")
        assert config.sampler.min_p == 0.2 and not row(screen, "sampler", "min_p").error

        await focus(pilot, screen, "sampler-stop")
        await retype(pilot, '["\\n\\nUser:", "###"]')
        assert config.sampler.stop == ("\n\nUser:", "###")

        # A quantized KV cache needs flash attention: refused until it is on.
        await focus(pilot, screen, "load-kv_cache_type")
        await retype(pilot, "q8_0")
        assert "needs flash attention" in row(screen, "load", "kv_cache_type").error
        assert config.load.kv_cache_type == "f16"
        await focus(pilot, screen, "load-flash_attn")
        await retype(pilot, "on")
        assert config.load.flash_attn and config.load.kv_cache_type == "q8_0"
        assert not row(screen, "load", "kv_cache_type").error
        await focus(pilot, screen, "load-n_gpu_layers")
        await retype(pilot, "auto")
        assert config.load.n_gpu_layers is None


async def test_preset_switcher_and_reset_to_preset():
    config = AppConfig()
    app = make_app(config=config, runner=LlamaCppRunner(), start="settings")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot)
        select = screen.query_one("#sampler-preset", Select)
        assert select.value == "min_p"
        await focus(pilot, screen, "sampler-preset")
        await pilot.press("enter")
        await pilot.pause()
        titles = [title for title, _ in select._options if title]
        steps = [str(t) for t in titles].index("Deterministic")
        current = [str(t) for t in titles].index("Min P")
        await pilot.press(*(["down"] * (steps - current) if steps > current else ["up"] * (current - steps)))
        await pilot.press("enter")
        await pilot.pause()
        greedy = get_sampler_preset("deterministic").settings
        assert config.sampler_preset == "deterministic"
        assert config.sampler == greedy
        assert screen.query_one("#sampler-temperature", Input).value == "0"
        assert screen.query_one("#sampler-top_k", Input).value == "1"

        await focus(pilot, screen, "sampler-top_k")
        await retype(pilot, "50")
        assert config.sampler.top_k == 50
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert config.sampler == greedy
        assert screen.query_one("#sampler-top_k", Input).value == "1"
        assert "modified" not in row(screen, "sampler", "preset").note


async def test_ctrl_s_saves_to_the_config_file():
    config = AppConfig()
    app = make_app(config=config, runner=LlamaCppRunner(), start="settings")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot)
        await retype(pilot, "0.6")
        await focus(pilot, screen, "load-n_ctx")
        await retype(pilot, "2048")
        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        saved = load_config(locations.config_file())
        assert saved.sampler.temperature == 0.6 and saved.load.n_ctx == 2048
        assert "Saved to" in notifications(app)


async def test_broken_config_is_reported_and_only_replaced_when_asked_twice():
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    broken = "[sampler]\ntemperature = 0.5\nmin_p = oops\n"
    path.write_text(broken, encoding="utf-8")
    app = make_app(runner=LlamaCppRunner(), start="settings")  # reads the real file
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot)
        assert app.config.sampler == SamplerSettings()  # started on defaults
        assert "line 3" in notifications(app)
        await retype(pilot, "0.9")
        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert path.read_text(encoding="utf-8") == broken
        assert "Not saved" in "\n".join(str(n.title) for n in app._notifications)
        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert (path.parent / "config.toml.broken").read_text(encoding="utf-8") == broken
        assert load_config(path).sampler.temperature == 0.9
        assert screen.is_mounted


async def test_with_a_loaded_model_changes_reach_the_next_reply(model_path):
    config = AppConfig(load=LoadSettings(n_ctx=1024))
    app = make_app(config=config, model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        app.open_registered("settings")
        screen = await open_settings(pilot)

        await focus(pilot, screen, "sampler-max_tokens")
        await retype(pilot, "3")
        await focus(pilot, screen, "load-n_ctx")
        await retype(pilot, "2048")
        assert row(screen, "load", "n_ctx").reload
        assert row(screen, "load", "n_ctx").note.startswith("needs reload")
        assert not row(screen, "load", "n_batch").reload
        assert not row(screen, "load", "n_threads").reload  # auto: loaded with what auto chose
        assert not row(screen, "load", "n_gpu_layers").reload
        assert not row(screen, "model", "n_ctx").reload  # no override for this model
        await focus(pilot, screen, "model-n_ctx")
        await retype(pilot, "512")
        assert config.overrides_for(model_path).n_ctx == 512
        assert config.load_for(model_path).n_ctx == 512
        assert row(screen, "model", "n_ctx").reload

        # This model's template, switched live.
        assert app.runner.template.name == "embedded"
        template = screen.query_one("#model-template", Select)
        template.value = "alpaca"
        await pilot.pause()
        assert app.runner.template.name == "alpaca"
        assert config.overrides_for(model_path).template == "alpaca"

        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is chat)
        await pilot.press(*"Hello")
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.messages and chat.messages[-1]["role"] == "assistant")
        assert 1 <= app.runner.last_stats.completion_tokens <= 3
        assert "### Instruction:\nHello" in await app.runner.render(chat.messages[-2:-1])


async def test_a_context_past_the_trained_length_says_which_rope_scaling_it_gets(model_path):
    config = AppConfig(load=LoadSettings(n_ctx=1024))
    app = make_app(config=config, model_path=model_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        app.open_registered("settings")
        screen = await open_settings(pilot)
        assert row(screen, "model", "n_ctx").note.startswith("This model's context size")

        await focus(pilot, screen, "model-n_ctx")
        await retype(pilot, "16384")
        note = row(screen, "model", "n_ctx").note
        assert "2x the training length: using YaRN RoPE scaling (scale 0.5)" in note
        assert "Quality may drop" in screen.query_one("#settings-help").render().plain

        await focus(pilot, screen, "model-rope_scaling")
        await retype(pilot, "ntk")
        assert "RoPE scaling must be one of auto, none, linear, yarn" in row(screen, "model", "rope_scaling").note
        assert config.load_for(model_path).rope_scaling == "auto"
        await retype(pilot, "Linear")
        assert config.overrides_for(model_path).rope_scaling == "linear"
        assert "linear RoPE scaling (scale 0.5), as chosen" in row(screen, "model", "n_ctx").note

        await focus(pilot, screen, "model-rope_freq_base")
        await retype(pilot, "250000")
        assert config.load_for(model_path).rope_freq_base == 250000.0

        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        saved = load_config(locations.config_file()).overrides_for(model_path)
        assert (saved.n_ctx, saved.rope_scaling, saved.rope_freq_base) == (16384, "linear", 250000.0)

"""Sampler settings and presets: validation, parsing, and their effect on the real engine."""

from __future__ import annotations

import inspect
import math
from dataclasses import fields

import pytest

from tui_llm.engine.sampler_chain import ReplySampling
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler_chain import completion_kwargs
from tui_llm.engine.sampler import (
    DEFAULT_PRESET,
    FIELD_HELP,
    SamplerError,
    SamplerSettings,
    format_value,
    get_sampler_preset,
    load_sampler_presets,
    parse_value,
    user_presets_dir,
)


def test_defaults_are_the_min_p_preset():
    assert DEFAULT_PRESET == "min_p"
    preset = get_sampler_preset("min_p")
    assert preset.title == "Min P"
    assert preset.settings == SamplerSettings()
    assert (preset.settings.min_p, preset.settings.temperature) == (0.1, 1.0)
    neutral = preset.settings
    assert (neutral.top_p, neutral.top_k, neutral.typical_p, neutral.repeat_penalty) == (1.0, 0, 1.0, 1.0)


def test_the_four_named_presets_ship():
    presets, problems = load_sampler_presets()
    assert problems == []
    titles = {p.name: p.title for p in presets.values()}
    assert titles == {
        "min_p": "Min P",
        "precise": "Precise",
        "creative": "Creative",
        "deterministic": "Deterministic",
    }
    greedy = presets["deterministic"].settings
    assert greedy.temperature == 0.0 and greedy.top_k == 1
    assert presets["precise"].settings.temperature < 1.0 < presets["creative"].settings.temperature
    assert all(p.note for p in presets.values())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_p": 1.5}, "min_p must be between 0 and 1, got 1.5"),
        ({"min_p": -0.1}, "min_p must be between 0 and 1"),
        ({"temperature": -0.5}, "temperature must be between 0 and 5"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"temperature": math.nan}, "temperature must be a number"),
        ({"top_p": 2}, "top_p must be between 0 and 1"),
        ({"top_k": -1}, "top_k must be at least 0"),
        ({"top_k": 2.5}, "top_k must be a whole number"),
        ({"repeat_last_n": -2}, "repeat_last_n must be at least -1"),
        ({"mirostat_mode": 3}, "mirostat_mode must be between 0 and 2"),
        ({"max_tokens": 0}, "max_tokens must be between 1"),
        ({"seed": True}, "seed must be a whole number"),
        ({"stop": ("",)}, "stop strings must be non-empty"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(changes, message):
    with pytest.raises(SamplerError, match=message.replace("(", r"\(")):
        SamplerSettings().with_changes(**changes)


def test_from_dict_names_unknown_settings_and_keeps_a_base():
    with pytest.raises(SamplerError, match="unknown sampler setting.*tempreature"):
        SamplerSettings.from_dict({"tempreature": 1.0})
    base = SamplerSettings(temperature=0.3)
    assert SamplerSettings.from_dict({"min_p": 0.2}, base=base) == SamplerSettings(temperature=0.3, min_p=0.2)
    with pytest.raises(SamplerError, match="stop must be a list"):
        SamplerSettings.from_dict({"stop": "</s>"})


def test_every_field_has_a_one_line_explanation():
    names = {f.name for f in fields(SamplerSettings)}
    assert set(FIELD_HELP) == names
    assert all(len(h.help) <= 90 and "\n" not in h.help for h in FIELD_HELP.values())


def test_typed_values_round_trip():
    settings = SamplerSettings(
        temperature=0.75, top_k=40, seed=1234, stop=("\n\nUser:", 'say "hi"', "a, b")
    )
    for f in fields(SamplerSettings):
        text = format_value(f.name, getattr(settings, f.name))
        assert parse_value(f.name, text) == getattr(settings, f.name), f.name
    assert parse_value("stop", "") == ()
    with pytest.raises(SamplerError, match="whole number"):
        parse_value("top_k", "4.5")
    with pytest.raises(SamplerError, match="TOML list"):
        parse_value("stop", "[unclosed")


def test_user_sampler_presets_load_and_bad_ones_are_named():
    folder = user_presets_dir()
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text('title = "Mine"\n[settings]\ntemperature = 0.9\n', encoding="utf-8")
    (folder / "bad.toml").write_text("[settings]\nmin_p = 7\n", encoding="utf-8")
    presets, problems = load_sampler_presets()
    assert presets["mine"].settings.temperature == 0.9
    assert len(problems) == 1 and "bad.toml" in problems[0] and "min_p" in problems[0]


def test_runner_applies_every_sampler_field():
    from llama_cpp import Llama

    accepted = set(inspect.signature(Llama.create_completion).parameters)
    runner_source = inspect.getsource(LlamaCppRunner._generate_sync)
    assert "completion_kwargs(" in runner_source and "ReplySampling(" in runner_source
    passed = completion_kwargs(SamplerSettings(), [])
    assert set(passed) <= accepted
    chain_source = inspect.getsource(ReplySampling)
    for f in fields(SamplerSettings):
        # create_completion's own arguments, or read where the runner builds its sampler chain.
        assert f.name in passed or f"s.{f.name}" in chain_source, f"{f.name} does not reach llama.cpp"


@pytest.mark.model
async def test_sampler_settings_change_the_real_engines_output(model_path, tiny_load):
    prompt = [{"role": "user", "content": "Write a short poem about the sea."}]
    greedy = get_sampler_preset("deterministic").settings.with_changes(max_tokens=12)
    runner = LlamaCppRunner()

    async def reply(settings: SamplerSettings) -> str:
        return "".join([piece async for piece in runner.stream(prompt, settings)])

    try:
        await runner.load(model_path, tiny_load)
        first = await reply(greedy.with_changes(seed=1))
        assert first and first == await reply(greedy.with_changes(seed=2))  # greedy ignores the seed
        assert runner.last_stats.completion_tokens <= 12

        sampled = SamplerSettings(temperature=1.5, min_p=0.0, max_tokens=12, seed=7)
        assert await reply(sampled) == await reply(sampled)  # same seed, same reply

        no_e = await reply(greedy.with_changes(max_tokens=40, stop=("e",)))
        assert "e" not in no_e

        plain = await reply(greedy.with_changes(max_tokens=24))
        strong = greedy.with_changes(max_tokens=24, repeat_penalty=3.0)
        assert await reply(strong.with_changes(repeat_last_n=0)) == plain  # no window: no penalty
        assert await reply(strong.with_changes(repeat_last_n=-1)) != plain
    finally:
        await runner.close()

"""DRY, XTC and top-n-sigma through llama.cpp's sampler chain, on the real test model."""

from __future__ import annotations

import pytest

from tui_llm.engine import wire
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.sampler import SamplerError, SamplerSettings, get_sampler_preset, parse_value

LOOP = [{"role": "user", "content": "Repeat the word 'hello' forever."}]
STORY = [{"role": "user", "content": "Write a short story about a cat."}]


def repeated_share(tokens: list[int], n: int = 4) -> float:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return 1 - len(set(grams)) / len(grams)


@pytest.fixture
async def runner(model_path, tiny_load):
    runner = LlamaCppRunner()
    await runner.load(model_path, tiny_load)
    yield runner
    await runner.close()


async def reply(runner, request, sampler) -> str:
    return "".join([piece async for piece in runner.stream(request, sampler)])


async def test_strong_dry_breaks_a_loop(runner):
    greedy = SamplerSettings(temperature=0.0, max_tokens=96, dry_multiplier=0.0)
    looping = await reply(runner, LOOP, greedy)
    with_dry = await reply(runner, LOOP, greedy.with_changes(dry_multiplier=2.0, dry_sequence_breakers=()))
    loop_share = repeated_share(await runner.tokenize(looping))
    dry_share = repeated_share(await runner.tokenize(with_dry))
    assert loop_share > 0.5, looping
    assert dry_share < loop_share / 2, with_dry


async def test_xtc_always_on_changes_the_reply(runner):
    fixed = SamplerSettings(seed=7, max_tokens=40, xtc_threshold=0.05)
    off = await reply(runner, STORY, fixed)
    on = await reply(runner, STORY, fixed.with_changes(xtc_probability=1.0))
    assert on != off
    assert await reply(runner, STORY, fixed.with_changes(xtc_probability=1.0)) == on


async def test_top_n_sigma_narrow_is_greedy(runner):
    greedy = await reply(runner, STORY, SamplerSettings(temperature=0.0, max_tokens=32, dry_multiplier=0.0))
    # A sigma of 0 keeps only the top logit, whatever the temperature and seed.
    for seed in (1, 2):
        narrow = SamplerSettings(temperature=1.5, min_p=0.0, top_n_sigma=0.0001, seed=seed,
                                 max_tokens=32, dry_multiplier=0.0)
        assert await reply(runner, STORY, narrow) == greedy


async def test_same_seed_same_bytes_random_seed_differs(runner):
    fixed = SamplerSettings(seed=42, max_tokens=48, temperature=1.2)
    assert await reply(runner, STORY, fixed) == await reply(runner, STORY, fixed)
    fresh = fixed.with_changes(seed=-1)
    replies = {await reply(runner, STORY, fresh) for _ in range(3)}
    assert len(replies) > 1


async def test_stop_strings_still_end_the_reply(runner):
    text = await reply(runner, STORY, SamplerSettings(seed=3, max_tokens=80, stop=("a",)))
    assert "a" not in text
    assert runner.last_stats.finish_reason == "stop"


def test_new_fields_are_checked_with_words():
    with pytest.raises(SamplerError, match="sampler_order"):
        SamplerSettings(sampler_order="ekq")
    with pytest.raises(SamplerError, match="sampler_order"):
        SamplerSettings(sampler_order="kk")
    with pytest.raises(SamplerError, match="xtc_probability must be between 0 and 1"):
        SamplerSettings(xtc_probability=1.5)
    with pytest.raises(SamplerError, match="dry_allowed_length must be a whole number"):
        SamplerSettings(dry_allowed_length=2.5)
    with pytest.raises(SamplerError, match="dry_sequence_breakers"):
        SamplerSettings.from_dict({"dry_sequence_breakers": "\n"})
    assert parse_value("dry_sequence_breakers", '["\\n", "."]') == ("\n", ".")
    assert SamplerSettings.from_dict({"dry_sequence_breakers": ["x"]}).to_dict()["dry_sequence_breakers"] == ["x"]


def test_presets_take_the_new_fields():
    assert get_sampler_preset("deterministic").settings.dry_multiplier == 0.0
    assert get_sampler_preset("min_p").settings.dry_multiplier == SamplerSettings().dry_multiplier


def test_servers_get_the_new_samplers_under_their_names_only_when_set():
    plain = SamplerSettings(dry_multiplier=0.0)
    for kind in ("llama.cpp", "koboldcpp", "openai", "vllm"):
        body = wire.sampler_fields(plain, kind, [])
        assert not {k for k in body if k.startswith(("dry_", "xtc_", "samplers", "nsigma", "top_n"))}
    tuned = plain.with_changes(dry_multiplier=0.8, xtc_probability=0.5, top_n_sigma=1.0, sampler_order="edkt")
    llama = wire.sampler_fields(tuned, "llama.cpp", [])
    assert llama["dry_multiplier"] == 0.8 and llama["xtc_probability"] == 0.5
    assert llama["top_n_sigma"] == 1.0 and llama["samplers"] == "edkt"
    assert "dry_base" not in llama
    kobold = wire.sampler_fields(tuned, "koboldcpp", [])
    assert kobold["nsigma"] == 1.0 and kobold["dry_multiplier"] == 0.8
    assert "dry_multiplier" not in wire.sampler_fields(tuned, "openai", [])

"""Contexts past the training length: the RoPE scaling chosen, explained, and reaching llama.cpp."""

from __future__ import annotations

import asyncio
import ctypes

import llama_cpp
import llama_cpp._logger
import pytest

from gguf_writer import llama_like, write_gguf
from tui_llm.config import AppConfig
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings, LoadSettingsError, parse_value
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.plan import plan_for_file, plan_load
from tui_llm.machine.shape import read_shape
from tui_llm.models.rope import ModelRope, choose

GIB = 1024**3
NO_GPU = Hardware(ram_total=32 * GIB, ram_available=30 * GIB, cores_physical=2, cores_logical=2)


def test_within_the_trained_length_nothing_changes():
    choice = choose(4096, 8192)
    assert (choice.scaling, choice.freq_scale, choice.note) == ("auto", 0.0, "")
    assert choice.llama_kwargs == {}


def test_past_the_trained_length_yarn_is_proposed_with_the_factor_and_a_warning():
    choice = choose(16384, 8192)
    assert (choice.scaling, choice.freq_scale) == ("yarn", 0.5)
    assert choice.llama_kwargs == {"rope_scaling_type": llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN,
                                   "rope_freq_scale": 0.5}
    assert "2x the training length" in choice.note and "Quality may drop" in choice.note


def test_the_users_choice_wins_and_none_is_explained():
    linear = choose(32768, 8192, scaling="linear")
    assert (linear.scaling, linear.freq_scale) == ("linear", 0.25)
    assert linear.llama_kwargs["rope_scaling_type"] == llama_cpp.LLAMA_ROPE_SCALING_TYPE_LINEAR
    ntk = choose(16384, 8192, freq_base=400000.0)
    assert (ntk.scaling, ntk.freq_base, ntk.freq_scale) == ("auto", 400000.0, 0.0)
    assert "base 400000" in ntk.note
    none = choose(16384, 8192, scaling="none")
    assert none.llama_kwargs == {"rope_scaling_type": llama_cpp.LLAMA_ROPE_SCALING_TYPE_NONE}
    assert "never saw" in none.note
    with pytest.raises(ValueError, match="one of auto, none, linear, yarn"):
        choose(16384, 8192, scaling="ntk")


def test_a_models_own_declared_scaling_is_read_and_used_while_it_covers_the_context(tmp_path):
    meta, tensors = llama_like(extra={
        "llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": 4.0,
        "llama.rope.scaling.original_context_length": 2048,
    })
    shape = read_shape(write_gguf(tmp_path / "yarn.gguf", meta, tensors))
    assert shape.rope == ModelRope("yarn", 4.0, 2048)
    inside = plan_load(shape, LoadSettings(n_ctx=8192), NO_GPU)
    assert inside.settings.rope_scaling == "auto" and inside.settings.rope_freq_scale == 0.0
    assert "model's own RoPE scaling (YaRN x4 over 2,048 tokens)" in inside.rope_note
    past = plan_load(shape, LoadSettings(n_ctx=16384), NO_GPU)
    assert past.settings.rope_scaling == "yarn" and past.settings.rope_freq_scale == 0.125
    old_style = ModelRope.from_metadata("llama", {"llama.rope.scale_linear": 2.0})
    assert old_style == ModelRope("linear", 2.0, 0)
    assert ModelRope.from_metadata("llama", {"llama.rope.scaling.type": "none"}) == ModelRope()


def test_rope_scaling_is_a_load_setting_with_clear_errors():
    assert parse_value("rope_scaling", " YaRN ") == "yarn"
    with pytest.raises(LoadSettingsError, match="RoPE scaling must be one of auto, none, linear, yarn"):
        LoadSettings(rope_scaling="ntk")
    assert LoadSettings.from_dict({"rope_scaling": "linear"}).rope_scaling == "linear"


def test_twice_the_training_context_loads_generates_and_reaches_llama_cpp(model_path):
    shape = read_shape(model_path)
    n_ctx = 2 * shape.n_ctx_train
    plan = plan_for_file(AppConfig(), model_path, NO_GPU, n_ctx=n_ctx)
    assert (plan.settings.rope_scaling, plan.settings.rope_freq_scale) == ("yarn", 0.5)
    assert "Quality may drop" in plan.rope_note

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", "replace"))

    runner = LlamaCppRunner()

    async def run() -> tuple[str, int]:
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        try:
            await runner.load(model_path, plan.settings.with_changes(n_threads=1))
        finally:
            llama_cpp.llama_log_set(llama_cpp._logger.llama_log_callback, ctypes.c_void_p(0))
        pieces = [p async for p in runner.stream(
            [{"role": "user", "content": "Say hello."}], SamplerSettings(max_tokens=8, temperature=0.0, seed=1)
        )]
        loaded_ctx = runner.n_ctx
        await runner.close()
        return "".join(pieces), loaded_ctx

    reply, loaded_ctx = asyncio.run(run())
    assert loaded_ctx == n_ctx
    assert runner.last_stats.completion_tokens > 0 and reply.strip()
    # What llama.cpp itself reports about the context it made.
    log = "".join(lines)
    assert f"n_ctx_seq             = {n_ctx}\n" in log
    assert "freq_scale            = 0.5\n" in log
    assert f"n_ctx_seq ({n_ctx}) > n_ctx_train ({shape.n_ctx_train})" in log

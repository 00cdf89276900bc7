"""The local runner on the real test model."""

from __future__ import annotations

import shutil
import threading

import psutil
import pytest

from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.contract import GenerationError, ModelLoadError
from tui_llm.engine.sampler import SamplerSettings

GREEDY = SamplerSettings(temperature=0.0, max_tokens=24, seed=1)
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture
async def runner(model_path, tiny_load):
    runner = LlamaCppRunner()
    await runner.load(model_path, tiny_load)
    yield runner
    await runner.close()


async def test_streams_text_in_pieces(runner):
    pieces = [piece async for piece in runner.stream(HELLO, GREEDY)]
    assert len(pieces) > 1
    assert "".join(pieces).strip()
    stats = runner.last_stats
    assert stats.completion_tokens == len(pieces)
    assert stats.prompt_tokens > 5
    assert not stats.cancelled


async def test_load_reports_info_and_embedded_template(runner, model_path):
    info = runner.info
    assert info.path == model_path
    assert info.architecture == "llama"
    assert info.n_ctx == 1024
    assert info.n_ctx_train >= 2048
    assert "<|im_start|>" in (info.embedded_template or "")
    assert (await runner.render(HELLO)).endswith("<|im_start|>assistant\n")


async def test_cancel_stops_within_a_few_tokens(runner):
    long = SamplerSettings(temperature=0.0, max_tokens=400)
    story = [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]
    received = 0
    async for _piece in runner.stream(story, long):
        received += 1
        if received == 5:
            runner.cancel()
    assert 5 <= received <= 8
    assert runner.last_stats.cancelled


async def test_external_cancel_event_stops_generation(runner):
    event = threading.Event()
    event.set()
    pieces = [p async for p in runner.stream(HELLO, GREEDY, cancel=event)]
    assert len(pieces) <= 1
    assert runner.last_stats.cancelled


async def test_abandoning_the_stream_stops_the_engine(runner):
    stream = runner.stream(HELLO, SamplerSettings(temperature=0.0, max_tokens=200))
    async for _ in stream:
        break
    await stream.aclose()
    # The engine is free again: a new generation runs to completion.
    text = "".join([p async for p in runner.stream(HELLO, GREEDY)])
    assert text.strip()


async def test_second_turn_reuses_the_cached_prefix(runner):
    first = "".join([p async for p in runner.stream(HELLO, GREEDY)])
    assert runner.last_stats.evaluated_prompt_tokens == runner.last_stats.prompt_tokens
    follow_up = [*HELLO, {"role": "assistant", "content": first},
                 {"role": "user", "content": "Now say goodbye."}]
    _ = [p async for p in runner.stream(follow_up, GREEDY)]
    stats = runner.last_stats
    assert stats.evaluated_prompt_tokens < stats.prompt_tokens / 2


async def test_prompt_longer_than_context_is_a_clear_error(model_path):
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=256))
    try:
        with pytest.raises(GenerationError, match="context holds 256"):
            _ = [p async for p in runner.stream("word " * 600, GREEDY)]
    finally:
        await runner.close()


async def test_loading_a_second_model_releases_the_first(model_path, tmp_path):
    copy = tmp_path / "second.gguf"
    shutil.copyfile(model_path, copy)
    process = psutil.Process()
    runner = LlamaCppRunner()
    try:
        settings = LoadSettings(n_ctx=512, use_mmap=False)
        await runner.load(model_path, settings)
        first_rss = process.memory_info().rss
        for _ in range(3):
            await runner.load(copy, settings)
            await runner.load(model_path, settings)
        growth = process.memory_info().rss - first_rss
        # Three more loads of a ~98 MB model without unloading would add ~600 MB.
        assert growth < 80 * 1024 * 1024
        assert runner.info.path == model_path
    finally:
        await runner.close()


async def test_missing_file_is_a_clear_error(tmp_path):
    runner = LlamaCppRunner()
    with pytest.raises(ModelLoadError, match="No such model file"):
        await runner.load(tmp_path / "nope.gguf")


async def test_non_gguf_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    runner = LlamaCppRunner()
    with pytest.raises(ModelLoadError, match="not a GGUF model"):
        await runner.load(bogus)


async def test_truncated_gguf_is_a_clear_error(model_path, tmp_path):
    truncated = tmp_path / "truncated.gguf"
    with model_path.open("rb") as src:
        truncated.write_bytes(src.read(5_000_000))
    runner = LlamaCppRunner()
    with pytest.raises(ModelLoadError, match="truncated|corrupt"):
        await runner.load(truncated)
    await runner.close()


async def test_generation_without_a_model_is_a_clear_error():
    runner = LlamaCppRunner()
    with pytest.raises(GenerationError, match="No model is loaded"):
        _ = [p async for p in runner.stream(HELLO)]


async def test_a_context_that_is_not_a_multiple_of_256_takes_the_size_llama_cpp_gives(model_path):
    runner = LlamaCppRunner()
    try:
        await runner.load(model_path, LoadSettings(n_ctx=384))
        assert runner.n_ctx == 512  # llama.cpp pads to 256 cells; the token buffer must match
        long = [{"role": "user", "content": "word " * 420 + "Say ok."}]
        [p async for p in runner.stream(long, GREEDY.with_changes(max_tokens=4))]  # raised before
        assert runner.last_stats.prompt_tokens > 384 and runner.last_stats.finish_reason
    finally:
        await runner.close()

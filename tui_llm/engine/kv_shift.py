"""Context shift: reuse the KV cache after the oldest turns stop being sent.

When the conversation drops old turns, the new prompt is the same beginning
(Memory, system prompt, character) followed by a run of tokens the cache
already holds further along. Instead of reading that run again, its cells are
moved down over the dropped turns (llama.cpp's memory ``seq_rm`` and
``seq_add``): RoPE positions are re-rotated, the values stay as they were
computed, with the dropped turns still behind them (the same approximation as
llama.cpp server's and KoboldCpp's context shift). Models whose memory cannot
shift (recurrent, some sliding-window caches) are left alone.
"""

from __future__ import annotations

from array import array
from typing import Any, Sequence

from tui_llm.engine.kv_state import common_prefix

PROBE = 16  # tokens of the new prompt looked for in the cache
MIN_REUSE = 32  # shorter runs are read again rather than shifted


def can_shift(llm: Any) -> bool:
    import llama_cpp

    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    return memory is not None and bool(llama_cpp.llama_memory_can_shift(memory))


def find_shift(cached: Sequence[int], prompt: Sequence[int]) -> tuple[int, int, int] | None:
    """(kept, gap_end, length): keep cached[:kept], drop cached[kept:gap_end], and move
    cached[gap_end:gap_end+length] down to ``kept`` so the cache starts like ``prompt``."""
    kept = common_prefix(cached, prompt)
    if len(prompt) - kept < MIN_REUSE or len(cached) - kept < MIN_REUSE:
        return None
    haystack = array("i", cached).tobytes()
    needle = array("i", prompt[kept : kept + PROBE]).tobytes()
    at = haystack.find(needle, 4 * (kept + 1))
    while at >= 0 and at % 4:
        at = haystack.find(needle, at + 1)
    if at < 0:
        return None
    gap_end = at // 4
    length = common_prefix(cached[gap_end:], prompt[kept:])
    if length < MIN_REUSE:
        return None
    return kept, gap_end, length


def shift_into(llm: Any, prompt: Sequence[int]) -> int:
    """Shift ``llm``'s cache towards ``prompt``; returns the prompt tokens reused by shifting
    (0 when nothing was moved). Call on the engine's thread."""
    import llama_cpp

    cached = llm.input_ids[: llm.n_tokens].tolist()
    found = find_shift(cached, prompt)
    if found is None or not can_shift(llm):
        return 0
    kept, gap_end, length = found
    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    end = gap_end + length
    if not (llama_cpp.llama_memory_seq_rm(memory, -1, end, -1)
            and llama_cpp.llama_memory_seq_rm(memory, -1, kept, gap_end)):
        llm._ctx.kv_cache_clear()
        llm.n_tokens = 0
        return 0
    llama_cpp.llama_memory_seq_add(memory, 0, gap_end, end, kept - gap_end)
    llm.input_ids[kept : kept + length] = cached[gap_end:end]
    llm.n_tokens = kept + length
    return length

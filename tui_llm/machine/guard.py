"""The fit guard: a model whose estimate exceeds this machine's memory is not loaded unasked.

Loading it anyway swaps the machine to a crawl or gets the process killed;
the guard says so before, with the numbers and what would fit instead.
"""

from __future__ import annotations

from pathlib import Path

from tui_llm.engine.load_settings import LoadSettings
from tui_llm.machine.fit import verdict
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.shape import read_shape
from tui_llm.units import human_size


def load_refusal(model: Path, settings: LoadSettings, hardware: Hardware) -> str | None:
    """Why ``model`` should not be loaded with ``settings`` here, or None when it fits."""
    shape = read_shape(model)
    if shape is None:
        return None  # the loader reports an unreadable file in its own words
    judged = verdict(
        shape, hardware, settings.n_ctx, settings.n_gpu_layers,
        settings.kv_cache_type, settings.n_ubatch, settings.flash_attn,
    )
    if judged.fits:
        return None
    need = judged.estimate.ram_bytes + judged.estimate.vram_bytes
    have = judged.ram_available + judged.vram_free
    advice = []
    if judged.max_context and judged.max_context < judged.n_ctx:
        advice.append(f"a context of at most {judged.max_context:,} tokens")
    if need > have and shape.weights_bytes:
        room = max(have - (need - shape.weights_bytes), 0)
        advice.append(
            f"a smaller quant of this model (weights of at most {human_size(room)}, "
            f"these are {human_size(shape.weights_bytes)})" if room else "a smaller model"
        )
    instead = f" What would fit: {' or '.join(advice)}." if advice else ""
    return f"{model.name} is too large for this machine: {judged.explanation}.{instead}"

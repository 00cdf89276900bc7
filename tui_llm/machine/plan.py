"""Load planning: a model, its settings and this machine -> the values llama.cpp loads it with.

Every "auto" in the load settings is decided here, once, by whoever loads
(the chat screen, ``tui-llm chat``) or judges (``tui-llm fit``); the engine
then loads exactly what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_llm.engine.load_settings import LoadSettings, decode_threads
from tui_llm.machine.fit import suggest_gpu_layers
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.shape import ModelShape, read_shape
from tui_llm.models.rope import ModelRope, choose

if TYPE_CHECKING:
    from tui_llm.config import AppConfig


@dataclass(frozen=True)
class LoadPlan:
    settings: LoadSettings  # GPU layers and threads decided: nothing left to "auto"
    template: str | None  # the template chosen in settings for this model; None: detect it
    rope_note: str = ""  # what RoPE scaling a context past the trained length gets, in words


def plan_load(
    shape: ModelShape | None,
    settings: LoadSettings,
    hardware: Hardware,
    template: str | None = None,
    headless: bool = False,
) -> LoadPlan:
    """Decide what ``settings`` leaves to "auto" for a model of ``shape`` on ``hardware``.

    GPU layers: as many as fit free VRAM with a margin; 0 without a usable GPU
    or when the model's shape is unknown (its header could not be read).
    Threads: physical cores, one CPU left to the app while decoding; a
    ``headless`` run (``tui-llm chat``) has no UI thread and decodes on every
    physical core (bench/cli_threads.py).
    RoPE: a context past the training length gets scaling (models.rope.choose).
    """
    layers = settings.n_gpu_layers
    if layers is None:
        layers = 0 if shape is None else suggest_gpu_layers(
            shape, hardware, settings.n_ctx, settings.kv_cache_type, settings.n_ubatch, settings.flash_attn
        )
    threads = settings.n_threads or (
        hardware.cores_physical if headless else decode_threads(hardware.cores_physical, hardware.cores_logical)
    )
    batch_threads = settings.n_threads_batch or settings.n_threads or hardware.cores_physical
    rope = choose(settings.n_ctx, shape.n_ctx_train if shape else 0, shape.rope if shape else ModelRope(),
                  settings.rope_scaling, settings.rope_freq_base, settings.rope_freq_scale)
    planned = settings.with_changes(
        n_gpu_layers=layers, n_threads=threads, n_threads_batch=batch_threads,
        rope_scaling=rope.scaling, rope_freq_base=rope.freq_base, rope_freq_scale=rope.freq_scale,
    )
    return LoadPlan(planned, template, rope.note)


def plan_for_file(
    config: "AppConfig", model: Path, hardware: Hardware, headless: bool = False, **changes: Any
) -> LoadPlan:
    """The plan for the GGUF file ``model`` (its header is read) with its own settings
    from ``config``, then ``changes`` (e.g. --ctx)."""
    settings = config.load_for(model)
    if changes:
        settings = settings.with_changes(**changes)
    return plan_load(read_shape(model), settings, hardware, config.overrides_for(model).template, headless)

"""How a model is loaded: context size, GPU layers, threads, batch, cache types.

Every value here is fixed when llama.cpp loads the model: changing one takes
effect on the next load (:func:`needs_reload` says which changed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import psutil

from tui_llm.engine.sampler import FieldHelp
from tui_llm.models.rope import SCALINGS

KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
AUTO = "auto"


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def decode_threads(physical: int | None = None, logical: int | None = None) -> int:
    """Physical cores, but never every hardware thread: the app needs one for itself.

    When llama.cpp holds every CPU, each time the app's own thread runs (drawing the
    reply, reading keys) a llama.cpp worker is descheduled and the others wait for it.
    On 2 cores without SMT, 2 threads stream slower through the chat screen than 1
    (bench/auto_settings.py), and collapse when anything else runs.
    """
    physical = physical or physical_cores()
    logical = logical or psutil.cpu_count() or 1
    return max(1, min(physical, logical - 1))


FIELD_HELP: dict[str, FieldHelp] = {
    "n_ctx": FieldHelp("Context size", "Tokens the model can see at once; more costs memory."),
    "n_gpu_layers": FieldHelp("GPU layers", "Layers run on the GPU; auto = as many as fit, 0 = CPU only."),
    "n_threads": FieldHelp(
        "Threads", "CPU threads for writing replies; auto = physical cores, one CPU left to the app."
    ),
    "n_threads_batch": FieldHelp("Prompt threads", "CPU threads for reading the prompt; auto = physical cores."),
    "n_batch": FieldHelp("Batch size", "Prompt tokens read per step; bigger is faster, uses more memory."),
    "n_ubatch": FieldHelp("Micro-batch", "Physical batch size inside one step."),
    "flash_attn": FieldHelp("Flash attention", "Faster, leaner attention; needed for a quantized KV cache."),
    "kv_cache_type": FieldHelp("KV cache type", "f16 = exact; q8_0 / q4_0 halve or quarter its memory."),
    "rope_scaling": FieldHelp(
        "RoPE scaling", "auto, none, linear or yarn: how a context past the trained length is stretched."
    ),
    "rope_freq_base": FieldHelp("RoPE base", "RoPE frequency base for longer contexts (NTK); 0 = the model's."),
    "rope_freq_scale": FieldHelp("RoPE scale", "Linear RoPE scaling, e.g. 0.5 doubles the context; 0 = the model's."),
    "use_mmap": FieldHelp("Memory-map", "Map the file instead of reading it; faster start, shared pages."),
    "prompt_lookup": FieldHelp(
        "Prompt lookup",
        "Guess the next words from earlier text, checked in one batch: faster copies and edits.",
    ),
}

# Fields where None means "decide for this machine" (shown and typed as "auto").
AUTO_FIELDS = {"n_gpu_layers", "n_threads", "n_threads_batch"}


class LoadSettingsError(ValueError):
    """A load setting outside its allowed range."""


@dataclass(frozen=True)
class LoadSettings:
    """``None`` means "decide automatically for this machine"."""

    n_ctx: int = 4096
    n_gpu_layers: int | None = None
    n_threads: int | None = None
    n_threads_batch: int | None = None
    n_batch: int = 512
    n_ubatch: int = 512
    flash_attn: bool = False
    kv_cache_type: str = "f16"
    rope_scaling: str = "auto"
    rope_freq_base: float = 0.0
    rope_freq_scale: float = 0.0
    use_mmap: bool = True
    prompt_lookup: bool = False

    def __post_init__(self) -> None:
        validate(self)

    def with_changes(self, **changes: Any) -> "LoadSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "LoadSettings | None" = None) -> "LoadSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LoadSettingsError(f"unknown load setting(s): {', '.join(unknown)}")
        values = {k: (None if v == AUTO and k in AUTO_FIELDS else v) for k, v in data.items()}
        return replace(base or cls(), **values)

    def resolved_threads(self) -> int:
        return self.n_threads or decode_threads()

    def resolved_batch_threads(self) -> int:
        # Reading the prompt, the app is idle: every physical core helps.
        return self.n_threads_batch or self.n_threads or physical_cores()


def _whole(name: str, value: Any, low: int, high: int, allow_auto: bool = False) -> None:
    if value is None and allow_auto:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        extra = " or auto" if allow_auto else ""
        raise LoadSettingsError(f"{name} must be a whole number{extra}, got {value!r}")
    if not low <= value <= high:
        raise LoadSettingsError(f"{name} must be between {low} and {high}, got {value}")


def validate(settings: LoadSettings) -> None:
    _whole("context size (n_ctx)", settings.n_ctx, 16, 1_048_576)
    _whole("GPU layers (n_gpu_layers)", settings.n_gpu_layers, -1, 100_000, allow_auto=True)
    _whole("threads (n_threads)", settings.n_threads, 1, 1024, allow_auto=True)
    _whole("prompt threads (n_threads_batch)", settings.n_threads_batch, 1, 1024, allow_auto=True)
    _whole("batch size (n_batch)", settings.n_batch, 1, 65_536)
    _whole("micro-batch (n_ubatch)", settings.n_ubatch, 1, 65_536)
    for name in ("flash_attn", "use_mmap", "prompt_lookup"):
        if not isinstance(getattr(settings, name), bool):
            raise LoadSettingsError(f"{name} must be true or false")
    if settings.kv_cache_type not in KV_CACHE_TYPES:
        raise LoadSettingsError(
            f"KV cache type must be one of {', '.join(KV_CACHE_TYPES)}, got {settings.kv_cache_type!r}"
        )
    if settings.kv_cache_type != "f16" and not settings.flash_attn:
        raise LoadSettingsError(
            f"a {settings.kv_cache_type} KV cache needs flash attention on (llama.cpp refuses otherwise)"
        )
    if settings.rope_scaling not in SCALINGS:
        raise LoadSettingsError(
            f"RoPE scaling must be one of {', '.join(SCALINGS)}, got {settings.rope_scaling!r}"
        )
    for name, high in (("rope_freq_base", 100_000_000.0), ("rope_freq_scale", 16.0)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
            raise LoadSettingsError(f"{name} must be between 0 and {high:g} (0 = the model's own)")


def changed_fields(old: LoadSettings | None, new: LoadSettings) -> list[str]:
    """Names of the fields that differ; all of them when nothing is loaded yet."""
    if old is None:
        return [f.name for f in fields(LoadSettings)]
    return [f.name for f in fields(LoadSettings) if getattr(old, f.name) != getattr(new, f.name)]


def needs_reload(old: LoadSettings | None, new: LoadSettings) -> bool:
    """True when a model loaded with ``old`` must be reloaded to get ``new``.

    Every load setting is fixed at load time in llama.cpp, so any change counts.
    """
    return old is not None and bool(changed_fields(old, new))


def parse_value(name: str, text: str) -> Any:
    """What a user typed for field ``name``, as a value; raises LoadSettingsError."""
    text = text.strip()
    if name in AUTO_FIELDS and text.lower() in {"", AUTO}:
        return None
    if name in {"flash_attn", "use_mmap", "prompt_lookup"}:
        lowered = text.lower()
        if lowered in {"on", "true", "yes", "1"}:
            return True
        if lowered in {"off", "false", "no", "0"}:
            return False
        raise LoadSettingsError(f"{name} must be on or off")
    if name in {"kv_cache_type", "rope_scaling"}:
        return text.lower() if name == "rope_scaling" else text
    try:
        if name in {"rope_freq_base", "rope_freq_scale"}:
            return float(text)
        return int(text)
    except ValueError:
        raise LoadSettingsError(f"{FIELD_HELP[name].label} must be a number, got {text!r}") from None


def format_value(name: str, value: Any) -> str:
    if value is None:
        return AUTO
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

"""The model's own sampler settings (``general.sampling.*`` in its GGUF header), layered
under the user's: where each value of a reply's sampler came from.

The layers: the chosen preset; over it the model's own values, when the
preset is the default one (a preset the user picked wins over the model);
over both, every value the user changed from the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from tui_llm.engine.sampler import INT_FIELDS, SAMPLER_ORDER, SamplerError, SamplerSettings

PREFIX = "general.sampling."
# llama.cpp's keys (llama.h LLAMA_MODEL_META_KEY_SAMPLING_*) and the settings they set.
KEYS = {
    "sequence": "sampler_order",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "xtc_probability": "xtc_probability",
    "xtc_threshold": "xtc_threshold",
    "temp": "temperature",
    "penalty_last_n": "repeat_last_n",
    "penalty_repeat": "repeat_penalty",
    "mirostat": "mirostat_mode",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}
# A sequence may also be written as sampler names, as llama.cpp's --samplers takes them.
SAMPLER_NAMES = {
    "penalties": "e", "dry": "d", "top_n_sigma": "s", "top_k": "k", "typ_p": "y", "typical_p": "y",
    "top_p": "p", "min_p": "m", "xtc": "x", "temperature": "t", "temp": "t",
}
PRESET, MODEL, USER = "preset", "model", "user"


@dataclass(frozen=True)
class SourcedSampler:
    """A reply's sampler settings, each field's source, and the model's values left out as bad."""

    settings: SamplerSettings
    sources: dict[str, str]
    problems: tuple[str, ...] = field(default_factory=tuple)

    def from_source(self, source: str) -> list[str]:
        return [name for name, where in self.sources.items() if where == source]


def sources_line(sourced: SourcedSampler) -> str:
    """Where the values came from, in one line: the model's, the user's, the rest the preset's."""
    parts = []
    if sourced.from_source(MODEL):
        parts.append("from the model: " + ", ".join(sourced.from_source(MODEL)))
    if sourced.from_source(USER):
        parts.append("changed by you: " + ", ".join(sourced.from_source(USER)))
    return "; ".join(parts + ["the rest from the preset"])


def model_values(metadata: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The sampler values a GGUF header sets, and a line for each one that cannot be used."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, name in KEYS.items():
        raw = (metadata or {}).get(PREFIX + key)
        if raw is None:
            continue
        try:
            value = _order(raw) if name == "sampler_order" else _number(name, raw)
            SamplerSettings(**{name: value})
        except (SamplerError, ValueError, TypeError) as exc:
            problems.append(f"the model's {PREFIX}{key} = {str(raw)[:40]!r} is not used: {exc}")
            continue
        values[name] = value
    return values, problems


def layered(
    preset: SamplerSettings, current: SamplerSettings, metadata: Mapping[str, Any] | None,
    model_applies: bool = True,
) -> SourcedSampler:
    """``current`` with the model's values in place of every value still at the preset's."""
    own, problems = model_values(metadata) if model_applies else ({}, [])
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in fields(SamplerSettings):
        chosen = getattr(current, f.name)
        if chosen != getattr(preset, f.name):
            values[f.name], sources[f.name] = chosen, USER
        elif f.name in own:
            values[f.name], sources[f.name] = own[f.name], MODEL
        else:
            values[f.name], sources[f.name] = chosen, PRESET
    return SourcedSampler(SamplerSettings(**values), sources, tuple(problems))


def _number(name: str, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise ValueError("not a number")
    text = str(raw).strip()
    if name in INT_FIELDS:
        number = float(text)
        if number != int(number):
            raise ValueError("not a whole number")
        return int(number)
    return round(float(text), 6)  # float32 in the file: 0.7 reads as 0.699999988


def _order(raw: Any) -> str:
    text = str(raw).strip().lower()
    if any(sep in text for sep in ";, "):
        parts = [p for p in text.replace(",", ";").replace(" ", ";").split(";") if p]
        unknown = [p for p in parts if p not in SAMPLER_NAMES]
        if unknown:
            raise ValueError(f"unknown sampler {unknown[0]!r}")
        return "".join(SAMPLER_NAMES[p] for p in parts)
    if text in SAMPLER_NAMES:
        return SAMPLER_NAMES[text]
    if set(text) - set(SAMPLER_ORDER):
        raise ValueError(f"letters from {SAMPLER_ORDER!r} expected")
    return text

"""Sampler settings: how the next token is picked."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


class SamplerError(ValueError):
    """A sampler value outside its allowed range."""


@dataclass(frozen=True)
class SamplerSettings:
    """Defaults are the 'Min P' preset: min_p 0.1, temperature 1.0, the rest neutral."""

    temperature: float = 1.0
    min_p: float = 0.1
    top_p: float = 1.0
    top_k: int = 0
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    max_tokens: int = 512
    seed: int = -1
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        validate(self)

    def with_changes(self, **changes: Any) -> "SamplerSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SamplerSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SamplerError(f"unknown sampler setting(s): {', '.join(unknown)}")
        values = dict(data)
        if "stop" in values:
            values["stop"] = tuple(values["stop"])
        return cls(**values)


_RANGES: dict[str, tuple[float | None, float | None]] = {
    "temperature": (0.0, None),
    "min_p": (0.0, 1.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, None),
    "typical_p": (0.0, 1.0),
    "repeat_penalty": (0.0, None),
    "repeat_last_n": (-1, None),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "mirostat_mode": (0, 2),
    "mirostat_tau": (0.0, None),
    "mirostat_eta": (0.0, None),
    "max_tokens": (1, None),
    "seed": (-1, None),
}


def validate(settings: SamplerSettings) -> None:
    for name, (low, high) in _RANGES.items():
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SamplerError(f"{name} must be a number, got {value!r}")
        if low is not None and value < low:
            raise SamplerError(f"{name} must be >= {low}, got {value}")
        if high is not None and value > high:
            raise SamplerError(f"{name} must be <= {high}, got {value}")
    if not all(isinstance(s, str) and s for s in settings.stop):
        raise SamplerError("stop strings must be non-empty text")

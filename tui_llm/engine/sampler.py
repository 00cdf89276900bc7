"""Sampler settings: how the next token is picked, and the named presets.

Every field here is applied per request: a change takes effect on the next
reply without reloading the model (the llama runner builds a new sampler
chain for each reply: :mod:`tui_llm.engine.sampler_chain`).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from tui_llm import locations


class SamplerError(ValueError):
    """A sampler value outside its allowed range, or a bad preset."""


@dataclass(frozen=True)
class FieldHelp:
    label: str
    help: str


FIELD_HELP: dict[str, FieldHelp] = {
    "temperature": FieldHelp("Temperature", "Higher = more surprising word choices; 0 = always the likeliest."),
    "min_p": FieldHelp("Min P", "Drop tokens less likely than this share of the top one (0.1 is a good start)."),
    "top_p": FieldHelp("Top P", "Keep the likeliest tokens up to this total probability; 1 = off."),
    "top_k": FieldHelp("Top K", "Keep only the K likeliest tokens; 0 = off."),
    "typical_p": FieldHelp("Typical P", "Prefer tokens of typical surprise; 1 = off."),
    "repeat_penalty": FieldHelp("Repeat penalty", "Above 1 makes recently used tokens less likely; 1 = off."),
    "repeat_last_n": FieldHelp("Repeat range", "How many recent tokens the penalties look at; 0 = none, -1 = all."),
    "presence_penalty": FieldHelp("Presence penalty", "Penalise any token already used, once; 0 = off."),
    "frequency_penalty": FieldHelp("Frequency penalty", "Penalise tokens by how often they were used; 0 = off."),
    "dry_multiplier": FieldHelp("DRY multiplier", "Penalise repeating a phrase already in the text; 0 = off, 0.8 = usual."),
    "dry_base": FieldHelp("DRY base", "How fast the DRY penalty grows with the repeated phrase's length."),
    "dry_allowed_length": FieldHelp("DRY allowed length", "Repeats up to this many tokens are free of DRY's penalty."),
    "dry_penalty_last_n": FieldHelp("DRY range", "How many recent tokens DRY searches for repeats; 0 = off, -1 = all."),
    "dry_sequence_breakers": FieldHelp(
        "DRY breakers", 'Texts a repeat may not run across, as a TOML list: ["\\n", ":", "\\"", "*"].'
    ),
    "xtc_probability": FieldHelp("XTC probability", "How often XTC drops the likeliest tokens for a rarer one; 0 = off."),
    "xtc_threshold": FieldHelp("XTC threshold", "XTC drops only tokens above this probability, keeping the last of them."),
    "top_n_sigma": FieldHelp("Top n-sigma", "Keep tokens within n standard deviations of the top logit; -1 = off."),
    "sampler_order": FieldHelp(
        "Sampler order", "Chain order (e penalty, d DRY, s sigma, k top-k, y typ, p top-p, m min-p, x XTC, t temp)."
    ),
    "mirostat_mode": FieldHelp("Mirostat", "0 = off; 1 or 2 steer towards a fixed surprise, replacing the samplers above."),
    "mirostat_tau": FieldHelp("Mirostat tau", "Mirostat's target surprise: lower = more focused."),
    "mirostat_eta": FieldHelp("Mirostat eta", "How fast Mirostat adapts."),
    "max_tokens": FieldHelp("Max tokens", "Longest reply, in tokens."),
    "seed": FieldHelp("Seed", "Same seed + same settings = same reply; -1 = random each time."),
    "stop": FieldHelp("Stop strings", 'Extra texts that end a reply, as a TOML list: ["\\n\\nUser:"].'),
}


# llama.cpp's defaults: the breakers its server and KoboldCpp use, and its chain order.
DRY_BREAKERS = ("\n", ":", '"', "*")
SAMPLER_ORDER = "edskypmxt"
TEXT_LISTS = ("stop", "dry_sequence_breakers")


@dataclass(frozen=True)
class SamplerSettings:
    """Defaults are the 'Min P' preset: min_p 0.1, temperature 1.0, DRY 0.8 against loops,
    the rest neutral (bench/repetition.py measures the DRY default)."""

    temperature: float = 1.0
    min_p: float = 0.1
    top_p: float = 1.0
    top_k: int = 0
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    dry_multiplier: float = 0.8
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    dry_sequence_breakers: tuple[str, ...] = DRY_BREAKERS
    xtc_probability: float = 0.0
    xtc_threshold: float = 0.1
    top_n_sigma: float = -1.0
    sampler_order: str = SAMPLER_ORDER
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    max_tokens: int = 512
    seed: int = -1
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in TEXT_LISTS:
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        validate(self)

    def with_changes(self, **changes: Any) -> "SamplerSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in TEXT_LISTS:
            data[name] = list(getattr(self, name))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "SamplerSettings | None" = None) -> "SamplerSettings":
        """Values from a TOML table; missing ones come from ``base`` (or the defaults)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SamplerError(f"unknown sampler setting(s): {', '.join(unknown)}")
        values = dict(data)
        for name in TEXT_LISTS:
            if name in values:
                texts = values[name]
                if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
                    raise SamplerError(f"{name} must be a list of strings")
                values[name] = tuple(texts)
        if base is not None:
            return replace(base, **values)
        return cls(**values)


INT_FIELDS = {
    "top_k", "repeat_last_n", "dry_allowed_length", "dry_penalty_last_n", "mirostat_mode", "max_tokens", "seed",
}

_RANGES: dict[str, tuple[float | None, float | None]] = {
    "temperature": (0.0, 5.0),
    "min_p": (0.0, 1.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, None),
    "typical_p": (0.0, 1.0),
    "repeat_penalty": (0.0, 5.0),
    "repeat_last_n": (-1, None),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "dry_multiplier": (0.0, 5.0),
    "dry_base": (1.0, 4.0),
    "dry_allowed_length": (1, 100),
    "dry_penalty_last_n": (-1, None),
    "xtc_probability": (0.0, 1.0),
    "xtc_threshold": (0.0, 1.0),
    "top_n_sigma": (-1.0, 10.0),
    "mirostat_mode": (0, 2),
    "mirostat_tau": (0.0, 20.0),
    "mirostat_eta": (0.0, 1.0),
    "max_tokens": (1, 1_000_000),
    "seed": (-1, 2**32 - 1),
}


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is not None:
        return f"at least {low:g}"
    return f"at most {high:g}"


def validate(settings: SamplerSettings) -> None:
    """Raise SamplerError naming the first bad value and its allowed range."""
    for name, (low, high) in _RANGES.items():
        value = getattr(settings, name)
        kind = "a whole number" if name in INT_FIELDS else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SamplerError(f"{name} must be {kind}, got {value!r}")
        if name in INT_FIELDS and not isinstance(value, int):
            raise SamplerError(f"{name} must be {kind}, got {value!r}")
        if value != value:  # NaN
            raise SamplerError(f"{name} must be {kind}, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise SamplerError(f"{name} must be {_range_text(low, high)}, got {value:g}")
    if not all(isinstance(s, str) and s for s in settings.stop):
        raise SamplerError("stop strings must be non-empty text")
    if not all(isinstance(s, str) and s for s in settings.dry_sequence_breakers):
        raise SamplerError("dry_sequence_breakers must be non-empty text")
    order = settings.sampler_order
    if not isinstance(order, str) or set(order) - set(SAMPLER_ORDER) or len(set(order)) != len(order):
        raise SamplerError(
            f"sampler_order must be letters from {SAMPLER_ORDER!r}, each at most once, got {order!r}"
        )


def parse_value(name: str, text: str) -> Any:
    """Turn what a user typed for field ``name`` into a value, or raise SamplerError."""
    text = text.strip()
    if name in TEXT_LISTS:
        if not text:
            return ()
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise SamplerError(f'{name} must be a TOML list of strings, like ["</s>", "User:"] ({exc})') from exc
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise SamplerError(f'{name} must be a list of strings, like ["</s>", "User:"]')
        return tuple(value)
    if name == "sampler_order":
        return text
    try:
        return int(text) if name in INT_FIELDS else float(text)
    except ValueError:
        kind = "a whole number" if name in INT_FIELDS else "a number"
        raise SamplerError(f"{name} must be {kind}, got {text!r}") from None


def format_value(name: str, value: Any) -> str:
    if name in TEXT_LISTS:
        if not value:
            return ""
        # JSON's string escapes are valid TOML, and json keeps the list on one line.
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- named presets ----------------------------------------------------------
DEFAULT_PRESET = "min_p"


@dataclass(frozen=True)
class SamplerPreset:
    name: str
    title: str
    note: str
    settings: SamplerSettings
    origin: str = "built-in"


def preset_from_dict(data: dict[str, Any], default_name: str, origin: str) -> SamplerPreset:
    unknown = sorted(set(data) - {"name", "title", "note", "settings"})
    if unknown:
        raise SamplerError(f"unknown key(s): {', '.join(unknown)}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise SamplerError("[settings] must be a table")
    name = data.get("name", default_name)
    title = data.get("title", name)
    note = data.get("note", "")
    if not all(isinstance(v, str) for v in (name, title, note)):
        raise SamplerError("name, title and note must be strings")
    try:
        values = SamplerSettings.from_dict(settings)
    except TypeError as exc:
        raise SamplerError(str(exc)) from exc
    return SamplerPreset(name=name, title=title, note=note.strip(), settings=values, origin=origin)


def _read_presets(directory: Traversable, origin: str) -> tuple[dict[str, SamplerPreset], list[str]]:
    presets: dict[str, SamplerPreset] = {}
    problems: list[str] = []
    for path in locations.toml_files(directory):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            preset = preset_from_dict(data, path.name.removesuffix(".toml"), origin)
        except (tomllib.TOMLDecodeError, SamplerError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"sampler preset {path.name} skipped: {exc}")
            continue
        presets[preset.name] = preset
    return presets, problems


def user_presets_dir() -> Path:
    return locations.config_dir() / "samplers"


def load_sampler_presets(user_dir: Path | None = None) -> tuple[dict[str, SamplerPreset], list[str]]:
    """Built-in presets (``presets/samplers``) plus the user's, with any problems found."""
    presets, problems = _read_presets(locations.presets_dir() / "samplers", "built-in")
    if DEFAULT_PRESET not in presets:
        presets[DEFAULT_PRESET] = SamplerPreset(
            DEFAULT_PRESET, "Min P", "min_p 0.1, temperature 1.0, the rest neutral", SamplerSettings()
        )
    user, user_problems = _read_presets(user_dir or user_presets_dir(), "user")
    presets.update(user)
    return presets, problems + user_problems


def get_sampler_preset(name: str) -> SamplerPreset:
    presets, _ = load_sampler_presets()
    try:
        return presets[name]
    except KeyError:
        known = ", ".join(sorted(presets))
        raise SamplerError(f"no sampler preset named {name!r} (known: {known})") from None

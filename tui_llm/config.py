"""Settings: dataclasses, TOML read (tomllib) and atomic write (tomli-w).

A broken config file never stops the app: it is reported with its line, the
app runs on defaults, and the file is left as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import tomli_w

from tui_llm import locations
from tui_llm.engine.contract import THINKING_CHOICES
from tui_llm.engine.endpoints import Endpoint, EndpointError, endpoints_to_dict, parse_endpoint
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.model_sampling import SourcedSampler, layered
from tui_llm.engine.sampler import DEFAULT_PRESET, SamplerError, SamplerSettings, get_sampler_preset


class ConfigError(ValueError):
    """A config problem; ``key`` and ``table`` say where, to find its line."""

    def __init__(self, message: str, key: str | None = None, table: tuple[str, ...] | None = None):
        super().__init__(message)
        self.key = key
        self.table = table


@dataclass(frozen=True)
class ModelOverrides:
    """Settings for one model file, keyed in config.toml by its file name."""

    template: str | None = None
    sampler_preset: str | None = None
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    rope_scaling: str | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    thinking: str | None = None  # a reasoning model: on, off, low, medium or high

    def is_empty(self) -> bool:
        return self == ModelOverrides()

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Any) -> "ModelOverrides":
        if not isinstance(data, dict):
            raise ConfigError("must be a table")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown key(s): {', '.join(unknown)}", unknown[0])
        for key in ("template", "sampler_preset"):
            if key in data and not isinstance(data[key], str):
                raise ConfigError(f"{key} must be a name in quotes", key)
        if "thinking" in data and data["thinking"] not in THINKING_CHOICES:
            raise ConfigError(f"thinking must be one of {', '.join(THINKING_CHOICES)}", "thinking")
        overrides = cls(**data)
        LoadSettings().with_changes(**overrides.load_changes())  # range checks
        return overrides

    def load_changes(self) -> dict[str, Any]:
        names = ("n_ctx", "n_gpu_layers", "rope_scaling", "rope_freq_base", "rope_freq_scale")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass
class AppConfig:
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    models_dir: Path | None = None
    extra_model_dirs: list[Path] = field(default_factory=list)
    keymap: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    problems: list[str] = field(default_factory=list)
    sampler_preset: str = DEFAULT_PRESET
    models: dict[str, ModelOverrides] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    # [hardware] vram_gb: VRAM of a GPU that NVML cannot see (0: run on the CPU).
    vram_gb: float | None = None
    # [cache] kv_state_gb: disk kept for saved engine state (0: save none).
    kv_state_gb: float = 2.0
    # Sections this version does not know, written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict)
    # The file on disk could not be fully read: saving must not overwrite it.
    read_failed: bool = False

    def overrides_for(self, model: str | Path | None) -> ModelOverrides:
        if not model:
            return ModelOverrides()
        return self.models.get(Path(model).name, ModelOverrides())

    def set_overrides(self, model: str | Path, overrides: ModelOverrides) -> None:
        key = Path(model).name
        if overrides.is_empty():
            self.models.pop(key, None)
        else:
            self.models[key] = overrides

    def load_for(self, model: str | Path | None) -> LoadSettings:
        """The load settings for one model file: the defaults plus its overrides."""
        changes = self.overrides_for(model).load_changes()
        return self.load.with_changes(**changes) if changes else self.load

    def sampler_for(self, model: str | Path | None) -> SamplerSettings:
        """This model's sampler preset when it has one, else the current sampler settings."""
        preset = self.overrides_for(model).sampler_preset
        if preset:
            try:
                return get_sampler_preset(preset).settings
            except SamplerError:
                pass
        return self.sampler

    def sampler_layers(self, model: str | Path | None) -> tuple[SamplerSettings, bool]:
        """The preset under this model's sampler, and whether the model's own values go over it
        (only over the default preset: one the user picked wins)."""
        name = self.overrides_for(model).sampler_preset or self.sampler_preset
        try:
            return get_sampler_preset(name).settings, name == DEFAULT_PRESET
        except SamplerError:
            return SamplerSettings(), True

    def reply_sampler(
        self, model: str | Path | None, metadata: Mapping[str, Any] | None,
        current: SamplerSettings | None = None,
    ) -> SourcedSampler:
        """The sampler for this model's next reply (``current``, or the sampler settings,
        over the model's own values), with where each value came from."""
        preset, model_applies = self.sampler_layers(model)
        return layered(preset, current or self.sampler, metadata, model_applies)

    def to_toml_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data["sampler"] = {"preset": self.sampler_preset, **self.sampler.to_dict()}
        data["load"] = self.load.to_dict()
        paths: dict[str, Any] = {}
        if self.models_dir:
            paths["models_dir"] = str(self.models_dir)
        if self.extra_model_dirs:
            paths["extra_model_dirs"] = [str(p) for p in self.extra_model_dirs]
        if paths:
            data["paths"] = paths
        if self.keymap:
            data["keymap"] = dict(self.keymap)
        models = {name: o.to_dict() for name, o in sorted(self.models.items()) if not o.is_empty()}
        if models:
            data["models"] = models
        if self.endpoints:
            data["endpoints"] = endpoints_to_dict(self.endpoints)
        if self.vram_gb is not None:
            data["hardware"] = {"vram_gb": self.vram_gb}
        if self.kv_state_gb != 2.0:
            data["cache"] = {"kv_state_gb": self.kv_state_gb}
        return data


# -- reading ------------------------------------------------------------------
# One function per section, each filling its part of AppConfig; a section that
# fails leaves its defaults and becomes a problem. Add new sections here.
def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError("must be a table, like [section] followed by key = value lines")
    return value


def _first_bad_key(table: dict[str, Any], check: Any) -> str | None:
    for key, value in table.items():
        try:
            check({key: value})
        except (ValueError, TypeError):
            return key
    return None


def _parse_sampler(config: AppConfig, value: Any) -> None:
    table = dict(_table(value))
    preset = table.pop("preset", DEFAULT_PRESET)
    if not isinstance(preset, str):
        raise ConfigError("preset must be a name in quotes", "preset")
    try:
        config.sampler = SamplerSettings.from_dict(table)
    except (SamplerError, TypeError) as exc:
        raise ConfigError(str(exc), _first_bad_key(table, SamplerSettings.from_dict)) from exc
    config.sampler_preset = preset


def _parse_load(config: AppConfig, value: Any) -> None:
    table = _table(value)
    try:
        config.load = LoadSettings.from_dict(table)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), _first_bad_key(table, LoadSettings.from_dict)) from exc


def _parse_paths(config: AppConfig, value: Any) -> None:
    table = _table(value)
    models_dir = table.get("models_dir")
    if models_dir is not None and not isinstance(models_dir, str):
        raise ConfigError("models_dir must be a path in quotes", "models_dir")
    extra = table.get("extra_model_dirs", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
        raise ConfigError("extra_model_dirs must be a list of paths in quotes", "extra_model_dirs")
    config.models_dir = Path(models_dir).expanduser() if models_dir else None
    config.extra_model_dirs = [Path(p).expanduser() for p in extra]


def _parse_keymap(config: AppConfig, value: Any) -> None:
    table = _table(value)
    for key, keys in table.items():
        if not isinstance(keys, str):
            raise ConfigError(f"{key} must be keys in quotes, like \"ctrl+s\"", key)
    config.keymap = dict(table)


def _parse_models(config: AppConfig, value: Any) -> None:
    models: dict[str, ModelOverrides] = {}
    for name, table in _table(value).items():
        try:
            models[name] = ModelOverrides.from_dict(table)
        except (ValueError, TypeError) as exc:
            key = exc.key if isinstance(exc, ConfigError) else None
            if key is None and isinstance(table, dict):
                key = _first_bad_key(table, ModelOverrides.from_dict)
            raise ConfigError(f"{name}: {exc}", key, ("models", name)) from exc
    config.models = models


def _parse_endpoints(config: AppConfig, value: Any) -> None:
    endpoints: list[Endpoint] = []
    for name, table in _table(value).items():
        try:
            endpoints.append(parse_endpoint(name, table))
        except EndpointError as exc:
            raise ConfigError(f"{name}: {exc}", exc.key, ("endpoints", name)) from exc
    config.endpoints = endpoints


def _parse_hardware(config: AppConfig, value: Any) -> None:
    table = _table(value)
    unknown = sorted(set(table) - {"vram_gb"})
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}", unknown[0])
    vram = table.get("vram_gb")
    if vram is not None and (isinstance(vram, bool) or not isinstance(vram, (int, float)) or vram < 0):
        raise ConfigError(f"vram_gb must be a number of GB, 0 or more (got {vram!r})", "vram_gb")
    config.vram_gb = None if vram is None else float(vram)


def _parse_cache(config: AppConfig, value: Any) -> None:
    table = _table(value)
    unknown = sorted(set(table) - {"kv_state_gb"})
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}", unknown[0])
    size = table.get("kv_state_gb", 2.0)
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise ConfigError(f"kv_state_gb must be a number of GB, 0 or more (got {size!r})", "kv_state_gb")
    config.kv_state_gb = float(size)


SECTION_PARSERS: dict[str, Callable[[AppConfig, Any], None]] = {
    "sampler": _parse_sampler,
    "load": _parse_load,
    "paths": _parse_paths,
    "keymap": _parse_keymap,
    "models": _parse_models,
    "endpoints": _parse_endpoints,
    "hardware": _parse_hardware,
    "cache": _parse_cache,
}


@dataclass(frozen=True)
class ConfigIssue:
    table: tuple[str, ...]
    key: str | None
    message: str


def parse_sections(data: dict[str, Any]) -> tuple[AppConfig, list[ConfigIssue]]:
    """Build a config from parsed TOML; a bad section keeps its defaults and is reported."""
    config = AppConfig()
    issues: list[ConfigIssue] = []
    for name, value in data.items():
        parser = SECTION_PARSERS.get(name)
        if parser is None:
            config.extra[name] = value
            continue
        try:
            parser(config, value)
        except (ValueError, TypeError) as exc:
            key = exc.key if isinstance(exc, ConfigError) else None
            table = (exc.table if isinstance(exc, ConfigError) else None) or (name,)
            issues.append(ConfigIssue(table, key, str(exc)))
    return config, issues


def parse_config(data: dict[str, Any]) -> AppConfig:
    config, issues = parse_sections(data)
    for issue in issues:
        config.problems.append(f"[{'.'.join(issue.table)}] {issue.message}")
    config.read_failed = bool(issues)
    return config


def _header_path(header: str) -> tuple[str, ...] | None:
    try:
        parsed = tomllib.loads(f"[{header}]")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        key = next(iter(parsed))
        path.append(key)
        parsed = parsed[key]
    return tuple(path)


def line_of(text: str, table: tuple[str, ...], key: str | None) -> int | None:
    """The line of ``key`` in ``[table]`` (or of the table's header), 1-based."""
    def assignment(name: str) -> re.Pattern[str]:
        return re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")

    current: tuple[str, ...] = ()
    header_line: int | None = None
    key_pattern = assignment(key) if key else None
    inline_pattern = assignment(table[0]) if len(table) == 1 else None  # sampler = {...}
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[(?!\[)(.*)\]\s*(#.*)?$", line)
        if header:
            current = _header_path(header.group(1)) or ()
            if current == table and header_line is None:
                header_line = number
            continue
        if current == table and key_pattern and key_pattern.match(line):
            return number
        if current == () and inline_pattern and inline_pattern.match(line) and header_line is None:
            header_line = number
    return header_line


def _decode_error_line(exc: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column \d+\)", message)
    line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
    if found:
        message = message[: found.start()] + message[found.end() :]
    return line, message


_KEPT = "the file is kept as it is"


def load_config(path: Path) -> AppConfig:
    """Read ``path``; a problem is reported with its line and never stops the app.

    A file that is not valid TOML gives all defaults; a bad section gives that
    section's defaults. Either way the file is left untouched, and saving
    refuses to overwrite it until the user chooses to (see save_config).
    """
    if not path.exists():
        return AppConfig(source=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return AppConfig(source=path, read_failed=True,
                         problems=[f"{path}: could not be read ({exc}); using defaults"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return AppConfig(source=path, read_failed=True, problems=[
            f"{path}, line {line}: not UTF-8 text; using defaults, {_KEPT}"
        ])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _decode_error_line(exc)
        where = f"{path}, line {line}" if line else str(path)
        return AppConfig(source=path, read_failed=True, problems=[
            f"{where}: {message}; using defaults, {_KEPT}"
        ])
    config, issues = parse_sections(data)
    for issue in issues:
        line = line_of(text, issue.table, issue.key)
        where = f"{path}, line {line}" if line else str(path)
        section = ".".join(issue.table[:1])
        config.problems.append(
            f"{where}: [{section}] {issue.message}; using defaults for [{section}], {_KEPT}"
        )
    config.read_failed = bool(issues)
    config.source = path
    return config


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def broken_copy_path(path: Path) -> Path:
    """Where a broken config file is moved when the user saves over it."""
    candidate = path.with_name(path.name + ".broken")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.broken{number}")
    return candidate


def save_config(config: AppConfig, path: Path | None = None, replace_broken: bool = False) -> Path:
    """Write the config atomically; returns the path written.

    If the file on disk could not be read, it is never overwritten: this
    raises ConfigError unless ``replace_broken``, in which case the broken
    file is first renamed to ``<name>.broken`` and kept.
    """
    path = path or config.source or locations.config_file()
    text = tomli_w.dumps(config.to_toml_dict())
    if config.read_failed and path.exists():
        if not replace_broken:
            raise ConfigError(
                f"{path} has errors, so it is kept as it is and not overwritten; "
                "fix it, or save again to keep it as a .broken copy"
            )
        os.replace(path, broken_copy_path(path))
    write_atomic(path, text)
    config.read_failed = False
    config.source = path
    return path

"""Settings: dataclasses, TOML read (tomllib) and atomic write (tomli-w).

A broken config file never stops the app: it is reported with its line, the
app runs on defaults, and the file is left as it was.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tui_llm.load_settings import LoadSettings
from tui_llm.sampler import SamplerError, SamplerSettings


class ConfigError(ValueError):
    pass


@dataclass
class AppConfig:
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    models_dir: Path | None = None
    extra_model_dirs: list[Path] = field(default_factory=list)
    keymap: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    problems: list[str] = field(default_factory=list)

    def to_toml_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sampler": self.sampler.to_dict(),
            "load": self.load.to_dict(),
        }
        paths: dict[str, Any] = {}
        if self.models_dir:
            paths["models_dir"] = str(self.models_dir)
        if self.extra_model_dirs:
            paths["extra_model_dirs"] = [str(p) for p in self.extra_model_dirs]
        if paths:
            data["paths"] = paths
        if self.keymap:
            data["keymap"] = dict(self.keymap)
        return data


def parse_config(data: dict[str, Any]) -> AppConfig:
    try:
        sampler = SamplerSettings.from_dict(data.get("sampler", {}))
    except (SamplerError, TypeError) as exc:
        raise ConfigError(f"[sampler]: {exc}") from exc
    try:
        load = LoadSettings(**data.get("load", {}))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[load]: {exc}") from exc
    paths = data.get("paths", {})
    models_dir = paths.get("models_dir")
    return AppConfig(
        sampler=sampler,
        load=load,
        models_dir=Path(models_dir).expanduser() if models_dir else None,
        extra_model_dirs=[Path(p).expanduser() for p in paths.get("extra_model_dirs", [])],
        keymap={str(k): str(v) for k, v in data.get("keymap", {}).items()},
    )


def load_config(path: Path) -> AppConfig:
    """Read ``path``; on any problem return defaults with the problem recorded."""
    if not path.exists():
        return AppConfig(source=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        config = parse_config(data)
    except tomllib.TOMLDecodeError as exc:
        return AppConfig(source=path, problems=[f"{path}: {exc}; using defaults, file left as is"])
    except (ConfigError, UnicodeDecodeError, OSError) as exc:
        return AppConfig(source=path, problems=[f"{path}: {exc}; using defaults, file left as is"])
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


def save_config(config: AppConfig, path: Path) -> None:
    if config.problems and path.exists():
        raise ConfigError(f"{path} could not be read; it is kept as is and not overwritten")
    write_atomic(path, tomli_w.dumps(config.to_toml_dict()))

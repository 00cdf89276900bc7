"""What a loaded model says about itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    architecture: str
    n_ctx: int
    n_ctx_train: int
    embedded_template: str | None
    bos_token: str = ""
    eos_token: str = ""
    metadata: dict[str, str] = field(default_factory=dict, repr=False)


def short_model_name(name: str) -> str:
    """A model's name as a person reads it: a server's "/models/foo/bar-Q4_K_M.gguf" is "bar-Q4_K_M"."""
    last = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if last.lower().endswith(".gguf"):
        last = last[: -len(".gguf")]
    return last or name

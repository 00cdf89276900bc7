"""GGUF models already on this machine, wherever another tool put them.

Looks in tui-llm's models dir, the huggingface_hub cache, LM Studio's models
folder, Ollama's blob store (named through its manifests) and the extra
folders from the config. Files that cannot be chatted with (not GGUF, half
downloaded, a split model with parts missing, a vision projector) are listed
with the reason, never offered as usable; so are models in other formats
(Transformers folders, GPTQ/AWQ/EXL2, old GGML; see models.formats), with the
way to a GGUF of them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from tui_llm.models import formats
from tui_llm.models.formats import ForeignModel

if TYPE_CHECKING:
    from tui_llm.config import AppConfig

GGUF_MAGIC = b"GGUF"
MIN_GGUF_SIZE = 24  # magic, version, tensor count, metadata count
MAX_DEPTH = 6
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_DEFAULT_HOST = "registry.ollama.ai"

SOURCE_TUI_LLM = "tui-llm"
SOURCE_EXTRA = "folder"
SOURCE_HF = "huggingface"
SOURCE_LMSTUDIO = "lm-studio"
SOURCE_OLLAMA = "ollama"

_SOURCE_ORDER = (SOURCE_TUI_LLM, SOURCE_EXTRA, SOURCE_HF, SOURCE_LMSTUDIO, SOURCE_OLLAMA)

_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_UNFINISHED = re.compile(r"\.gguf\.(partial|part|download|downloading|incomplete|crdownload|tmp)$", re.IGNORECASE)


@dataclass(frozen=True)
class LocalModel:
    path: Path
    name: str
    source: str
    size: int
    problem: str | None = None  # why it cannot be used; None when it can
    foreign: ForeignModel | None = None  # a model in another format, not GGUF

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def format(self) -> str:
        return self.foreign.kind if self.foreign else "GGUF"

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "path": str(self.path), "name": self.name, "source": self.source,
            "size": self.size, "usable": self.usable, "problem": self.problem, "format": self.format,
        }
        if self.foreign:
            data["needs"] = self.foreign.needs
            data["gguf_way"] = self.foreign.gguf_way
        return data


@dataclass(frozen=True)
class Places:
    """Where to look. Each list may name folders that do not exist."""

    models_dirs: list[Path] = field(default_factory=list)
    extra_dirs: list[Path] = field(default_factory=list)
    hf_caches: list[Path] = field(default_factory=list)
    lmstudio_dirs: list[Path] = field(default_factory=list)
    ollama_dirs: list[Path] = field(default_factory=list)


def hf_cache_dir() -> Path:
    """huggingface_hub's cache, as huggingface_hub itself resolved it when first imported."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def lmstudio_dirs() -> list[Path]:
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def ollama_dirs() -> list[Path]:
    if os.environ.get("OLLAMA_MODELS"):
        return [Path(os.environ["OLLAMA_MODELS"]).expanduser()]
    return [Path.home() / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]


def default_places(config: "AppConfig | None" = None) -> Places:
    from tui_llm import locations

    models_dir = (config.models_dir if config else None) or locations.models_dir()
    return Places(
        models_dirs=[models_dir],
        extra_dirs=list(config.extra_model_dirs) if config else [],
        hf_caches=[hf_cache_dir()],
        lmstudio_dirs=lmstudio_dirs(),
        ollama_dirs=ollama_dirs(),
    )


def discover(
    config: "AppConfig | None" = None, places: Places | None = None, check: bool = False
) -> list[LocalModel]:
    """Every GGUF model found, usable ones first within each source.

    ``check`` also reads each header (tui_llm.models.gguf) to catch truncated files.
    A file reachable from two places is listed once, under the first source.
    """
    places = places or default_places(config)
    found: list[LocalModel] = []
    for folder in places.models_dirs:
        found += _scan_folder(folder, SOURCE_TUI_LLM)
    for folder in places.extra_dirs:
        found += _scan_folder(folder, SOURCE_EXTRA)
    for cache in places.hf_caches:
        found += _scan_hf_cache(cache)
    for folder in places.lmstudio_dirs:
        found += _scan_folder(folder, SOURCE_LMSTUDIO, name_from=folder)
    for folder in places.ollama_dirs:
        found += _scan_ollama(folder)
    unique = _dedupe(found)
    if check:
        unique = [_deep_check(model) for model in unique]
    order = {source: i for i, source in enumerate(_SOURCE_ORDER)}
    return sorted(unique, key=lambda m: (order[m.source], not m.usable, m.name.lower()))


def gguf_files_in(models_dir: Path) -> list[Path]:
    """The .gguf files anywhere under ``models_dir``, sorted; none when it does not exist."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.rglob("*.gguf") if p.is_file())


def usable_models(config: "AppConfig | None" = None, places: Places | None = None) -> list[LocalModel]:
    return [m for m in discover(config, places) if m.usable]


# --- plain folders ----------------------------------------------------------
def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, following folder links once, at most MAX_DEPTH deep."""
    seen: set[str] = set()
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if depth < MAX_DEPTH:
                        stack.append((Path(entry.path), depth + 1))
                elif entry.is_file() or entry.is_symlink():
                    yield Path(entry.path)
            except OSError:
                continue


def _scan_folder(root: Path, source: str, name_from: Path | None = None) -> list[LocalModel]:
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    every = list(_walk(root))
    files = [p for p in every if p.name.lower().endswith(".gguf") or _UNFINISHED.search(p.name)]
    name_of = lambda p: _relative_name(p, name_from or root)  # noqa: E731
    return _models_from_files(files, source, name_of) + _foreign_models(every, source, name_of)


def _foreign_models(files: list[Path], source: str, name_of) -> list[LocalModel]:
    return [
        LocalModel(path, model.name, source, size, f"not runnable here: {model.what}", model)
        for path, size, model in formats.find_in(files, name_of)
    ]


def _relative_name(path: Path, root: Path) -> str:
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        return path.name
    return path.name if relative == "." else relative


def _models_from_files(files: list[Path], source: str, name_of) -> list[LocalModel]:
    """GGUF files to models: shards of a split model become one entry, named by part 1."""
    models: list[LocalModel] = []
    shards: dict[tuple[Path, str, int], dict[int, Path]] = {}
    for path in files:
        if _UNFINISHED.search(path.name):
            models.append(LocalModel(path, name_of(path), source, _size(path), "unfinished download"))
            continue
        match = _SHARD.match(path.name)
        if match and int(match["count"]) > 1:
            key = (path.parent, match["stem"], int(match["count"]))
            shards.setdefault(key, {})[int(match["index"])] = path
            continue
        models.append(_examine(path, name_of(path), source))
    for (parent, stem, count), parts in shards.items():
        models.append(_split_model(parent, stem, count, parts, source, name_of))
    return models


def _split_model(parent: Path, stem: str, count: int, parts: dict[int, Path], source: str, name_of) -> LocalModel:
    first = parts.get(1) or parent / f"{stem}-00001-of-{count:05d}.gguf"
    size = sum(_size(p) for p in parts.values())
    missing = [i for i in range(1, count + 1) if i not in parts]
    name = name_of(first)
    if missing:
        return LocalModel(first, name, source, size, f"split model: {len(missing)} of {count} parts missing")
    model = _examine(first, name, source)
    return LocalModel(first, name, source, size, model.problem)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _examine(path: Path, name: str, source: str, expected_size: int | None = None) -> LocalModel:
    """A cheap look: exists, big enough, starts with GGUF, and not a projector."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        return LocalModel(path, name, source, 0, "missing (a broken link?)")
    except OSError as exc:
        return LocalModel(path, name, source, 0, f"cannot be read: {exc.strerror or exc}")
    if magic != GGUF_MAGIC:
        return LocalModel(path, name, source, size, "not a GGUF file")
    if size < MIN_GGUF_SIZE or (expected_size is not None and size < expected_size):
        return LocalModel(path, name, source, size, "incomplete (shorter than it should be)")
    if path.name.lower().startswith("mmproj") or "mmproj" in name.lower().rsplit("/", 1)[-1]:
        return LocalModel(path, name, source, size, "a vision projector, used with a model, not alone")
    return LocalModel(path, name, source, size)


def _deep_check(model: LocalModel) -> LocalModel:
    if not model.usable:
        return model
    from tui_llm.models import gguf as gguf_info

    try:
        gguf_info.check_complete(model.path)
    except gguf_info.GGUFError as exc:
        return LocalModel(model.path, model.name, model.source, model.size, str(exc))
    return model


# --- huggingface_hub cache --------------------------------------------------
def _scan_hf_cache(cache: Path) -> list[LocalModel]:
    """``models--org--name/snapshots/<commit>/<file>`` links into ``blobs/``."""
    cache = Path(cache).expanduser()
    if not cache.is_dir():
        return []
    models: list[LocalModel] = []
    for repo_dir in sorted(cache.glob("models--*")):
        repo_id = repo_dir.name.removeprefix("models--").replace("--", "/")
        snapshots = repo_dir / "snapshots"
        if not snapshots.is_dir():
            continue
        every = list(_walk(snapshots))
        files = [p for p in every if p.name.lower().endswith(".gguf")]
        name_of = lambda p, root=snapshots, repo=repo_id: _hf_name(p, root, repo)  # noqa: E731
        models += _models_from_files(files, SOURCE_HF, name_of)
        models += _foreign_models(every, SOURCE_HF, name_of)
    return models


def _hf_name(path: Path, snapshots: Path, repo_id: str) -> str:
    relative = path.relative_to(snapshots).parts[1:]  # drop the commit folder
    return "/".join([repo_id, *relative])


# --- Ollama -----------------------------------------------------------------
def _scan_ollama(base: Path) -> list[LocalModel]:
    """Ollama keeps models as ``blobs/sha256-<hex>``, named by ``manifests/<host>/<ns>/<name>/<tag>``."""
    base = Path(base).expanduser()
    manifests = base / "manifests"
    if not manifests.is_dir():
        return []
    by_blob: dict[Path, LocalModel] = {}
    for manifest in _walk(manifests):
        parts = manifest.relative_to(manifests).parts
        if len(parts) < 4:
            continue
        name = _ollama_name(parts)
        layer = _ollama_model_layer(manifest)
        if layer is None:
            continue
        digest, expected = layer
        blob = base / "blobs" / digest.replace(":", "-")
        if not blob.exists() and (base / "blobs" / digest).exists():
            blob = base / "blobs" / digest  # older Ollama kept the colon
        model = _examine(blob, name, SOURCE_OLLAMA, expected_size=expected)
        if blob in by_blob:  # two tags, one blob: one entry with both names
            known = by_blob[blob]
            model = LocalModel(blob, f"{known.name}, {name}", SOURCE_OLLAMA, known.size, known.problem)
        by_blob[blob] = model
    return list(by_blob.values())


def _ollama_name(parts: tuple[str, ...]) -> str:
    *prefix, model, tag = parts
    host, namespace = prefix[0], "/".join(prefix[1:])
    if host == OLLAMA_DEFAULT_HOST and namespace == "library":
        return f"{model}:{tag}"
    if host == OLLAMA_DEFAULT_HOST:
        return f"{namespace}/{model}:{tag}"
    return f"{'/'.join(prefix)}/{model}:{tag}"


def _ollama_model_layer(manifest: Path) -> tuple[str, int | None] | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for layer in data.get("layers", []) if isinstance(data, dict) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_LAYER:
            digest = str(layer.get("digest", ""))
            if re.fullmatch(r"sha256[:-][0-9a-f]{64}", digest):
                size = layer.get("size")
                return digest, size if isinstance(size, int) else None
    return None


# --- merging ----------------------------------------------------------------
def _dedupe(models: list[LocalModel]) -> list[LocalModel]:
    seen: set[str] = set()
    unique = []
    for model in models:
        key = os.path.realpath(model.path)
        if key in seen:
            continue
        seen.add(key)
        unique.append(model)
    return unique

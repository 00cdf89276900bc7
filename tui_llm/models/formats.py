"""Model formats tui-llm cannot run, recognised and explained.

tui-llm runs GGUF files through llama.cpp. People also download Transformers
folders (``config.json`` plus safetensors or PyTorch ``.bin`` weights), GPU
quantizations of them (GPTQ, AWQ, EXL2) and files in the old GGML format that
GGUF replaced. Each is named here with what it is, what it would need, and how
to get a GGUF of the same model instead.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# Old llama.cpp files began with a little-endian uint32: 'ggml' (unversioned), 'ggmf', 'ggjt'.
GGML_MAGICS = {struct.pack("<I", int.from_bytes(m, "big")): m.decode() for m in (b"ggml", b"ggmf", b"ggjt")}
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_QUANT_SUFFIX = re.compile(
    r"[-_.](gptq|awq|exl2|ggml(v\d+)?|gguf|hf|f16|f32|fp16|bf16|fp32|[248]bit|int[48]|q\d(_[a-z0-9]+)*"
    r"|\d+(\.\d+)?bpw(-h\d+)?|\d+bits?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ForeignModel:
    """A model in a format llama.cpp does not load."""

    kind: str  # short name: "GPTQ", "AWQ", "EXL2", "Transformers", "PyTorch", "GGML"
    name: str  # the model's name, for finding a GGUF of it
    what: str  # one line: what it is
    needs: str  # one line: what running it as it is would take

    @property
    def base_name(self) -> str:
        """The model name without the quantization it was published in."""
        name = self.name.rstrip("/").rsplit("/", 1)[-1]
        for suffix in WEIGHT_SUFFIXES:
            name = name.removesuffix(suffix)
        while True:
            stripped = _QUANT_SUFFIX.sub("", name)
            if stripped == name or not stripped:
                return name
            name = stripped

    @property
    def gguf_way(self) -> str:
        return f"Get a GGUF of it instead: {gguf_search_hint(self.base_name)}."

    def explain(self, path: Path | None = None) -> str:
        head = f"{path.name}: " if path is not None else ""
        return f"{head}{self.what}; not runnable here. {self.needs}. {self.gguf_way}"


def gguf_search_hint(name: str) -> str:
    """How a user finds GGUF conversions of ``name``: ``tui-llm search`` where this install has it."""
    if importlib.util.find_spec("tui_llm.commands.search") is not None:
        return f'tui-llm search "{name}"'
    return f'search huggingface.co for "{name} GGUF"'


def _read(path: Path, count: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(count)
    except OSError:
        return b""


def _is_safetensors(path: Path, head: bytes) -> bool:
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return 2 <= length <= min(MAX_SAFETENSORS_HEADER, size - 8) and head[8:9] == b"{"


def identify_file(path: Path, name: str | None = None) -> ForeignModel | None:
    """A single weights file in a format we can name, or None (GGUF, or not a model we know)."""
    name = name or path.stem
    head = _read(path, 16)
    if head[:4] in GGML_MAGICS:
        magic = GGML_MAGICS[head[:4]]
        return ForeignModel(
            "GGML", name, f"an old GGML file ('{magic}'), the llama.cpp format GGUF replaced in 2023",
            "Today's llama.cpp cannot load it; llama.cpp's convert_llama_ggml_to_gguf.py can convert it")
    suffix = path.suffix.lower()
    if suffix == ".safetensors" and _is_safetensors(path, head):
        return ForeignModel(
            "safetensors", name, "a safetensors weights file (Transformers, or a LoRA or diffusion model)",
            "It needs its config.json beside it, PyTorch and Transformers, and a GPU for usable speed")
    if suffix in (".bin", ".pt", ".pth") and (head[:4] == b"PK\x03\x04" or head[:1] == b"\x80"):
        return ForeignModel(
            "PyTorch", name, "a PyTorch checkpoint (torch.save weights)",
            "It needs its config.json beside it, PyTorch and Transformers, and a GPU for usable speed")
    return None


_QUANTIZED = {
    "gptq": ("GPTQ", "GPTQ-quantized Transformers weights (4-bit, made for GPUs)",
             "It needs an NVIDIA GPU and a GPTQ backend (Transformers with GPTQModel, or ExLlama)"),
    "awq": ("AWQ", "AWQ-quantized Transformers weights (4-bit, made for GPUs)",
            "It needs an NVIDIA GPU and an AWQ backend (vLLM, or Transformers with AutoAWQ)"),
    "exl2": ("EXL2", "ExLlamaV2 (EXL2) quantized weights, made for GPUs",
             "It needs an NVIDIA GPU and ExLlamaV2 (for example through TabbyAPI)"),
}


def identify_folder(folder: Path, name: str | None = None) -> ForeignModel | None:
    """A Transformers model folder (config.json and weights, no GGUF), or None."""
    name = name or folder.name
    try:
        entries = list(folder.iterdir())
    except OSError:
        return None
    lowered = {p.name.lower() for p in entries}
    has_weights = any(n.endswith(WEIGHT_SUFFIXES) for n in lowered)
    if "config.json" not in lowered or not has_weights or any(n.endswith(".gguf") for n in lowered):
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or not (config.get("model_type") or config.get("architectures")):
        return None
    quant = config.get("quantization_config")
    method = str(quant.get("quant_method", "")).lower() if isinstance(quant, dict) else ""
    if not method and "measurement.json" in lowered:
        method = "exl2"  # older EXL2 folders say so only by their measurement file
    if method in _QUANTIZED:
        kind, what, needs = _QUANTIZED[method]
        return ForeignModel(kind, name, what, needs)
    architecture = (config.get("architectures") or [config.get("model_type")])[0]
    what = f"a Transformers model folder ({architecture}"
    what += f", {method}-quantized)" if method else ")"
    return ForeignModel(
        "Transformers", name, what,
        "It needs PyTorch and Transformers, and a GPU for usable speed; "
        "llama.cpp's convert_hf_to_gguf.py can turn it into a GGUF")


def identify(path: Path) -> ForeignModel | None:
    """A folder or file given as a model, recognised as a format we do not run; None otherwise."""
    if path.is_dir():
        found = identify_folder(path)
        try:
            entries = sorted(path.iterdir())
        except OSError:
            return found
        if found is None and not any(p.name.lower().endswith(".gguf") for p in entries):
            weights = [p for p in entries if p.name.lower().endswith(WEIGHT_SUFFIXES)]
            found = next((f for f in map(identify_file, weights) if f is not None), None)
        return found
    found = identify_file(path)
    if found is None or found.kind not in ("safetensors", "PyTorch"):
        return found
    # One weights file of a Transformers folder stands for the folder.
    return identify_folder(path.parent) or found


def find_in(files: list[Path], name_of) -> list[tuple[Path, int, ForeignModel]]:
    """The foreign models among ``files`` (found by a folder walk): (path, size, model) each.

    A folder with config.json counts once; loose weight files count one by one.
    ``name_of(path)`` names an entry as the caller lists it.
    """
    found: list[tuple[Path, int, ForeignModel]] = []
    folders: dict[Path, list[Path]] = {}
    for path in files:
        if path.name.lower().endswith(WEIGHT_SUFFIXES) or path.name == "config.json":
            folders.setdefault(path.parent, []).append(path)
    for folder, members in folders.items():
        weights = [p for p in members if p.name.lower().endswith(WEIGHT_SUFFIXES)]
        if not weights:
            continue
        model = identify_folder(folder, name_of(folder))
        if model is not None:
            found.append((folder, sum(_size(p) for p in weights), model))
            continue
        for path in weights:
            single = identify_file(path, name_of(path))
            if single is not None:
                found.append((path, _size(path), single))
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0

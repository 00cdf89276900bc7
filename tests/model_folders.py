"""Write models in formats tui-llm does not run, for tests: real file layouts, tiny weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def safetensors_bytes(tensors: dict[str, list[int]] | None = None) -> bytes:
    """A real safetensors file: an 8-byte header length, a JSON header, then the data (F16 zeros)."""
    header, offset = {}, 0
    for name, shape in (tensors or {"model.embed_tokens.weight": [4, 8]}).items():
        size = 2 * shape[0] * shape[1]
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def transformers_folder(folder: Path, quantization: dict | None = None, weights: str = "model.safetensors",
                        extra: tuple[str, ...] = ()) -> Path:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8}
    if quantization is not None:
        config["quantization_config"] = quantization
    put(folder / "config.json", json.dumps(config).encode())
    put(folder / weights, safetensors_bytes())
    for name in extra:
        put(folder / name, b"{}")
    return folder


def ggml_bytes(magic: bytes) -> bytes:
    """An old llama.cpp file: the magic as a little-endian uint32, a version, then hyperparameters."""
    return struct.pack("<II", int.from_bytes(magic, "big"), 1) + bytes(64)

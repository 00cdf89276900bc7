"""Write small GGUF files for tests: real container bytes, chosen metadata and tensors.

The tensor data is zeros; only the header matters to the reader and the fit engine.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

# ggml type id -> (elements per block, bytes per block), for the types tests use
TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144)}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(value: Any) -> bytes:
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        if 0 <= value < 2**32:
            return struct.pack("<II", 4, value)
        return struct.pack("<Ii", 5, value) if -2**31 <= value < 0 else struct.pack("<Iq", 11, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], str):
            return struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
        if value and isinstance(value[0], bool):
            return struct.pack("<IIQ", 9, 7, len(value)) + b"".join(struct.pack("<?", v) for v in value)
        return struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)
    raise TypeError(f"no GGUF type for {value!r}")


def gguf_bytes(metadata: dict[str, Any], tensors: list[tuple[str, tuple[int, ...], str]],
               alignment: int = 32, version: int = 3, header_only: bool = False) -> bytes:
    header = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, value in metadata.items():
        header += _string(key) + _value(value)
    offset = 0
    infos = b""
    sizes = []
    for name, shape, type_name in tensors:
        type_id, block, type_size = TYPES[type_name]
        elements = 1
        for dim in shape:
            elements *= dim
        size = elements // block * type_size
        infos += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        infos += struct.pack("<IQ", type_id, offset)
        sizes.append(size)
        offset += -(-size // alignment) * alignment
    head = header + infos
    padding = -len(head) % alignment
    if header_only:  # a truncated file: the header of a model too large to write
        return head + bytes(padding)
    data = b"".join(bytes(-(-s // alignment) * alignment) for s in sizes)
    if sizes:  # the last tensor needs no padding after it
        data = data[: len(data) - (-(-sizes[-1] // alignment) * alignment - sizes[-1])]
    return head + bytes(padding) + data


def llama_like(n_layers: int = 2, n_embd: int = 64, n_head: int = 4, n_head_kv: int = 2, n_vocab: int = 256,
               n_ff: int = 128, arch: str = "llama", extra: dict[str, Any] | None = None,
               drop: tuple[str, ...] = (), tied: bool = False) -> tuple[dict[str, Any], list]:
    """Metadata and tensors shaped like a small llama model."""
    meta: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": "tiny test model",
        "general.file_type": 1,
        f"{arch}.block_count": n_layers,
        f"{arch}.context_length": 2048,
        f"{arch}.embedding_length": n_embd,
        f"{arch}.feed_forward_length": n_ff,
        f"{arch}.attention.head_count": n_head,
        f"{arch}.attention.head_count_kv": n_head_kv,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(n_vocab)],
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    }
    meta.update(extra or {})
    for key in drop:
        meta.pop(key.replace("{arch}", arch), None)
    head_dim = n_embd // n_head
    tensors: list[tuple[str, tuple[int, ...], str]] = [("token_embd.weight", (n_embd, n_vocab), "F16")]
    for il in range(n_layers):
        tensors += [
            (f"blk.{il}.attn_norm.weight", (n_embd,), "F32"),
            (f"blk.{il}.attn_q.weight", (n_embd, n_embd), "F16"),
            (f"blk.{il}.attn_k.weight", (n_embd, head_dim * n_head_kv), "F16"),
            (f"blk.{il}.attn_v.weight", (n_embd, head_dim * n_head_kv), "F16"),
            (f"blk.{il}.attn_output.weight", (n_embd, n_embd), "F16"),
            (f"blk.{il}.ffn_norm.weight", (n_embd,), "F32"),
            (f"blk.{il}.ffn_up.weight", (n_embd, n_ff), "F16"),
            (f"blk.{il}.ffn_down.weight", (n_ff, n_embd), "F16"),
        ]
    tensors.append(("output_norm.weight", (n_embd,), "F32"))
    if not tied:
        tensors.append(("output.weight", (n_embd, n_vocab), "F16"))
    return meta, tensors


def write_gguf(path: Path, metadata: dict[str, Any] | None = None, tensors: list | None = None, **shape: Any) -> Path:
    if metadata is None or tensors is None:
        metadata, tensors = llama_like(**shape)
    path.write_bytes(gguf_bytes(metadata, tensors))
    return path


def with_chat_template(source: Path, dest: Path, template: str, alignment: int = 32) -> Path:
    """A copy of the GGUF ``source`` whose ``tokenizer.chat_template`` is ``template``.

    The template is padded with spaces so the header grows by a multiple of the
    alignment: the tensor data keeps its offsets and the model still loads.
    """
    data = source.read_bytes()
    key = b"tokenizer.chat_template"
    marker = struct.pack("<Q", len(key)) + key + struct.pack("<I", 8)
    start = data.index(marker) + len(marker)
    (old_len,) = struct.unpack_from("<Q", data, start)
    raw = template.encode("utf-8")
    raw += b" " * (-(len(raw) - old_len) % alignment)
    dest.write_bytes(data[:start] + struct.pack("<Q", len(raw)) + raw + data[start + 8 + old_len :])
    return dest


def with_u32(source: Path, dest: Path, key: str, value: int) -> Path:
    """A copy of the GGUF ``source`` with the u32 metadata value ``key`` set to ``value``."""
    data = bytearray(source.read_bytes())
    marker = _string(key) + struct.pack("<I", 4)
    at = data.index(marker) + len(marker)
    struct.pack_into("<I", data, at, value)
    dest.write_bytes(bytes(data))
    return dest


def nested_arrays(depth: int) -> bytes:
    """A GGUF header whose one extra key holds an array nested ``depth`` deep."""
    value = struct.pack("<IQ", 9, 1) * depth + struct.pack("<IQ", 4, 0)
    return (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _string("general.architecture") + _value("llama")
            + _string("x.nested") + struct.pack("<I", 9) + value)


def with_extra_keys(source: Path, dest: Path, metadata: dict[str, Any], alignment: int = 32) -> Path:
    """A copy of the GGUF ``source`` with ``metadata`` added to its header (the model still loads).

    A padding string key makes the header grow by a multiple of the alignment,
    so the tensor data keeps its offsets.
    """
    data = source.read_bytes()
    (n_kv,) = struct.unpack_from("<Q", data, 16)
    added = b"".join(_string(key) + _value(value) for key, value in metadata.items())
    pad_key = _string("tui_llm.test.padding") + struct.pack("<I", 8)
    filler = -(len(added) + len(pad_key) + 8) % alignment
    added += pad_key + _string(" " * filler)
    dest.write_bytes(data[:16] + struct.pack("<Q", n_kv + len(metadata) + 1) + added + data[24:])
    return dest

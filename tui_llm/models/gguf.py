"""Read a GGUF file's header, metadata and tensor table without loading the model.

A small reader of the GGUF container (versions 2 and 3, little-endian):
magic, version, tensor count, metadata key/values, tensor infos, then the
aligned tensor data. Only the header is parsed; tensor data is never read, so
this is fast even for files of many gigabytes.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui_llm.models import header_cache
from tui_llm.models.gguf_types import GGML_TYPES, GGUFError, GGUFInfo, HeaderTruncated, TensorInfo

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Arrays longer than this (token lists, merges) are skipped, only their length kept.
MAX_KEPT_ARRAY = 1024


# general.file_type (llama_ftype) -> the name people use for the quant
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# GGUF metadata value types: id -> struct format (None for string/array)
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")
_STRUCTS = {fmt: struct.Struct(fmt) for fmt in (*_SCALARS.values(), "<I", "<Q")}


class _Reader:
    def __init__(self, buffer: Any, size: int, name: str) -> None:
        self.buf = buffer
        self.size = size
        self.pos = 0
        self.name = name

    def _need(self, count: int) -> None:
        if count < 0 or self.pos + count > self.size:
            raise HeaderTruncated(
                f"{self.name} is truncated or corrupt: its header ends early "
                f"(byte {self.pos} of {self.size}). Download it again."
            )

    def unpack(self, fmt: str) -> Any:
        packer = _STRUCTS[fmt]
        width = packer.size
        self._need(width)
        value = packer.unpack_from(self.buf, self.pos)[0]
        self.pos += width
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        self._need(length)
        raw = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        # The hot loop of a header read (~100k vocabulary strings): one unpack per string,
        # bounds checked once at the end (unpack_from past the end raises struct.error).
        unpack, buf, pos = _U64.unpack_from, self.buf, self.pos
        try:
            for _ in range(count >> 2):  # four per turn: ~8% less loop overhead
                pos += 8 + unpack(buf, pos)[0]
                pos += 8 + unpack(buf, pos)[0]
                pos += 8 + unpack(buf, pos)[0]
                pos += 8 + unpack(buf, pos)[0]
            for _ in range(count & 3):
                pos += 8 + unpack(buf, pos)[0]
        except struct.error:
            pos = self.size + 1
        self._need(pos - self.pos)
        self.pos = pos

    def value(self, kind: int) -> tuple[Any, int | None]:
        """One metadata value; arrays too long to keep come back as None with their length."""
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind]), None
        if kind == _STRING:
            return self.string(), None
        if kind != _ARRAY:
            raise GGUFError(f"{self.name} is corrupt: unknown metadata type {kind}")
        item_kind = self.unpack("<I")
        count = self.unpack("<Q")
        if item_kind in _SCALARS:
            width = struct.calcsize(_SCALARS[item_kind])
            self._need(count * width)
            if count > MAX_KEPT_ARRAY:
                self.pos += count * width
                return None, count
            values = struct.unpack_from(f"<{count}{_SCALARS[item_kind][1]}", self.buf, self.pos)
            self.pos += count * width
            return tuple(values), count
        if item_kind == _STRING:
            if count > MAX_KEPT_ARRAY:
                self.skip_strings(count)
                return None, count
            return tuple(self.string() for _ in range(count)), count
        if count > MAX_KEPT_ARRAY:
            raise GGUFError(f"{self.name} is corrupt: nested array of {count} items")
        return tuple(self.value(item_kind)[0] for _ in range(count)), count


def _tensor_bytes(shape: tuple[int, ...], ggml_type: int, name: str, path_name: str) -> int:
    if ggml_type not in GGML_TYPES:
        raise GGUFError(
            f"{path_name} uses tensor type {ggml_type} for {name}, which tui-llm does not know; "
            "it may need a newer llama.cpp"
        )
    _, block, type_size = GGML_TYPES[ggml_type]
    elements = 1
    for dim in shape:
        elements *= dim
    return elements // block * type_size


def _walk(buf: Any, size: int, name: str) -> dict[str, Any]:
    """The header's parts, as plain data (what the header cache keeps)."""
    reader = _Reader(buf, size, name)
    if size < 4 or bytes(buf[:4]) != MAGIC:
        raise GGUFError(
            f"{name} is not a GGUF model (it does not start with 'GGUF'). "
            "tui-llm runs GGUF files; older GGML .bin files must be converted."
        )
    reader.pos = 4
    version = reader.unpack("<I")
    if version not in (2, 3):
        if version in (1,) or version > 0xFFFF:
            raise GGUFError(f"{name} is GGUF version {version}, which is not supported")
        raise GGUFError(f"{name} is GGUF version {version}, newer than tui-llm knows")
    n_tensors = reader.unpack("<Q")
    n_kv = reader.unpack("<Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise GGUFError(f"{name} is corrupt: implausible header counts")
    metadata: dict[str, Any] = {}
    array_lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = reader.string()
        kind = reader.unpack("<I")
        value, length = reader.value(kind)
        if length is not None:
            array_lengths[key] = length
        if value is not None:
            metadata[key] = value
    tensors = []
    for _ in range(n_tensors):
        tensor = reader.string()
        n_dims = reader.unpack("<I")
        if n_dims > 8:
            raise GGUFError(f"{name} is corrupt: tensor {tensor} has {n_dims} dimensions")
        shape = tuple(reader.unpack("<Q") for _ in range(n_dims))
        tensors.append((tensor, shape, reader.unpack("<I"), reader.unpack("<Q")))
    alignment = header_alignment(metadata, name)
    return {
        "version": version, "metadata": metadata, "array_lengths": array_lengths,
        "tensors": tensors, "data_offset": -(-reader.pos // alignment) * alignment,
    }


def _info(path: Path, file_size: int, parts: dict[str, Any]) -> GGUFInfo:
    tensors = tuple(
        TensorInfo(name, shape, kind, offset, _tensor_bytes(shape, kind, name, path.name))
        for name, shape, kind, offset in parts["tensors"]
    )
    data_end = parts["data_offset"] + max((t.offset + t.n_bytes for t in tensors), default=0)
    return _build_info(
        path, parts["version"], file_size, parts["metadata"], parts["array_lengths"],
        tensors, parts["data_offset"], data_end,
    )


def _parse(buf: Any, size: int, path: Path) -> GGUFInfo:
    return _info(path, size, _walk(buf, size, path.name))


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, tuple):
        return max((int(v) for v in value), default=default)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# Architectures where llama.cpp interleaves sliding-window and full-attention
# layers, with the period of the pattern (every Nth layer is full attention),
# for files that do not store the pattern themselves.
_SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2, "exaone4": 4}


def _swa_layers(arch: str, meta: dict[str, Any], n_layers: int, window: int) -> tuple[bool, ...]:
    if window <= 0 or n_layers <= 0:
        return ()
    pattern = meta.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, tuple) and len(pattern) == n_layers:
        return tuple(bool(p) for p in pattern)
    period = _int(pattern, 0) if pattern is not None else _SWA_PATTERNS.get(arch, 0)
    if period <= 0:
        return ()
    return tuple(il % period < period - 1 for il in range(n_layers))


def _build_info(
    path: Path,
    version: int,
    size: int,
    meta: dict[str, Any],
    array_lengths: dict[str, int],
    tensors: tuple[TensorInfo, ...],
    data_offset: int,
    data_end: int,
) -> GGUFInfo:
    arch = str(meta.get("general.architecture", ""))
    if not arch:
        raise GGUFError(f"{path.name} has no general.architecture key; it is not a usable model")

    def key(name: str) -> Any:
        return meta.get(f"{arch}.{name}")

    n_layers = _int(key("block_count"))
    if n_layers <= 0:
        n_layers = len({t.name.split(".")[1] for t in tensors if t.name.startswith("blk.")})
    n_embd = _int(key("embedding_length"))
    n_head = _int(key("attention.head_count"))
    kv_value = key("attention.head_count_kv")
    per_layer = tuple(int(v) for v in kv_value) if isinstance(kv_value, tuple) else ()
    n_head_kv = _int(kv_value, n_head) or n_head
    head_dim = n_embd // n_head if n_head else 0
    key_length = _int(key("attention.key_length"), head_dim) or head_dim
    value_length = _int(key("attention.value_length"), head_dim) or head_dim
    window = _int(key("attention.sliding_window"))
    n_vocab = _int(key("vocab_size")) or array_lengths.get("tokenizer.ggml.tokens", 0)
    if not n_vocab:
        embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
        n_vocab = embd.shape[-1] if embd and len(embd.shape) == 2 else 0
    file_type = meta.get("general.file_type")
    file_type = int(file_type) if isinstance(file_type, int) else None
    quant = FILE_TYPES.get(file_type, "") if file_type is not None else ""
    if not quant:
        quant = _dominant_type(tensors)
    parameter_count = sum(t.n_elements for t in tensors)
    name = str(meta.get("general.name") or path.stem)
    template = meta.get("tokenizer.chat_template")
    bos = meta.get("tokenizer.ggml.bos_token_id")
    eos = meta.get("tokenizer.ggml.eos_token_id")
    return GGUFInfo(
        path=path,
        version=version,
        file_size=size,
        architecture=arch,
        name=name,
        parameter_count=parameter_count,
        n_layers=n_layers,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        key_length=key_length,
        value_length=value_length,
        sliding_window=window,
        n_ctx_train=_int(key("context_length")),
        n_vocab=n_vocab,
        n_ff=_int(key("feed_forward_length")),
        file_type=file_type,
        quant=quant,
        data_offset=data_offset,
        data_end=data_end,
        tensors=tensors,
        chat_template=template if isinstance(template, str) else None,
        bos_token_id=bos if isinstance(bos, int) else None,
        eos_token_id=eos if isinstance(eos, int) else None,
        n_head_kv_per_layer=per_layer,
        swa_layers=_swa_layers(arch, meta, n_layers, window),
        metadata=meta,
        array_lengths=array_lengths,
    )


def _dominant_type(tensors: tuple[TensorInfo, ...]) -> str:
    """The tensor type holding the most bytes: a fair quant name when the file has none."""
    by_type: dict[str, int] = {}
    for tensor in tensors:
        by_type[tensor.type_name] = by_type.get(tensor.type_name, 0) + tensor.n_bytes
    return max(by_type, key=by_type.__getitem__) if by_type else "unknown"


def read_gguf(path: Path | str) -> GGUFInfo:
    """Parse the header of ``path``. Raises GGUFError with a readable message.

    A file read before and unchanged since (same size, mtime and inode) is not
    walked again: in this process it is remembered, across runs the header
    cache keeps what its walk found.
    """
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return _read_gguf(path)
    return _read_unchanged(path, stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=16)
def _read_unchanged(path: Path, size: int, mtime_ns: int, inode: int) -> GGUFInfo:
    parts = header_cache.recall(path, size, mtime_ns, inode)
    if parts is not None:
        try:
            return validate_header(_info(path, size, parts))
        except (ValueError, TypeError, KeyError, ArithmeticError):  # a damaged or crafted entry
            pass
    info, parts = _walk_file(path)
    if info.file_size == size:
        header_cache.remember(path, size, mtime_ns, inode, parts)
    return info


def _read_gguf(path: Path) -> GGUFInfo:
    return _walk_file(path)[0]


def _walk_file(path: Path) -> tuple[GGUFInfo, dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise GGUFError(f"{path.name} is empty; it is not a GGUF model")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                parts = _walk(view, size, path.name)
            return validate_header(_info(path, size, parts)), parts
    except FileNotFoundError as exc:
        raise GGUFError(f"No such model file: {path}") from exc
    except IsADirectoryError as exc:
        raise GGUFError(f"Not a file: {path}") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, GGUFError):
            raise
        raise GGUFError(f"{path.name} could not be read: {exc}") from exc
    except (struct.error, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        raise GGUFError(f"{path.name} is truncated or corrupt: {exc}") from exc
    except RecursionError as exc:
        raise GGUFError(f"{path.name} is corrupt: its metadata nests arrays too deeply") from exc


def read_gguf_head(data: bytes, name: str, file_size: int) -> GGUFInfo:
    """Parse a header from the first bytes of a file of ``file_size`` bytes (a hub
    file read by range). Raises HeaderTruncated when ``data`` ends inside the header."""
    try:
        info = _parse(data, len(data), Path(name))
    except (struct.error, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        raise GGUFError(f"{name} is corrupt: {exc}") from exc
    return replace(info, file_size=file_size)


def check_complete(path: Path | str) -> GGUFInfo:
    """Raise GGUFError unless the file holds all the tensor data its header promises."""
    info = read_gguf(path)
    if info.file_size < info.data_end:
        missing = info.data_end - info.file_size
        raise GGUFError(
            f"{info.path.name} is truncated: its header promises {info.data_end:,} bytes "
            f"but the file has {info.file_size:,} ({missing:,} missing). "
            "The download was probably interrupted; download it again."
        )
    return info


# Header checks: values llama.cpp would abort on, or the fit engine could not
# hold, refused with words before anything else sees them. The limits are far
# above any real model.
MAX_LAYERS = 512  # llama.cpp's LLAMA_MAX_LAYERS
MAX_CONTEXT = 1 << 24
MAX_DIMENSION = 1 << 22
_DIMENSION_KEYS = (
    "embedding_length", "feed_forward_length", "attention.head_count",
    "attention.head_count_kv", "attention.key_length", "attention.value_length", "vocab_size",
)


def _crafted(name: str, what: str) -> GGUFError:
    return GGUFError(f"{name} is corrupt or crafted: {what}; llama.cpp could not load it safely")


def header_alignment(metadata: dict[str, Any], name: str) -> int:
    value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value & (value - 1):
        raise _crafted(name, f"general.alignment is {value!r}, not a power of two")
    return value


def _whole_numbers(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def validate_header(info: GGUFInfo) -> GGUFInfo:
    """Raise GGUFError for header values a real model never has."""
    name, arch, meta = info.path.name, info.architecture, info.metadata
    layers = meta.get(f"{arch}.block_count")
    if layers is not None and (
        isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MAX_LAYERS
    ):
        raise _crafted(name, f"{arch}.block_count is {layers!r} (a model has 1 to {MAX_LAYERS} layers)")
    context = meta.get(f"{arch}.context_length")
    if context is not None and (
        isinstance(context, bool) or not isinstance(context, int) or not 1 <= context <= MAX_CONTEXT
    ):
        raise _crafted(name, f"{arch}.context_length is {context!r} (limit {MAX_CONTEXT:,} tokens)")
    for key in _DIMENSION_KEYS:
        value = meta.get(f"{arch}.{key}")
        if value is None:
            continue
        for item in _whole_numbers(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_DIMENSION:
                raise _crafted(name, f"{arch}.{key} is {item!r} (limit {MAX_DIMENSION:,})")
    return info

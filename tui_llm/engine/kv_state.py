"""Saved KV state: a session's evaluated prompt, kept on disk between processes.

After a reply the runner writes llama.cpp's state (the KV cache of every token
read so far) to one file per session and model; when a new process continues
the session it restores that file and reads only the tokens that differ. A
file is used only when its model fingerprint matches and its tokens share a
prefix with the new prompt longer than what the engine already holds; a
missing, corrupt or mismatched file is ignored and the prompt is read again.
The folder is capped in bytes; the least recently used files go first.

File layout: MAGIC, a 4-byte little-endian header length, a JSON header
(fingerprint, token count, state size, CRC-32 of the state), the tokens as
native int32, then the state bytes.
"""

from __future__ import annotations

import ctypes
import hashlib
from array import array
import json
import os
import struct
import tempfile
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from tui_llm.engine.load_settings import LoadSettings

MAGIC = b"TUI-LLM KV 1\n"
SUFFIX = ".kv"
DEFAULT_MAX_BYTES = 2 * 1024**3
# Settings that change how tokens are computed, not what the KV cache holds.
_NOT_IN_STATE = {"n_ctx", "n_gpu_layers", "n_threads", "n_threads_batch", "n_batch", "n_ubatch", "use_mmap", "prompt_lookup"}


class StateFileError(ValueError):
    """A state file that cannot be used."""


def model_fingerprint(path: Path, settings: LoadSettings, engine_version: str) -> str:
    """The model file (path, size, mtime), the settings that shape the KV values, the engine build."""
    stat = path.stat()
    shaping = {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_STATE}
    parts = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, engine_version, shaping]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


class KVStateCache:
    """A folder of state files, one per (session, model), capped at ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def path_for(self, session_key: str, fingerprint: str) -> Path:
        name = hashlib.sha256(f"{session_key}\0{fingerprint}".encode()).hexdigest()[:32]
        return self.folder / (name + SUFFIX)

    def save(self, path: Path, fingerprint: str, tokens: Sequence[int], state: Any) -> None:
        """Write ``state`` (a ctypes byte array) atomically, then evict down to the cap."""
        if self.max_bytes <= 0:
            return
        data = memoryview(state).cast("B")
        token_bytes = array("i", tokens).tobytes()
        header = json.dumps({
            "fingerprint": fingerprint,
            "n_tokens": len(tokens),
            "state_size": len(data),
            "crc32": zlib.crc32(data),
        }).encode()
        if len(MAGIC) + 4 + len(header) + len(token_bytes) + len(data) > self.max_bytes:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(MAGIC + struct.pack("<I", len(header)) + header + token_bytes)
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.evict(keep=path)

    def read_header(self, path: Path, fingerprint: str) -> tuple[list[int], dict[str, Any], int]:
        """The saved tokens, the header and the offset of the state bytes."""
        with path.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise StateFileError("not a state file")
            (length,) = struct.unpack("<I", handle.read(4))
            try:
                header = json.loads(handle.read(length))
                n_tokens, size = int(header["n_tokens"]), int(header["state_size"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StateFileError(f"bad header: {exc}") from exc
            if header.get("fingerprint") != fingerprint:
                raise StateFileError("saved for another model or other settings")
            raw = handle.read(4 * n_tokens)
            if len(raw) != 4 * n_tokens:
                raise StateFileError("truncated")
            offset = handle.tell()
        if path.stat().st_size != offset + size:
            raise StateFileError("truncated or padded")
        return array("i", raw).tolist(), header, offset

    def read_state(self, path: Path, header: dict[str, Any], offset: int) -> Any:
        """The state bytes as a ctypes array, checked against the header's CRC."""
        size = int(header["state_size"])
        buffer = (ctypes.c_uint8 * size)()
        with path.open("rb") as handle:
            handle.seek(offset)
            if handle.readinto(buffer) != size:
                raise StateFileError("truncated")
        if zlib.crc32(memoryview(buffer).cast("B")) != header.get("crc32"):
            raise StateFileError("checksum mismatch")
        os.utime(path)  # most recently used
        return buffer

    def evict(self, keep: Path | None = None) -> None:
        """Delete the least recently used files until the folder fits the cap."""
        files = []
        for path in self.folder.glob("*" + SUFFIX):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files, key=lambda item: item[0]):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)


def capture(llm: Any) -> tuple[list[int], Any]:
    """The tokens in ``llm``'s KV cache and llama.cpp's state bytes; call on the engine's thread."""
    import llama_cpp

    n_tokens = llm.n_tokens
    llm._ctx.kv_cache_seq_rm(-1, n_tokens, -1)  # cells past n_tokens are stale; keep them out of the file
    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
    if written != size:
        buffer = (ctypes.c_uint8 * written).from_buffer_copy(memoryview(buffer)[:written])
    return llm.input_ids[:n_tokens].tolist(), buffer


def restore(llm: Any, tokens: list[int], state: Any) -> bool:
    """Put saved state into ``llm``; on failure the KV cache is left empty. Engine thread only."""
    import llama_cpp

    size = len(state)
    if len(tokens) >= llm.n_ctx() or llama_cpp.llama_state_set_data(llm._ctx.ctx, state, size) != size:
        llm._ctx.kv_cache_clear()
        llm.n_tokens = 0
        return False
    llm.input_ids[: len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    return True


def resume(cache: KVStateCache, llm: Any, key: str, fingerprint: str, prompt: Sequence[int]) -> int:
    """Restore the session's saved state when it covers more of ``prompt`` than ``llm`` holds.

    Returns how many prompt tokens were restored (0: nothing was, and ``llm`` is as it was,
    or emptied if llama.cpp rejected the state).
    """
    path = cache.path_for(key, fingerprint)
    held = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt)
    try:
        saved, header, offset = cache.read_header(path, fingerprint)
        shared = common_prefix(saved, prompt)
        if shared <= held:
            return 0
        state = cache.read_state(path, header, offset)
    except FileNotFoundError:
        return 0
    except (OSError, StateFileError):
        cache.discard(path)
        return 0
    if not restore(llm, saved, state):
        cache.discard(path)
        return 0
    return shared


def keep(cache: KVStateCache, llm: Any, key: str, fingerprint: str) -> None:
    """Save what ``llm`` holds as the session's state; a failed write only loses the shortcut."""
    if llm.n_tokens == 0:
        return
    tokens, state = capture(llm)
    try:
        cache.save(cache.path_for(key, fingerprint), fingerprint, tokens, state)
    except OSError:
        pass

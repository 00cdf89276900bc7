"""A hub file's GGUF header, read with HTTP Range requests: the fit of a model
before downloading it.

Only the first few MB of a file are fetched (more when its header is longer:
big vocabularies), never the tensors. Headers are cached on disk by the
file's SHA-256, so asking again costs no request beyond the metadata one.
Split models (``name-00001-of-00003.gguf``) are read shard by shard and summed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_llm.hub.errors import DownloadError, HubUnreachable
from tui_llm.hub.metadata import hub_endpoint, hub_timeout, httpx_api, remote_file, validate_filename
from tui_llm.models.gguf import GGUFError, GGUFInfo, HeaderTruncated, read_gguf_head

FIRST_READ = 4 << 20
MAX_HEADER = 128 << 20
SPLIT_NAME = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class HubRef:
    repo_id: str
    filename: str

    @property
    def url(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}"


def parse_hf_url(text: str) -> HubRef:
    """``hf://ORG/REPO/FILE.gguf`` (FILE may sit in folders). Raises ValueError in words."""
    if not text.startswith("hf://"):
        raise ValueError(f"not a hub address: {text!r} (expected hf://ORG/REPO/FILE.gguf)")
    parts = text.removeprefix("hf://").split("/")
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise ValueError(f"{text!r} names no file: expected hf://ORG/REPO/FILE.gguf")
    filename = "/".join(parts[2:])
    validate_filename(filename)
    return HubRef(f"{parts[0]}/{parts[1]}", filename)


def split_parts(filename: str) -> list[str]:
    """Every shard's name for a split model's file name; just the name otherwise."""
    match = SPLIT_NAME.match(filename)
    if not match:
        return [filename]
    width = len(match["count"])
    count = int(match["count"])
    return [f"{match['stem']}-{n:0{width}d}-of-{match['count']}.gguf" for n in range(1, count + 1)]


def _cache_dir() -> Path:
    from tui_llm import locations

    return locations.cache_dir() / "hub-headers"


def _cache_key(repo_id: str, filename: str, sha256: str | None, commit: str | None) -> str:
    if sha256:
        return sha256
    return hashlib.sha256(f"{repo_id}\0{commit}\0{filename}".encode()).hexdigest()


def _cached(key: str) -> tuple[bytes, int] | None:
    folder = _cache_dir()
    try:
        size = json.loads((folder / f"{key}.json").read_text())["file_size"]
        return (folder / f"{key}.head").read_bytes(), int(size)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_head(sha256: str) -> tuple[bytes, int] | None:
    """(header bytes, file size) read earlier for the file with this SHA-256; no request."""
    return _cached(sha256) if re.fullmatch(r"[0-9a-f]{64}", sha256) else None


def _store(key: str, head: bytes, file_size: int) -> None:
    folder = _cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.head").write_bytes(head)
        (folder / f"{key}.json").write_text(json.dumps({"file_size": file_size}))
    except OSError:
        pass  # a cache that cannot be written only costs a request next time


def _read_range(url: str, start: int, end: int, headers: dict[str, str], timeout: Any,
                cancel: threading.Event | None) -> bytes:
    """Bytes start..end-1 of url; a server that ignores Range is read no further than end."""
    from huggingface_hub.utils import get_session, hf_raise_for_status

    wanted = end - start
    chunks: list[bytes] = []
    got = 0
    request = dict(headers, Range=f"bytes={start}-{end - 1}")
    with get_session().stream("GET", url, headers=request, timeout=timeout, follow_redirects=True) as response:
        hf_raise_for_status(response)
        skip = start if response.status_code == 200 else 0
        for chunk in response.iter_bytes():
            if cancel is not None and cancel.is_set():
                raise DownloadError("cancelled")
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            chunks.append(chunk)
            got += len(chunk)
            if got >= wanted:
                break
    data = b"".join(chunks)[:wanted]
    if len(data) < wanted:
        raise DownloadError(f"the hub sent {len(data):,} of {wanted:,} header bytes")
    return data


def read_header(
    repo_id: str,
    filename: str,
    revision: str = "main",
    token: str | bool | None = None,
    endpoint: str | None = None,
    cancel: threading.Event | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
) -> GGUFInfo:
    """The parsed header of one hub file. Raises DownloadError (or HubUnreachable,
    RepoUnavailable) when the hub fails, GGUFError when the bytes are not a GGUF header."""
    from tui_llm.hub.downloads import _auth_headers

    endpoint = hub_endpoint(endpoint)
    remote = remote_file(repo_id, filename, revision, token, endpoint, connect_timeout, read_timeout)
    key = _cache_key(repo_id, filename, remote.sha256, remote.commit)
    name = Path(filename).name
    cached = _cached(key)
    if cached is not None:
        try:
            return read_gguf_head(cached[0], name, cached[1])
        except GGUFError:
            pass  # a damaged cache entry: read the hub again
    headers = _auth_headers(remote.url, endpoint, token)
    timeout = hub_timeout(connect_timeout, read_timeout)
    httpx2 = httpx_api()
    head = b""
    wanted = min(FIRST_READ, remote.size)
    while True:
        try:
            head += _read_range(remote.url, len(head), wanted, headers, timeout, cancel)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise HubUnreachable(endpoint, str(exc)) from exc
        except DownloadError:
            raise
        except Exception as exc:
            raise DownloadError(f"reading the header of {repo_id}/{filename} failed: {exc}") from exc
        try:
            info = read_gguf_head(head, name, remote.size)
        except HeaderTruncated:
            if wanted >= remote.size:
                raise GGUFError(f"{name} on the hub is truncated: its header ends early") from None
            if wanted >= MAX_HEADER:
                raise GGUFError(f"{name}: its header is longer than {MAX_HEADER >> 20} MB; "
                                "not a model tui-llm can judge") from None
            wanted = min(wanted * 2, remote.size, MAX_HEADER)
            continue
        _store(key, head[:info.data_offset], remote.size)
        return info


def read_model_header(
    repo_id: str, filename: str, cancel: threading.Event | None = None, **hub: Any
) -> GGUFInfo:
    """A model's header; for a split model, the first shard's metadata with every
    shard's tensors and bytes summed."""
    parts = split_parts(filename)
    infos = [read_header(repo_id, part, cancel=cancel, **hub) for part in parts]
    if len(infos) == 1:
        return infos[0]
    first = infos[0]
    tensors = tuple(t for info in infos for t in info.tensors)
    return replace(
        first,
        tensors=tensors,
        file_size=sum(info.file_size for info in infos),
        parameter_count=sum(t.n_elements for t in tensors),
    )

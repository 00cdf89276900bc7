"""Resumable, verified downloads of one GGUF file from the Hugging Face hub.

huggingface_hub finds the file (:mod:`tui_llm.hub.metadata`); this module
moves the bytes itself with ``Range`` requests, because the hub client
deletes its temporary file when a download fails. The bytes wait in a
``.partial`` file (:mod:`tui_llm.hub.partials`) and the file takes its real
name only after its size and SHA-256 match the hub's; a file that does not
match is deleted, never offered. When the hub published no SHA-256, only the
size is checked, and the hash computed here goes into the journal of
checksums (:mod:`tui_llm.hub.checksums`) for later checks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from tui_llm.hub.checksums import Checksum, changed_since_download, record
from tui_llm.hub.errors import (
    DownloadCancelled,
    DownloadError,
    NotEnoughSpace,
    VerificationError,
)
from tui_llm.hub.metadata import (
    RemoteFile,
    hub_endpoint,
    hub_timeout,
    httpx_api,
    local_name,
    remote_file,
    status_of,
)
from tui_llm.hub.partials import (
    PartialFile,
    discard_partial,
    marker_path,
    partial_path,
    partial_size,
    prepare_partial,
)

from tui_llm.units import human_size

DEFAULT_MARGIN = 256 * 1024 * 1024  # keep this much disk free after a download
DEFAULT_RETRIES = 5
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    bytes_done: int
    total: int
    speed: float  # bytes per second, over the last few seconds
    eta: float | None  # seconds left, None while unknown
    note: str = ""  # e.g. "connection dropped, retrying in 2 s"

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.total if self.total else 0.0


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    verified: bool  # True when the SHA-256 matched the hub's LFS hash
    resumed_from: int = 0  # bytes that were already on disk when this run started
    fetched: int = 0  # bytes this run took from the network


ProgressCallback = Callable[[DownloadProgress], None]
DiskUsage = Callable[[Path], Any]  # shutil.disk_usage: returns an object with .free




# --- progress ---------------------------------------------------------------
class _Meter:
    """Speed over the last few seconds, and a callback at most every ``interval``."""

    def __init__(self, filename: str, total: int, callback: ProgressCallback | None, interval: float) -> None:
        self.filename = filename
        self.total = total
        self.callback = callback
        self.interval = interval
        self.samples: deque[tuple[float, int]] = deque()
        self.last_report = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > 5.0:
            self.samples.popleft()
        if self.callback is None or (not force and now - self.last_report < self.interval):
            return
        self.last_report = now
        speed = 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        if t1 > t0 and b1 >= b0:
            speed = (b1 - b0) / (t1 - t0)
        eta = (self.total - done) / speed if speed > 0 else None
        self.callback(DownloadProgress(self.filename, done, self.total, speed, eta, note))

    def restart(self) -> None:
        self.samples.clear()


# --- the transfer -----------------------------------------------------------
def _auth_headers(url: str, endpoint: str, token: str | bool | None) -> dict[str, str]:
    """The hub's auth headers, only for the hub's own host (never a CDN's signed URL)."""
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=token)
    same = urlsplit(url)[:2] == urlsplit(endpoint)[:2]
    if not same:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    headers["Accept-Encoding"] = "identity"
    return headers


def _fetch(
    remote: RemoteFile,
    partial: PartialFile,
    headers: dict[str, str],
    timeout: Any,
    cancel: threading.Event,
    meter: _Meter,
) -> None:
    """One GET from ``partial.offset`` on; returns when the server stops sending."""
    from huggingface_hub.utils import get_session, hf_raise_for_status

    request_headers = dict(headers)
    if partial.offset:
        request_headers["Range"] = f"bytes={partial.offset}-"
    with get_session().stream(
        "GET", remote.url, headers=request_headers, timeout=timeout, follow_redirects=True
    ) as response:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Transient(f"the server answered {status}")
        if status == 416:
            raise VerificationError(
                f"the server has fewer bytes than the hub's size for {remote.filename} "
                f"({human_size(remote.size)})"
            )
        hf_raise_for_status(response)
        if status == 200 and partial.offset:
            partial.truncate()  # the server ignored Range: start over rather than mix bytes
            meter.restart()
        total = _advertised_total(response)
        if total is not None and total != remote.size:
            raise VerificationError(
                f"size mismatch for {remote.filename}: the hub says {remote.size} bytes, "
                f"the server sends {total}"
            )
        if status == 206 and not response.headers.get("Content-Range", "").startswith(
            f"bytes {partial.offset}-"
        ):
            raise _Transient("the server answered a different range than asked")
        for chunk in response.iter_bytes():
            if cancel.is_set():
                raise DownloadCancelled(f"{remote.filename}: cancelled")
            if partial.offset + len(chunk) > remote.size:
                raise VerificationError(
                    f"size mismatch for {remote.filename}: the server sent more than "
                    f"the hub's {remote.size} bytes"
                )
            partial.append(chunk)
            meter.update(partial.offset)


def _advertised_total(response: Any) -> int | None:
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    if response.status_code == 200 and response.headers.get("Content-Length", "").isdigit():
        return int(response.headers["Content-Length"])
    return None


def _check_space(dest_dir: Path, needed: int, margin: int, disk_usage: DiskUsage) -> None:
    free = disk_usage(dest_dir).free
    if free < needed + margin:
        raise NotEnoughSpace(
            f"Not enough free disk in {dest_dir}: the download needs {human_size(needed)} "
            f"and {human_size(margin)} should stay free, but only {human_size(free)} is free"
        )


def _existing_final(final: Path, remote: RemoteFile, checksums: Path | None) -> DownloadResult | None:
    if not final.exists():
        return None
    if final.stat().st_size == remote.size:
        digest = _sha256_file(final)
        if remote.sha256 is None and (problem := changed_since_download(final, remote.size, digest, checksums)):
            raise VerificationError(f"{problem}; move it away to download it again")
        if remote.sha256 is None or digest == remote.sha256:
            return DownloadResult(final, remote.size, digest, verified=remote.sha256 is not None)
    raise DownloadError(
        f"{final} already exists and is not the hub's {remote.filename}; "
        "move it away to download this one"
    )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    repo_id: str,
    filename: str,
    dest_dir: Path | str | None = None,
    revision: str = "main",
    token: str | bool | None = None,
    endpoint: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    min_free_margin: int = DEFAULT_MARGIN,
    disk_usage: DiskUsage = shutil.disk_usage,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
    progress_interval: float = 0.1,
    checksums: Path | None = None,
) -> DownloadResult:
    """Download ``filename`` from ``repo_id`` into ``dest_dir`` and verify it.

    Returns only for a complete file whose size (and SHA-256, when the hub
    knows it) matches. Raises DownloadError otherwise: HubUnreachable at once
    when the hub cannot be connected to, DownloadCancelled when ``cancel`` is
    set (bytes kept for a resume), VerificationError for a wrong size or hash
    (bytes deleted), NotEnoughSpace before starting when the disk is short.
    The result's size and SHA-256 are recorded in the ``checksums`` journal.
    """
    if dest_dir is None:
        from tui_llm import locations

        dest_dir = locations.models_dir()
    dest_dir = Path(dest_dir).expanduser()
    name = local_name(filename)
    cancel = cancel or threading.Event()
    endpoint = hub_endpoint(endpoint)
    timeout = hub_timeout(connect_timeout, read_timeout)

    remote = _remote_with_retries(
        lambda: remote_file(repo_id, filename, revision, token, endpoint, connect_timeout, read_timeout),
        cancel, retries, backoff, max_backoff,
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / name
    existing = _existing_final(final, remote, checksums)
    if existing is not None:
        return existing
    partial_file = partial_path(dest_dir, filename)
    prepare_partial(partial_file, remote)
    try:
        _check_space(dest_dir, remote.size - partial_size(dest_dir, filename), min_free_margin, disk_usage)
    except NotEnoughSpace:
        if partial_size(dest_dir, filename) == 0:
            discard_partial(dest_dir, filename)
        raise

    meter = _Meter(name, remote.size, progress, progress_interval)
    partial = PartialFile(partial_file)
    resumed_from = partial.offset
    fresh_retry_left = resumed_from > 0
    try:
        while True:
            _transfer(remote, partial, endpoint, token, timeout, cancel, meter, retries, backoff, max_backoff)
            digest = partial.hasher.hexdigest()
            if remote.sha256 is None or digest == remote.sha256:
                break
            if fresh_retry_left:  # the kept bytes may be the bad ones: one clean try
                fresh_retry_left = False
                partial.truncate()
                meter.update(0, note="hash mismatch after a resume; downloading again", force=True)
                continue
            raise VerificationError(
                f"SHA-256 mismatch for {name}: the hub says {remote.sha256}, the bytes hash to "
                f"{digest}. The download was deleted."
            )
        partial.handle.seek(0)
        if partial.handle.read(4) != GGUF_MAGIC:
            raise VerificationError(f"{name} is not a GGUF file (no 'GGUF' at its start). It was deleted.")
    except VerificationError:
        partial.close()
        discard_partial(dest_dir, filename)
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NotEnoughSpace(
                f"The disk filled up while downloading {name}; "
                f"{human_size(partial.offset)} are kept, free some space and run it again to resume"
            ) from exc
        raise
    finally:
        partial.close()
    os.replace(partial_file, final)
    marker_path(partial_file).unlink(missing_ok=True)
    meter.update(remote.size, force=True)
    record(final, Checksum(remote.size, digest, remote.sha256 is not None, repo_id, filename, remote.commit),
           checksums)
    return DownloadResult(
        path=final,
        size=remote.size,
        sha256=digest,
        verified=remote.sha256 is not None,
        resumed_from=resumed_from,
        fetched=remote.size - resumed_from,
    )


def _remote_with_retries(
    ask: Callable[[], RemoteFile], cancel: threading.Event, retries: int, backoff: float, max_backoff: float
) -> RemoteFile:
    """Retry the metadata request on 5xx and timeouts, never on an unreachable hub."""
    failures = 0
    while True:
        try:
            return ask()
        except DownloadError:
            raise
        except Exception as exc:
            failures += 1
            if not _is_transient(exc) or failures > retries:
                raise DownloadError(f"The hub could not answer: {_describe(exc)}") from exc
            if cancel.wait(min(max_backoff, backoff * 2 ** (failures - 1))):
                raise DownloadCancelled("cancelled") from exc


def _transfer(
    remote: RemoteFile,
    partial: PartialFile,
    endpoint: str,
    token: str | bool | None,
    timeout: Any,
    cancel: threading.Event,
    meter: _Meter,
    retries: int,
    backoff: float,
    max_backoff: float,
) -> None:
    """Fetch until ``partial`` holds ``remote.size`` bytes, retrying what can be retried."""
    headers = _auth_headers(remote.url, endpoint, token)
    failures = 0
    meter.update(partial.offset, force=True)
    while partial.offset < remote.size:
        if cancel.is_set():
            raise DownloadCancelled(f"{remote.filename}: cancelled")
        before = partial.offset
        try:
            _fetch(remote, partial, headers, timeout, cancel, meter)
            if partial.offset < remote.size:
                raise _Transient("the connection ended early")
        except DownloadError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise  # download_file words it, with the bytes kept
            if not _is_transient(exc):
                raise DownloadError(f"{remote.filename}: {exc}") from exc
            failures = 1 if partial.offset > before else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"{remote.filename}: gave up after {retries} retries ({_describe(exc)}); "
                    f"{human_size(partial.offset)} are kept, run it again to resume"
                ) from exc
            delay = min(max_backoff, backoff * 2 ** (failures - 1))
            meter.update(partial.offset, note=f"{_describe(exc)}; retrying in {delay:.1f} s", force=True)
            if cancel.wait(delay):
                raise DownloadCancelled(f"{remote.filename}: cancelled") from exc


def _describe(exc: Exception) -> str:
    httpx2 = httpx_api()

    if isinstance(exc, httpx2.TimeoutException):
        return "the server stopped sending"
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return "the connection dropped"
    if isinstance(exc, httpx2.ConnectError):
        return "the server cannot be reached"
    if (status := status_of(exc)) is not None:
        return f"the server answered {status}"
    return str(exc) or type(exc).__name__


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (httpx_api().TransportError, _Transient)):
        return True
    return status_of(exc) in RETRY_STATUSES


class _Transient(Exception):
    """A failure worth retrying: dropped connection, short body, 5xx."""

"""Resumable, verified downloads of one GGUF file from the Hugging Face hub.

huggingface_hub finds the file (URL, redirects, auth token, size, LFS SHA-256);
this module moves the bytes itself with ``Range`` requests, because the hub
client deletes its temporary file when a download fails. Bytes go to
``<name>.partial`` next to a ``<name>.partial.json`` that says which remote
file they belong to, so a killed process or a lost SSH session resumes where
it stopped. The file takes its real name only after its size and SHA-256
match the hub's; a file that does not match is deleted, never offered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable
from urllib.parse import urljoin, urlsplit

from tui_llm.units import human_size

DEFAULT_MARGIN = 256 * 1024 * 1024  # keep this much disk free after a download
DEFAULT_RETRIES = 5
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
GGUF_MAGIC = b"GGUF"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(Exception):
    """A download that did not end in a verified file; the message says why."""


class HubUnreachable(DownloadError):
    """The hub could not be connected to at all (offline, DNS, refused)."""


class DownloadCancelled(DownloadError):
    """Stopped on request; the bytes so far are kept for a later resume."""


class VerificationError(DownloadError):
    """The bytes do not match the hub's size or SHA-256; they were deleted."""


class NotEnoughSpace(DownloadError):
    pass


class UnsafeFilename(DownloadError, ValueError):
    pass


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


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    url: str  # where the bytes are (the CDN, after the hub's redirect)
    size: int
    sha256: str | None
    commit: str | None


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    sha256: str | None


ProgressCallback = Callable[[DownloadProgress], None]
DiskUsage = Callable[[Path], Any]  # shutil.disk_usage: returns an object with .free


# --- names and places ------------------------------------------------------
def validate_filename(filename: str) -> str:
    """The repo path of a GGUF file, refused if it could land outside the models dir."""
    if not isinstance(filename, str) or not filename.strip():
        raise UnsafeFilename("the file name is empty")
    if any(ord(c) < 32 for c in filename) or "\\" in filename:
        raise UnsafeFilename(f"refusing the file name {filename!r}: control characters or backslashes")
    if filename.startswith("/") or re.match(r"^[A-Za-z]:", filename):
        raise UnsafeFilename(f"refusing the file name {filename!r}: it is an absolute path")
    parts = filename.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeFilename(f"refusing the file name {filename!r}: it walks out of its folder")
    name = parts[-1]
    if not name.lower().endswith(".gguf") or len(name) <= len(".gguf"):
        raise UnsafeFilename(f"refusing {filename!r}: only .gguf model files are downloaded")
    return filename


def local_name(filename: str) -> str:
    return PurePosixPath(validate_filename(filename)).name


def partial_path(dest_dir: Path, filename: str) -> Path:
    return Path(dest_dir) / f"{local_name(filename)}.partial"


def _marker_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def partial_size(dest_dir: Path, filename: str) -> int:
    path = partial_path(dest_dir, filename)
    return path.stat().st_size if path.exists() else 0


def discard_partial(dest_dir: Path, filename: str) -> bool:
    """Delete the bytes kept for a resume; True if there were any."""
    partial = partial_path(dest_dir, filename)
    existed = partial.exists()
    partial.unlink(missing_ok=True)
    _marker_path(partial).unlink(missing_ok=True)
    return existed


def hub_endpoint(endpoint: str | None = None) -> str:
    """The hub to ask: the argument, else ``HF_ENDPOINT`` now, else huggingface_hub's."""
    if endpoint:
        return endpoint.rstrip("/")
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")



# --- metadata ---------------------------------------------------------------
def _hub_error(exc: Exception, repo_id: str, filename: str, revision: str) -> DownloadError | None:
    """Words for the hub's answers that no retry will change."""
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return DownloadError(
            f"{repo_id} is gated: accept its terms on the hub's website and log in "
            "(hf auth login) or pass a token"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return DownloadError(f"No repository {repo_id} on the hub (or it is private: log in or pass a token)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo_id} has no revision {revision!r}")
    if isinstance(exc, errors.EntryNotFoundError):
        return DownloadError(f"{repo_id} has no file {filename!r} at {revision}")
    if isinstance(exc, errors.HFValidationError):
        return DownloadError(f"Not a repository id: {repo_id!r} ({exc})")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubUnreachable("HF_HUB_OFFLINE is set, so the hub is not asked")
    return None


def _status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _httpx() -> Any:
    """huggingface_hub 2.x speaks httpx2, 1.x httpx: the same API under two names."""
    try:
        import httpx2
    except ImportError:
        import httpx as httpx2
    return httpx2


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (_httpx().TransportError, _Transient)):
        return True
    return _status_of(exc) in RETRY_STATUSES


class _Transient(Exception):
    """A failure worth retrying: dropped connection, short body, 5xx."""


def _timeout(connect: float, read: float) -> Any:
    return _httpx().Timeout(read, connect=connect)


def remote_file(
    repo_id: str,
    filename: str,
    revision: str = "main",
    token: str | bool | None = None,
    endpoint: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
) -> RemoteFile:
    """Ask the hub where a file is, how big it is and its SHA-256. One try.

    Raises HubUnreachable when the hub cannot be connected to at all, so a
    caller can fall back at once instead of sitting through retries.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import validate_repo_id

    validate_filename(filename)
    endpoint = hub_endpoint(endpoint)
    httpx2 = _httpx()
    try:
        validate_repo_id(repo_id)
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
        meta = get_hf_file_metadata(
            url, token=token, timeout=_timeout(connect_timeout, read_timeout), endpoint=endpoint
        )
    except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol) as exc:
        raise HubUnreachable(f"The hub at {endpoint} cannot be reached: {exc}") from exc
    except Exception as exc:
        known = _hub_error(exc, repo_id, filename, revision)
        if known is not None:
            raise known from exc
        raise
    if meta.size is None:
        raise DownloadError(f"The hub did not say how big {filename} is")
    sha256 = meta.etag if meta.etag and _SHA256.fullmatch(meta.etag) else None
    if sha256 is None:
        sha256 = _lfs_sha256(repo_id, filename, revision, token, endpoint)
    return RemoteFile(
        repo_id=repo_id,
        filename=filename,
        url=urljoin(url, meta.location),
        size=meta.size,
        sha256=sha256,
        commit=meta.commit_hash,
    )


def _lfs_sha256(repo_id: str, filename: str, revision: str, token: Any, endpoint: str) -> str | None:
    """The LFS hash from paths-info, for hubs whose ETag is not the SHA-256."""
    from huggingface_hub import HfApi

    try:
        infos = HfApi(endpoint=endpoint).get_paths_info(repo_id, [filename], revision=revision, token=token)
    except Exception:
        return None
    for info in infos:
        lfs = getattr(info, "lfs", None)
        if getattr(info, "path", None) == filename and lfs is not None:
            return lfs.sha256
    return None


def repo_gguf_files(
    repo_id: str,
    revision: str = "main",
    token: str | bool | None = None,
    endpoint: str | None = None,
) -> list[RepoFile]:
    """The GGUF files of a repo with their sizes and SHA-256, from the hub's tree listing."""
    from huggingface_hub import HfApi

    endpoint = hub_endpoint(endpoint)
    httpx2 = _httpx()
    try:
        tree = list(
            HfApi(endpoint=endpoint).list_repo_tree(repo_id, recursive=True, revision=revision, token=token)
        )
    except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
        raise HubUnreachable(f"The hub at {endpoint} cannot be reached: {exc}") from exc
    except Exception as exc:
        known = _hub_error(exc, repo_id, "", revision)
        if known is not None:
            raise known from exc
        raise
    found = []
    for entry in tree:
        path = getattr(entry, "path", "")
        if not path.lower().endswith(".gguf") or getattr(entry, "size", None) is None:
            continue
        lfs = getattr(entry, "lfs", None)
        found.append(RepoFile(path=path, size=entry.size, sha256=lfs.sha256 if lfs else None))
    return found


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
class _Partial:
    """The open ``.partial`` file, its running SHA-256, and a lock against a second writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] = open(path, "a+b", buffering=0)
        try:
            import fcntl

            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError as exc:
            self.handle.close()
            raise DownloadError(f"{path.name} is being downloaded by another tui-llm already") from exc
        self.offset = 0
        self.hasher = hashlib.sha256()
        self.handle.seek(0)
        while chunk := self.handle.read(1 << 20):
            self.hasher.update(chunk)
            self.offset += len(chunk)

    def append(self, chunk: bytes) -> None:
        self.handle.write(chunk)  # "a" mode: always at the end
        self.hasher.update(chunk)
        self.offset += len(chunk)

    def truncate(self) -> None:
        self.handle.truncate(0)
        self.offset = 0
        self.hasher = hashlib.sha256()

    def close(self) -> None:
        if self.handle.closed:
            return
        try:
            os.fsync(self.handle.fileno())
        except OSError:
            pass  # a full disk: the bytes written so far are still there for a resume
        self.handle.close()


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
    partial: _Partial,
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


def _existing_final(final: Path, remote: RemoteFile) -> DownloadResult | None:
    if not final.exists():
        return None
    if final.stat().st_size == remote.size:
        digest = _sha256_file(final)
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


def _marker_matches(marker: Path, remote: RemoteFile) -> bool:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("size") == remote.size and data.get("sha256") == remote.sha256 and (
        remote.sha256 is not None or data.get("commit") == remote.commit
    )


def _prepare_partial(partial_file: Path, remote: RemoteFile) -> None:
    """Keep bytes on disk only if they belong to this very remote file."""
    marker = _marker_path(partial_file)
    if partial_file.exists() and not _marker_matches(marker, remote):
        partial_file.unlink()
    if not partial_file.exists():
        data = {k: v for k, v in asdict(remote).items() if k != "url"}
        marker.write_text(json.dumps(data, indent=1), encoding="utf-8")


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
) -> DownloadResult:
    """Download ``filename`` from ``repo_id`` into ``dest_dir`` and verify it.

    Returns only for a complete file whose size (and SHA-256, when the hub
    knows it) matches. Raises DownloadError otherwise: HubUnreachable at once
    when the hub cannot be connected to, DownloadCancelled when ``cancel`` is
    set (bytes kept for a resume), VerificationError for a wrong size or hash
    (bytes deleted), NotEnoughSpace before starting when the disk is short.
    """
    if dest_dir is None:
        from tui_llm import locations

        dest_dir = locations.models_dir()
    dest_dir = Path(dest_dir).expanduser()
    name = local_name(filename)
    cancel = cancel or threading.Event()
    endpoint = hub_endpoint(endpoint)
    timeout = _timeout(connect_timeout, read_timeout)

    remote = _remote_with_retries(
        lambda: remote_file(repo_id, filename, revision, token, endpoint, connect_timeout, read_timeout),
        cancel, retries, backoff, max_backoff,
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / name
    existing = _existing_final(final, remote)
    if existing is not None:
        return existing
    partial_file = partial_path(dest_dir, filename)
    _prepare_partial(partial_file, remote)
    _check_space(dest_dir, remote.size - partial_size(dest_dir, filename), min_free_margin, disk_usage)

    meter = _Meter(name, remote.size, progress, progress_interval)
    partial = _Partial(partial_file)
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
        if exc.errno == 28:  # ENOSPC
            raise NotEnoughSpace(
                f"The disk filled up while downloading {name}; "
                f"{human_size(partial.offset)} are kept, free some space and run it again to resume"
            ) from exc
        raise
    finally:
        partial.close()
    os.replace(partial_file, final)
    _marker_path(partial_file).unlink(missing_ok=True)
    meter.update(remote.size, force=True)
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
    partial: _Partial,
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
    httpx2 = _httpx()

    if isinstance(exc, httpx2.TimeoutException):
        return "the server stopped sending"
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return "the connection dropped"
    if isinstance(exc, httpx2.ConnectError):
        return "the server cannot be reached"
    if (status := _status_of(exc)) is not None:
        return f"the server answered {status}"
    return str(exc) or type(exc).__name__

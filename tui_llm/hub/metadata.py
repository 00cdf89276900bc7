"""What the Hugging Face hub says about a repo's files: where, how big, which SHA-256.

Every call here is one request with connect and read timeouts and no retries,
so a caller learns at once when the hub cannot be reached (``HubUnreachable``)
and decides itself whether to retry or fall back. huggingface_hub is imported
lazily: it is slow to import and only needed once the hub is asked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

from tui_llm.hub.errors import DownloadError, HubUnreachable, RepoUnavailable, UnsafeFilename

_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    """The name a repo file gets on disk: its last path part."""
    return PurePosixPath(validate_filename(filename)).name


def hub_endpoint(endpoint: str | None = None) -> str:
    """The hub to ask: the argument, else ``HF_ENDPOINT`` now, else huggingface_hub's."""
    if endpoint:
        return endpoint.rstrip("/")
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def httpx_api() -> Any:
    """huggingface_hub 2.x speaks httpx2, 1.x httpx: the same API under two names."""
    try:
        import httpx2
    except ImportError:
        import httpx as httpx2
    return httpx2


def hub_timeout(connect: float, read: float) -> Any:
    return httpx_api().Timeout(read, connect=connect)


def status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _hub_error(
    exc: Exception, endpoint: str, repo_id: str, filename: str, revision: str
) -> DownloadError | None:
    """Words for the hub's answers that no retry will change."""
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return RepoUnavailable(
            f"{repo_id} is gated: accept its terms on the hub's website and log in "
            "(hf auth login) or pass a token"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return RepoUnavailable(f"No repository {repo_id} on the hub (or it is private: log in or pass a token)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo_id} has no revision {revision!r}")
    if isinstance(exc, errors.EntryNotFoundError):
        return DownloadError(f"{repo_id} has no file {filename!r} at {revision}")
    if isinstance(exc, errors.HFValidationError):
        return DownloadError(f"Not a repository id: {repo_id!r} ({exc})")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubUnreachable(endpoint, "HF_HUB_OFFLINE is set, so the hub is not asked")
    return None


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
    httpx2 = httpx_api()
    try:
        validate_repo_id(repo_id)
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
        meta = get_hf_file_metadata(
            url, token=token, timeout=hub_timeout(connect_timeout, read_timeout), endpoint=endpoint
        )
    except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol) as exc:
        raise HubUnreachable(endpoint, str(exc)) from exc
    except Exception as exc:
        known = _hub_error(exc, endpoint, repo_id, filename, revision)
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
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
) -> list[RepoFile]:
    """The GGUF files of a repo with their sizes and SHA-256, from the hub's tree listing.

    One request per page of the listing, with timeouts and no retries, as in
    ``remote_file``: ``HfApi.list_repo_tree`` has no timeout and retries a
    refused connection for about half a minute. Raises HubUnreachable when
    the hub cannot be connected to, RepoUnavailable for a missing, private or
    gated repo, and DownloadError for any other failure, worded.
    """
    from huggingface_hub.hf_api import RepoFile as HubFile
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, validate_repo_id

    endpoint = hub_endpoint(endpoint)
    httpx2 = httpx_api()
    url: str | None = f"{endpoint}/api/models/{repo_id}/tree/{quote(revision, safe='')}"
    params: dict[str, str] | None = {"recursive": "true"}
    found = []
    try:
        validate_repo_id(repo_id)
        while url:
            response = get_session().get(
                url, params=params, headers=build_hf_headers(token=token),
                timeout=hub_timeout(connect_timeout, read_timeout),
            )
            hf_raise_for_status(response)
            for item in response.json():
                if item.get("type") != "file" or not item.get("path", "").lower().endswith(".gguf"):
                    continue
                entry = HubFile(**item)
                sha256 = entry.lfs.sha256 if entry.lfs else None
                found.append(RepoFile(path=entry.path, size=entry.size, sha256=sha256))
            url, params = response.links.get("next", {}).get("url"), None
    except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol) as exc:
        raise HubUnreachable(endpoint, str(exc)) from exc
    except Exception as exc:
        known = _hub_error(exc, endpoint, repo_id, "", revision)
        if known is not None:
            raise known from exc
        if isinstance(exc, httpx2.TimeoutException):
            raise DownloadError(f"The hub at {endpoint} stopped answering about {repo_id}") from exc
        raise DownloadError(f"The hub at {endpoint} could not list {repo_id}: {exc}") from exc
    return found

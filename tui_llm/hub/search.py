"""Search the hub for repos with GGUF files, and list a repo's GGUF files.

One request per call with timeouts and no retries (as ``metadata``): the
same ``/api/models`` query ``HfApi.list_models(search=..., filter="gguf")``
sends, parsed into huggingface_hub's ``ModelInfo``. Answers are cached on
disk for ``CACHE_SECONDS``, so paging through results or opening a repo twice
does not ask the hub again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from tui_llm.hub.errors import DownloadError, HubUnreachable
from tui_llm.hub.header import SPLIT_NAME
from tui_llm.hub.metadata import _hub_error, hub_endpoint, hub_timeout, httpx_api, repo_gguf_files

CACHE_SECONDS = 600
SORTS = {"downloads": "downloads", "likes": "likes", "updated": "lastModified"}
MAX_LIMIT = 100


@dataclass(frozen=True)
class RepoHit:
    repo_id: str
    downloads: int
    likes: int
    updated: str  # ISO date, "" when the hub did not say
    gated: bool


@dataclass(frozen=True)
class HubGGUF:
    """One model file in a repo; a split model is one entry, its shards summed."""

    repo_id: str
    path: str  # the first shard for a split model
    size: int
    parts: int = 1

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _cache_file(kind: str, key: str) -> Path:
    from tui_llm import locations

    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return locations.cache_dir() / "hub-search" / f"{kind}-{digest}.json"


def _cached(kind: str, key: str, now: float) -> Any:
    path = _cache_file(kind, key)
    try:
        stored = json.loads(path.read_text())
        if 0 <= now - float(stored["at"]) <= CACHE_SECONDS:
            return stored["items"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _store(kind: str, key: str, items: list[dict[str, Any]], now: float) -> None:
    path = _cache_file(kind, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"at": now, "items": items}))
        tmp.replace(path)
    except OSError:
        pass


def search_repos(
    query: str,
    sort: str = "downloads",
    limit: int = 20,
    token: str | bool | None = None,
    endpoint: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
    clock: Callable[[], float] = time.time,
) -> list[RepoHit]:
    """Repos tagged gguf whose id matches ``query``, most downloaded (or liked, or
    recently updated) first. Raises HubUnreachable or DownloadError in words."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    endpoint = hub_endpoint(endpoint)
    key = json.dumps([endpoint, query, sort, limit])
    now = clock()
    cached = _cached("search", key, now)
    if cached is not None:
        return [RepoHit(**item) for item in cached]

    from huggingface_hub.hf_api import ModelInfo
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    httpx2 = httpx_api()
    params = {"search": query, "filter": "gguf", "sort": SORTS[sort], "direction": "-1", "limit": str(limit)}
    try:
        response = get_session().get(f"{endpoint}/api/models", params=params, headers=build_hf_headers(token=token),
                                     timeout=hub_timeout(connect_timeout, read_timeout))
        hf_raise_for_status(response)
        items = response.json()
        if not isinstance(items, list):
            raise DownloadError(f"The hub at {endpoint} answered the search with something other than a list")
        hits = []
        for item in items[:limit]:
            info = ModelInfo(**dict(item, siblings=item.get("siblings")))
            updated = info.last_modified or info.created_at
            hits.append(RepoHit(info.id, int(info.downloads or 0), int(info.likes or 0),
                                updated.date().isoformat() if updated else "", bool(info.gated)))
    except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol) as exc:
        raise HubUnreachable(endpoint, str(exc)) from exc
    except DownloadError:
        raise
    except Exception as exc:
        known = _hub_error(exc, endpoint, query, "", "main")
        if known is not None:
            raise known from exc
        if isinstance(exc, httpx2.TimeoutException):
            raise DownloadError(f"The hub at {endpoint} stopped answering the search") from exc
        raise DownloadError(f"The hub at {endpoint} could not search for {query!r}: {exc}") from exc
    _store("search", key, [asdict(hit) for hit in hits], now)
    return hits


def repo_files(
    repo_id: str,
    token: str | bool | None = None,
    endpoint: str | None = None,
    clock: Callable[[], float] = time.time,
    **timeouts: float,
) -> list[HubGGUF]:
    """The model files of a repo, smallest first, split models as one entry.
    Raises RepoUnavailable, HubUnreachable or DownloadError."""
    endpoint = hub_endpoint(endpoint)
    key = json.dumps([endpoint, repo_id])
    now = clock()
    cached = _cached("files", key, now)
    if cached is not None:
        return [HubGGUF(**item) for item in cached]
    files = repo_gguf_files(repo_id, token=token, endpoint=endpoint, **timeouts)
    models = group_splits(repo_id, [(f.path, f.size) for f in files])
    _store("files", key, [asdict(model) for model in models], now)
    return models


def group_splits(repo_id: str, files: list[tuple[str, int]]) -> list[HubGGUF]:
    """Shards of one split model become one entry (named by its first shard);
    projector files (``mmproj``) are not models on their own and are left out."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for path, size in files:
        name = path.rsplit("/", 1)[-1]
        if name.lower().startswith("mmproj"):
            continue
        match = SPLIT_NAME.match(path)
        groups.setdefault(match["stem"] if match else path, []).append((path, size))
    models = []
    for shards in groups.values():
        shards.sort()
        models.append(HubGGUF(repo_id, shards[0][0], sum(size for _, size in shards), len(shards)))
    return sorted(models, key=lambda model: (model.size, model.path))


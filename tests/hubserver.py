"""A small Hugging Face hub on 127.0.0.1 for tests, with faults on demand.

It speaks the part of the hub protocol that the real ``huggingface_hub``
client uses to find and fetch a file:

- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: ``X-Repo-Commit``, ``ETag``,
  and for LFS files a 302 to a second server on another port (the "CDN")
  carrying ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size``, as the hub does;
- ``GET /blobs/{sha256}`` on the CDN, with ``Range`` answered by 206 + ``Content-Range``;
- ``GET /api/models?search=&filter=&sort=&direction=&limit=`` (repo search);
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``;
- ``GET /api/models/{repo}/tree/{rev}`` and ``POST /api/models/{repo}/paths-info/{rev}``;
- 404s with ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).

Faults (``HubServer.fault``) act on the transfer of a file's bytes: drop the
connection after N bytes, stall, answer 5xx, advertise a wrong size or hash,
or flip a byte. Every request is logged with its ``Range`` and bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 256 * 1024


@dataclass
class HubFile:
    path: str
    source: bytes | Path
    lfs: bool = True
    size: int = 0
    sha256: str = ""
    git_oid: str = ""

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        if isinstance(self.source, bytes):
            digest.update(self.source)
            self.size = len(self.source)
        else:
            self.size = self.source.stat().st_size
            self.sha256 = self.sha256 or _sha256_of(self.source)
        self.sha256 = self.sha256 or digest.hexdigest()
        self.git_oid = hashlib.sha1(f"{self.path}:{self.sha256}".encode()).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` up to and excluding ``end``."""
        if isinstance(self.source, bytes):
            return self.source[start:end]
        with self.source.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def _sha256_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


@dataclass
class Fault:
    """One misbehaviour, applied to the next ``times`` transfers of a file (None: all)."""

    drop_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # stop sending after this many body bytes ...
    stall_seconds: float = 0.0  # ... for this long (then carry on)
    status: int | None = None  # answer this status instead of the bytes
    on_head: bool = False  # apply ``status`` to the metadata HEAD too
    wrong_size: int = 0  # advertise size + this
    wrong_hash: bool = False  # advertise a SHA-256 that is not the file's
    flip_byte_at: int | None = None  # serve the file with this byte altered
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    chunk_delay: float = 0.0  # wait this long after each 256 KiB: a slow line
    times: int | None = 1


@dataclass
class LoggedRequest:
    role: str  # "hub" or "cdn"
    method: str
    path: str
    range: str | None
    status: int = 0
    bytes_sent: int = 0
    authorization: bool = False


@dataclass
class _Repo:
    repo_id: str
    commit: str
    files: dict[str, HubFile] = field(default_factory=dict)
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2026-01-01T00:00:00.000Z"
    tags: list[str] = field(default_factory=lambda: ["gguf"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hub: "HubServer", role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub
        self.role = role


class HubServer:
    """Start with ``with HubServer() as hub:``; ``hub.url`` is the endpoint."""

    def __init__(self, cdn: bool = True) -> None:
        self._repos: dict[str, _Repo] = {}
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        self._lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self.stopping = threading.Event()
        self.stalled = threading.Event()
        self._hub = _Server(self, "hub")
        self._cdn = _Server(self, "cdn") if cdn else None
        self._threads: list[threading.Thread] = []

    # --- setup -----------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        server = self._cdn or self._hub
        return f"http://127.0.0.1:{server.server_address[1]}"

    def add_file(
        self, repo_id: str, path: str, source: bytes | Path, lfs: bool = True, listed_size: int | None = None
    ) -> HubFile:
        """``listed_size``: the size listings advertise (a big model known only by its listing)."""
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                commit = hashlib.sha1(repo_id.encode()).hexdigest()
                repo = self._repos[repo_id] = _Repo(repo_id, commit)
            hub_file = HubFile(path, source, lfs=lfs)
            if listed_size is not None:
                hub_file.size = listed_size
            repo.files[path] = hub_file
            return hub_file

    def describe_repo(self, repo_id: str, **fields: object) -> None:
        """Set a repo's downloads, likes, last_modified or tags (for search results)."""
        with self._lock:
            repo = self._repos[repo_id]
            for key, value in fields.items():
                setattr(repo, key, value)

    def commit_of(self, repo_id: str) -> str:
        return self._repos[repo_id].commit

    def fault(self, repo_id: str, path: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault((repo_id, path), []).append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def transfers(self, path_part: str = "") -> list[LoggedRequest]:
        """The GETs that carried a file's bytes (on the CDN, or direct)."""
        with self._lock:
            return [
                r for r in self.log
                if r.method == "GET" and r.status in (200, 206)
                and ("/blobs/" in r.path or "/resolve/" in r.path) and path_part in r.path
            ]

    # --- lifecycle -------------------------------------------------------
    def start(self) -> "HubServer":
        for server in filter(None, (self._hub, self._cdn)):
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True, name=f"hub-{server.role}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for server in filter(None, (self._hub, self._cdn)):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler -------------------------------------------
    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _take_fault(self, repo_id: str, path: str, consume: bool) -> Fault | None:
        with self._lock:
            faults = self._faults.get((repo_id, path), [])
            if not faults:
                return None
            fault = faults[0]
            if consume and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    faults.pop(0)
            return fault

    def _find(self, repo_id: str) -> _Repo | None:
        return self._repos.get(repo_id)

    def _find_blob(self, sha256: str) -> tuple[_Repo, HubFile] | None:
        for repo in self._repos.values():
            for hub_file in repo.files.values():
                if hub_file.sha256 == sha256:
                    return repo, hub_file
        return None


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+|[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_API = re.compile(
    r"^/api/models/(?P<repo>[^/]+/[^/]+|[^/]+?)"
    r"(?:/(?P<kind>revision|tree|paths-info)/(?P<rev>[^/]+)(?:/(?P<sub>.*))?)?$"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    # --- plumbing --------------------------------------------------------
    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def _entry(self) -> LoggedRequest:
        entry = LoggedRequest(
            role=self.server.role,
            method=self.command,
            path=self.path,
            range=self.headers.get("Range"),
            authorization="authorization" in {k.lower() for k in self.headers.keys()},
        )
        self.hub._record(entry)
        return entry

    def _send(self, entry: LoggedRequest, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        entry.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
            entry.bytes_sent = len(body)

    def _error(self, entry: LoggedRequest, status: int, code: str | None, message: str) -> None:
        headers = {"Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._send(entry, status, headers, json.dumps({"error": message}).encode())

    def _json(self, entry: LoggedRequest, data: object) -> None:
        self._send(entry, 200, {"Content-Type": "application/json"}, json.dumps(data).encode())

    def _repo_or_404(self, entry: LoggedRequest, repo_id: str, rev: str | None) -> _Repo | None:
        repo = self.hub._find(repo_id)
        if repo is None:
            self._error(entry, 404, "RepoNotFound", "Repository not found")
            return None
        if rev is not None and unquote(rev) not in ("main", repo.commit):
            self._error(entry, 404, "RevisionNotFound", f"Invalid rev id: {unquote(rev)}")
            return None
        return repo

    # --- verbs -----------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        entry = self._entry()
        path = urlsplit(self.path).path
        try:
            if self.server.role == "cdn" or path.startswith("/blobs/"):
                if path.startswith("/blobs/"):
                    return self._blob(entry, path.removeprefix("/blobs/"))
                return self._error(entry, 404, None, "Not found")
            if match := _RESOLVE.match(path):
                return self._resolve(entry, match["repo"], match["rev"], unquote(match["file"]))
            if path == "/api/models":
                return self._search(entry)
            if match := _API.match(path):
                return self._api(entry, match["repo"], match["kind"], match["rev"], match["sub"])
            self._error(entry, 404, None, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- /{repo}/resolve/{rev}/{file} -----------------------------------
    def _file_headers(self, repo: _Repo, hub_file: HubFile, fault: Fault | None) -> dict[str, str]:
        size = hub_file.size + (fault.wrong_size if fault else 0)
        sha = hub_file.sha256
        if fault and fault.wrong_hash:
            sha = hashlib.sha256(sha.encode()).hexdigest()
        return {"X-Repo-Commit": repo.commit, "sha": sha, "size": str(size)}

    def _resolve(self, entry: LoggedRequest, repo_id: str, rev: str, filename: str) -> None:
        repo = self._repo_or_404(entry, repo_id, rev)
        if repo is None:
            return
        hub_file = repo.files.get(filename)
        if hub_file is None:
            return self._error(entry, 404, "EntryNotFound", f"{filename} does not exist on {rev}")
        fault = self.hub._take_fault(repo_id, filename, consume=False)
        if fault and fault.status and fault.on_head and self.command == "HEAD":
            self.hub._take_fault(repo_id, filename, consume=True)
            return self._error(entry, fault.status, None, "Injected failure")
        info = self._file_headers(repo, hub_file, fault)
        if hub_file.lfs and self.hub._cdn is not None:
            headers = {
                "X-Repo-Commit": info["X-Repo-Commit"],
                "X-Linked-Etag": f'"{info["sha"]}"',
                "X-Linked-Size": info["size"],
                "ETag": f'"{hub_file.git_oid}"',
                "Location": f"{self.hub.cdn_url}/blobs/{hub_file.sha256}?name={Path(filename).name}",
            }
            return self._send(entry, 302, headers)
        self._content(entry, repo, hub_file, info)

    def _blob(self, entry: LoggedRequest, sha256: str) -> None:
        found = self.hub._find_blob(sha256)
        if found is None:
            return self._error(entry, 404, None, "No such blob")
        repo, hub_file = found
        fault = self.hub._take_fault(repo.repo_id, hub_file.path, consume=False)
        self._content(entry, repo, hub_file, self._file_headers(repo, hub_file, fault))

    def _content(self, entry: LoggedRequest, repo: _Repo, hub_file: HubFile, info: dict[str, str]) -> None:
        etag = hub_file.sha256 if hub_file.lfs else hub_file.git_oid
        if self.server.role == "hub" and hub_file.lfs:
            etag = info["sha"]
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if self.command == "HEAD":
            entry.status = 200
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", info["size"])
            self.end_headers()
            return
        fault = self.hub._take_fault(repo.repo_id, hub_file.path, consume=True)
        if fault and fault.status:
            return self._error(entry, fault.status, None, "Injected failure")
        start, end = 0, hub_file.size
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not (fault and fault.ignore_range):
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if not match or int(match[1]) >= hub_file.size:
                headers["Content-Range"] = f"bytes */{hub_file.size}"
                return self._send(entry, 416, headers)
            start = int(match[1])
            end = min(int(match[2]) + 1, hub_file.size) if match[2] else hub_file.size
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{hub_file.size}"
        entry.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        self._stream(entry, hub_file, start, end, fault)

    def _stream(self, entry: LoggedRequest, hub_file: HubFile, start: int, end: int, fault: Fault | None) -> None:
        sent = 0
        position = start
        while position < end:
            limit = end
            for point in (fault and fault.drop_after, fault and fault.stall_after):
                if point is not None and sent < point:
                    limit = min(limit, position + (point - sent))
            chunk = hub_file.read(position, min(limit, position + CHUNK))
            if fault and fault.flip_byte_at is not None and position <= fault.flip_byte_at < position + len(chunk):
                index = fault.flip_byte_at - position
                chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1:]
            self.wfile.write(chunk)
            sent += len(chunk)
            position += len(chunk)
            entry.bytes_sent = sent
            if fault and fault.drop_after is not None and sent >= fault.drop_after:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees a cut mid-body
                return
            if fault and fault.chunk_delay and self.hub.stopping.wait(fault.chunk_delay):
                self.close_connection = True
                return
            if fault and fault.stall_after is not None and sent == fault.stall_after:
                self.wfile.flush()
                self.hub.stalled.set()
                if self.hub.stopping.wait(fault.stall_seconds):
                    self.close_connection = True
                    return

    # --- /api/models?search=...&filter=...&sort=...&direction=-1&limit=N ------
    def _search(self, entry: LoggedRequest) -> None:
        query = parse_qs(urlsplit(self.path).query)
        words = query.get("search", [""])[0].lower()
        tags = query.get("filter", [])
        sort = query.get("sort", ["downloads"])[0]
        limit = int(query.get("limit", ["1000"])[0])
        key = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
               "lastModified": lambda r: r.last_modified}.get(sort)
        if key is None:
            return self._error(entry, 400, None, f"Invalid sort {sort}")
        found = [r for r in list(self.hub._repos.values())
                 if words in r.repo_id.lower() and all(t in r.tags for t in tags)]
        found.sort(key=key, reverse=query.get("direction", ["1"])[0] == "-1")
        self._json(entry, [{
            "_id": r.commit[:24], "id": r.repo_id, "modelId": r.repo_id, "downloads": r.downloads,
            "likes": r.likes, "lastModified": r.last_modified, "private": False, "gated": False,
            "library_name": "gguf", "tags": r.tags, "createdAt": "2025-01-01T00:00:00.000Z",
        } for r in found[:limit]])

    # --- /api/models/... ----------------------------------------------
    def _entry_json(self, hub_file: HubFile) -> dict[str, object]:
        data: dict[str, object] = {"type": "file", "oid": hub_file.git_oid, "size": hub_file.size, "path": hub_file.path}
        if hub_file.lfs:
            data["lfs"] = {"oid": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
        return data

    def _api(self, entry: LoggedRequest, repo_id: str, kind: str | None, rev: str | None, sub: str | None) -> None:
        repo = self._repo_or_404(entry, repo_id, rev)
        if repo is None:
            return
        if kind in (None, "revision"):
            if self.command != "GET":
                return self._error(entry, 405, None, "Method not allowed")
            blobs = "blobs" in parse_qs(urlsplit(self.path).query)
            siblings = []
            for hub_file in repo.files.values():
                sibling: dict[str, object] = {"rfilename": hub_file.path}
                if blobs:
                    sibling.update(size=hub_file.size, blobId=hub_file.git_oid)
                    if hub_file.lfs:
                        sibling["lfs"] = {"sha256": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
                siblings.append(sibling)
            return self._json(entry, {
                "_id": repo.commit[:24], "id": repo.repo_id, "modelId": repo.repo_id,
                "sha": repo.commit, "private": False, "disabled": False, "gated": False,
                "downloads": 0, "likes": 0, "library_name": "gguf", "tags": ["gguf"],
                "siblings": siblings,
            })
        if kind == "tree":
            prefix = unquote(sub or "").strip("/")
            recursive = parse_qs(urlsplit(self.path).query).get("recursive", ["False"])[0].lower() == "true"
            return self._json(entry, _tree(repo, prefix, recursive, self._entry_json))
        # paths-info
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        wanted = form.get("paths", [])
        found = [self._entry_json(repo.files[p]) for p in wanted if p in repo.files]
        self._json(entry, found)


def _tree(repo: _Repo, prefix: str, recursive: bool, describe) -> list[dict[str, object]]:
    listing: list[dict[str, object]] = []
    folders: set[str] = set()
    base = f"{prefix}/" if prefix else ""
    for path, hub_file in sorted(repo.files.items()):
        if not path.startswith(base):
            continue
        rest = path[len(base):]
        if "/" in rest and not recursive:
            folder = base + rest.split("/", 1)[0]
            if folder not in folders:
                folders.add(folder)
                listing.append({"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0, "path": folder})
            continue
        listing.append(describe(hub_file))
    return listing


def small_gguf(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that start like a GGUF file (magic + version 3), then noise."""
    import random

    header = b"GGUF" + (3).to_bytes(4, "little") + bytes(16)
    rng = random.Random(seed)
    return header + rng.randbytes(max(0, size - len(header)))

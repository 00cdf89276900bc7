"""Remote endpoints: OpenAI-compatible servers the app can chat through.

An endpoint is a name, a base URL and, optionally, the name of an environment
variable that holds its API key. The key itself is read from the environment
when a request is made and is never stored by the app, in memory or on disk.

In config.toml::

    [endpoints.gpu-box]
    url = "http://192.168.1.20:8080"
    api_key_env = "GPU_BOX_KEY"     # optional
    model = "qwen2.5-7b-instruct"   # optional: which of the server's models
    kind = "llama.cpp"              # optional: auto, llama.cpp, koboldcpp, ollama, vllm, openai
    timeout = 120                   # optional: seconds to wait for the server
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

SERVER_KINDS = ("auto", "llama.cpp", "koboldcpp", "ollama", "vllm", "openai")
DEFAULT_TIMEOUT = 120.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = {"url", "api_key_env", "model", "kind", "timeout", "n_ctx"}


class EndpointError(ValueError):
    """An endpoint setting that cannot work, worded for the user."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Endpoint:
    name: str
    base_url: str
    api_key_env: str = ""
    model: str = ""
    kind: str = "auto"
    timeout: float = DEFAULT_TIMEOUT
    n_ctx: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if not self.name.strip():
            raise EndpointError("an endpoint needs a name")
        if self.api_key_env and not _ENV_NAME.match(self.api_key_env):
            raise EndpointError(
                f"api_key_env must name an environment variable (like GPU_BOX_KEY), "
                f"got {self.api_key_env!r}"
            )
        if self.kind not in SERVER_KINDS:
            raise EndpointError(f"kind must be one of {', '.join(SERVER_KINDS)}, got {self.kind!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise EndpointError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if isinstance(self.n_ctx, bool) or not isinstance(self.n_ctx, int) or self.n_ctx < 0:
            raise EndpointError(f"n_ctx must be a whole number >= 0, got {self.n_ctx!r}")

    def api_key(self) -> str | None:
        """The key from the environment, or None when none is configured or set."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def shown_url(self) -> str:
        """The base URL to show or store: any user name and password replaced by ``***``."""
        return redact_url(self.base_url)

    def redact(self, text: str) -> str:
        """``text`` with this endpoint's URL password and API key replaced by ``***``."""
        text = text.replace(self.base_url, self.shown_url)
        password = urlsplit(self.base_url).password
        for secret in (password, unquote(password or ""), self.api_key()):
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def with_model(self, model: str) -> "Endpoint":
        return Endpoint(
            self.name, self.base_url, self.api_key_env, model, self.kind, self.timeout, self.n_ctx
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"url": self.base_url}
        if self.api_key_env:
            data["api_key_env"] = self.api_key_env
        if self.model:
            data["model"] = self.model
        if self.kind != "auto":
            data["kind"] = self.kind
        if self.timeout != DEFAULT_TIMEOUT:
            data["timeout"] = self.timeout
        if self.n_ctx:
            data["n_ctx"] = self.n_ctx
        return data


def normalize_base_url(url: str) -> str:
    """``http://host:port`` with no trailing slash and no ``/v1`` (the runner adds it)."""
    text = (url or "").strip()
    if not text:
        raise EndpointError("the endpoint URL is empty")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"}:
        raise EndpointError(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise EndpointError(f"{url!r} has no host name")
    try:
        parts.port
    except ValueError as exc:
        raise EndpointError(f"{url!r} has a bad port: {exc}") from exc
    if parts.query or parts.fragment:
        raise EndpointError(f"{url!r}: leave out '?' and '#' parts; give the server's base URL")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    return f"{scheme}{sep}***@{netloc.rpartition('@')[2]}{slash}{path}"


def host_of(url: str) -> str:
    """``host:port`` of a URL, without any user name or password."""
    return urlsplit(url).netloc.rpartition("@")[2]


def endpoint_from_url(url: str, model: str = "") -> Endpoint:
    base = normalize_base_url(url)
    return Endpoint(name=host_of(base), base_url=base, model=model)


def parse_endpoint(name: str, table: Any) -> Endpoint:
    """One ``[endpoints.NAME]`` table. Errors carry the offending ``key`` where there is one."""
    if not isinstance(table, dict):
        raise EndpointError("must be a table with at least url = \"http://host:port\"")
    if "api_key" in table:
        raise EndpointError(
            "do not put an API key in the config file; set it in an environment variable "
            "and name that variable with api_key_env",
            key="api_key",
        )
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise EndpointError(f"unknown setting(s): {', '.join(unknown)}", key=unknown[0])
    if not isinstance(table.get("url"), str):
        raise EndpointError("needs url = \"http://host:port\"", key="url" if "url" in table else None)
    for key in ("api_key_env", "model", "kind"):
        if key in table and not isinstance(table[key], str):
            raise EndpointError(f"{key} must be text in quotes", key=key)
    try:
        normalize_base_url(table["url"])
    except EndpointError as exc:
        exc.key = "url"
        raise
    try:
        return Endpoint(
            name=str(name),
            base_url=table["url"],
            api_key_env=table.get("api_key_env", ""),
            model=table.get("model", ""),
            kind=table.get("kind", "auto"),
            timeout=table.get("timeout", DEFAULT_TIMEOUT),
            n_ctx=table.get("n_ctx", 0),
        )
    except EndpointError as exc:
        exc.key = exc.key or _key_named_in(str(exc))
        raise


def _key_named_in(message: str) -> str | None:
    return next((key for key in sorted(_FIELDS) if message.startswith(key)), None)


def parse_endpoints(data: Any) -> list[Endpoint]:
    """The ``[endpoints]`` table of config.toml: one sub-table per endpoint."""
    if not isinstance(data, dict):
        raise EndpointError("[endpoints] must be a table of [endpoints.NAME] tables")
    found = []
    for name, table in data.items():
        try:
            found.append(parse_endpoint(name, table))
        except EndpointError as exc:
            raise EndpointError(f"[endpoints.{name}]: {exc}", key=exc.key) from exc
    return found


def endpoints_to_dict(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    return {endpoint.name: endpoint.to_dict() for endpoint in endpoints}


def resolve_endpoint(value: str, configured: Iterable[Endpoint], model: str = "") -> Endpoint:
    """``--endpoint`` takes the name of a configured endpoint or a URL.

    A URL that matches a configured endpoint gets that endpoint's settings
    (its API key variable, kind and timeout).
    """
    configured = list(configured)
    chosen = next((e for e in configured if e.name == value), None)
    if chosen is None:
        base = normalize_base_url(value)
        chosen = next((e for e in configured if e.base_url == base), None)
    if chosen is None:
        return endpoint_from_url(value, model=model)
    return chosen.with_model(model) if model else chosen


def rename_endpoint(endpoints: Iterable[Endpoint], old: str, new: str) -> list[Endpoint]:
    """The endpoints with the one called ``old`` called ``new``: refused if empty, unprintable or taken."""
    new = new.strip()
    if not new:
        raise EndpointError("an endpoint needs a name")
    if not new.isprintable():
        raise EndpointError("an endpoint's name must be plain text (no control characters)")
    endpoints = list(endpoints)
    if new != old and any(endpoint.name == new for endpoint in endpoints):
        raise EndpointError(f"there is already an endpoint called {new}")
    return [replace(endpoint, name=new) if endpoint.name == old else endpoint for endpoint in endpoints]

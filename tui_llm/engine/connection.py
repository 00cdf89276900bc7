"""The HTTP connection to one OpenAI-compatible server.

httpx2 is the HTTP client huggingface_hub already depends on (the maintained
successor of httpx, same API). A client belongs to the event loop that made
it, so a caller on another loop gets a client of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2 as httpx

from tui_llm.engine.endpoints import Endpoint
from tui_llm.engine.wire import read_bounded
from tui_llm.engine.remote_errors import (
    ConnectionLostError,
    RemoteError,
    ServerTimeoutError,
    ServerUnreachableError,
)


class ServerConnection:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request; a transport failure becomes a worded RemoteError, a status does not."""
        client = self._http()
        request = client.build_request(
            method, self.endpoint.url(path), json=body, headers=self._headers()
        )
        try:
            try:
                response = await client.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # A kept-alive connection the server had just closed: once more, on a fresh one.
                response = await client.send(request, stream=True)
            return response if stream else await _read_whole(response, self.endpoint.shown_url)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise ConnectionLostError(
                f"{self.endpoint.shown_url} closed the connection without answering ({exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from exc

    async def optional_json(self, method: str, path: str) -> Any:
        """The JSON answer, or None when the server has no such route or says anything else."""
        try:
            response = await self.request(method, path)
        except RemoteError:
            return None
        if response.status_code >= 400:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def close(self) -> None:
        """Drop the client; its connections may be half-closed, so none is reused."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is _running_loop():
            await client.aclose()

    def transport_error(self, exc: Exception) -> RemoteError:
        where = self.endpoint.shown_url
        timeout = self.endpoint.timeout
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerTimeoutError(
                f"{where} did not accept a connection within {min(timeout, 10.0):g} s: "
                "is the host up and the address right?"
            )
        if isinstance(exc, httpx.TimeoutException):
            return ServerTimeoutError(
                f"{where} stopped answering (nothing for {timeout:g} s). If the server is just "
                "slow, raise this endpoint's timeout in config.toml."
            )
        if isinstance(exc, httpx.ConnectError):
            reason = "connection refused" if _refused(exc) else str(exc)
            return ServerUnreachableError(
                f"Cannot connect to {where} ({reason}): is the server running, and is the address right?"
            )
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return ConnectionLostError(
                f"The connection to {where} was lost mid-reply ({exc}): the server stopped or crashed."
            )
        return RemoteError(f"Talking to {where} failed: {exc}")

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            timeout = self.endpoint.timeout
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                headers={"Accept": "application/json, text/event-stream"},
            )
            self._client_loop = loop
        return self._client

    def _headers(self) -> dict[str, str]:
        key = self.endpoint.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}


async def _read_whole(response: httpx.Response, where: str) -> httpx.Response:
    """A streamed response read into memory, refused past the reply size limit."""
    try:
        body = await read_bounded(response, where)
    finally:
        await response.aclose()
    kept = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS}
    return httpx.Response(response.status_code, headers=kept, content=body, request=response.request)


# aiter_bytes has already decoded the body these headers describe.
_BODY_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

"""RemoteRunner: the Runner protocol over an OpenAI-compatible HTTP server.

Chat requests (a list of role messages) go to ``/v1/chat/completions`` and the
server applies the model's chat template. Raw prompts (a ``str``, rendered
locally for story and adventure modes) go to ``/v1/completions``. Both stream
as server-sent events. ``cancel()`` closes the HTTP stream, which llama.cpp's
servers take as the signal to stop generating.

Token counts come from the server's tokenizer when it offers one (llama.cpp's
``/tokenize``, llama-cpp-python's ``/extras/tokenize/count``, KoboldCpp's
``/api/extra/tokencount``); otherwise they are estimated, and
``token_count_source`` says which.

httpx2 is the HTTP client huggingface_hub already depends on (the maintained
successor of httpx, same API).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import httpx2 as httpx

from tui_llm.engine.endpoints import Endpoint
from tui_llm.engine.contract import (
    Capabilities,
    GenerationError,
    GenerationStats,
    ProgressCallback,
    Request,
    RunnerError,
)
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.prompts.sandbox import TemplateRenderError
from tui_llm.prompts.templates import CHATML, PromptTemplate, get_template

GUESSED_TEMPLATE = "assumed: ChatML (the server did not say)"
APPROXIMATE_TOKENS = "estimate (about 4 characters a token): the server offers no tokenizer"
_STANDARD_FIELDS = {
    "model", "messages", "prompt", "stream", "temperature", "top_p", "max_tokens",
    "presence_penalty", "frequency_penalty", "seed", "stop",
}
_UNSUPPORTED = {404, 405, 501}
TOKEN_CACHE_SIZE = 1024


class RemoteError(RunnerError):
    """A problem talking to a remote server, worded for the user."""


class ServerUnreachableError(RemoteError):
    pass


class ServerTimeoutError(RemoteError):
    pass


class AuthenticationError(RemoteError):
    pass


class ModelNotFoundError(RemoteError):
    pass


class EndpointNotFoundError(RemoteError):
    pass


class RequestRejectedError(RemoteError):
    pass


class ServerError(RemoteError):
    pass


class MalformedResponseError(RemoteError):
    pass


class ConnectionLostError(RemoteError):
    pass


@dataclass(frozen=True)
class RemoteModel:
    id: str
    owned_by: str = ""
    n_ctx: int = 0


def detect_kind(models: list[RemoteModel], base_url: str) -> str:
    """Guess the server software from what ``/v1/models`` says about its models."""
    owners = {m.owned_by.lower() for m in models}
    if owners & {"llamacpp", "me"}:  # llama.cpp's server; llama-cpp-python's server
        return "llama.cpp"
    if "koboldcpp" in owners:
        return "koboldcpp"
    if "vllm" in owners:
        return "vllm"
    if "library" in owners or "ollama" in owners or urlsplit(base_url).port == 11434:
        return "ollama"
    if owners & {"openai", "system", "openai-internal"}:
        return "openai"
    return "generic"


def sampler_fields(sampler: SamplerSettings, kind: str, stop: list[str]) -> dict[str, Any]:
    """The request-body sampler settings for this kind of server.

    Every OpenAI-compatible server takes the standard ones. llama.cpp-based
    servers, KoboldCpp, Ollama and vLLM also read min_p and top_k (each under
    its own names for the rest); OpenAI itself rejects unknown fields, so it
    gets none. A ``generic`` server gets the llama.cpp set, and the runner
    drops them if the server refuses the request.
    """
    body: dict[str, Any] = {
        "temperature": sampler.temperature,
        "top_p": sampler.top_p,
        "max_tokens": sampler.max_tokens,
        "presence_penalty": sampler.presence_penalty,
        "frequency_penalty": sampler.frequency_penalty,
    }
    if sampler.seed >= 0:
        body["seed"] = sampler.seed
    if stop:
        body["stop"] = stop[:4] if kind == "openai" else stop
    if kind in {"llama.cpp", "generic"}:
        body.update(
            min_p=sampler.min_p,
            top_k=sampler.top_k,
            typical_p=sampler.typical_p,
            repeat_penalty=sampler.repeat_penalty,
            repeat_last_n=sampler.repeat_last_n,
        )
        if sampler.mirostat_mode:
            # llama.cpp's server reads "mirostat", llama-cpp-python's "mirostat_mode".
            body.update(
                mirostat=sampler.mirostat_mode,
                mirostat_mode=sampler.mirostat_mode,
                mirostat_tau=sampler.mirostat_tau,
                mirostat_eta=sampler.mirostat_eta,
            )
    elif kind == "koboldcpp":
        body.update(
            min_p=sampler.min_p,
            top_k=sampler.top_k,
            typical=sampler.typical_p,
            rep_pen=sampler.repeat_penalty,
            rep_pen_range=max(sampler.repeat_last_n, 0),
        )
    elif kind == "ollama":
        body.update(min_p=sampler.min_p, top_k=sampler.top_k, repeat_penalty=sampler.repeat_penalty)
    elif kind == "vllm":
        body.update(
            min_p=sampler.min_p,
            top_k=sampler.top_k or -1,  # vLLM turns top-k off with -1, not 0
            repetition_penalty=sampler.repeat_penalty,
        )
    return body


def approximate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class RemoteRunner:
    """One model on one OpenAI-compatible server."""

    def __init__(
        self,
        endpoint: Endpoint,
        model: str | None = None,
        template: PromptTemplate | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model = model or endpoint.model
        self.kind = endpoint.kind if endpoint.kind != "auto" else ""
        self._template = template or CHATML
        self._template_reason = "chosen by the caller" if template else GUESSED_TEMPLATE
        self.models: list[RemoteModel] = []
        self.token_count_source = ""
        self.last_stats = GenerationStats()
        self._n_ctx = endpoint.n_ctx
        self._connected = False
        self._send_extras = True
        self._token_route: str | None = None
        self._token_counts: dict[str, int] = {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._producer: asyncio.Task[None] | None = None

    # -- the engine contract ---------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loads_files=False,
            can_offload=False,
            renders_locally=self.template_known,
            exact_token_counts=bool(self._token_route),
            can_save_state=False,
            can_shift_context=False,
        )

    @property
    def loaded(self) -> bool:
        return self._connected

    @property
    def info(self) -> None:
        return None

    @property
    def settings(self) -> None:
        return None

    @property
    def model_name(self) -> str:
        return self.model or urlsplit(self.endpoint.base_url).netloc

    @property
    def model_path(self) -> None:
        return None

    @property
    def location(self) -> str:
        return f"{self.endpoint.base_url} ({self.model_name})"

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def template(self) -> PromptTemplate:
        return self._template

    @property
    def template_reason(self) -> str:
        return self._template_reason

    def set_template(self, template: PromptTemplate, reason: str) -> None:
        self._template, self._template_reason = template, reason

    @property
    def template_known(self) -> bool:
        """With a guessed template a locally rendered prompt would be wrong for most models."""
        return self._template_reason != GUESSED_TEMPLATE

    async def load(
        self,
        source: Path | str | None,
        settings: LoadSettings | None = None,
        template: PromptTemplate | str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Connect and pick the server's model ``source`` (None: the configured or first one)."""
        if isinstance(template, str):
            template = await asyncio.to_thread(get_template, template)
        report = on_progress or (lambda stage, fraction: None)
        if source:
            self.model = str(source)
        if template is not None:
            self.set_template(template, "chosen by the caller")
        report("asking the server", 0.0)
        await self.connect()
        report("ready", 1.0)

    async def unload(self) -> None:
        self.cancel()
        self._connected = False

    async def render(self, request: Request) -> str | None:
        """The prompt as this side renders it; None when the server must render role messages."""
        if isinstance(request, str):
            return request
        if not self.template_known:
            return None
        # A server-reported template is untrusted: its sandboxed render may take its time limit.
        return await asyncio.to_thread(self._render_sync, request)

    def _render_sync(self, request: Request) -> str:
        if isinstance(request, str):
            return request
        try:
            return self._template.render(request, add_generation_prompt=True)
        except TemplateRenderError as exc:
            raise GenerationError(
                f"The prompt template ({self._template.name}) could not be used: {exc}"
            ) from exc

    async def stream(
        self,
        request: Request,
        sampler: SamplerSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[str]:
        """Yield text pieces as the server sends them; raise RemoteError subclasses on faults."""
        sampler = sampler or SamplerSettings()
        stats = GenerationStats()
        self.last_stats = stats
        if not self._connected:
            await self.connect()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        producer = asyncio.get_running_loop().create_task(
            self._produce(request, sampler, stats, queue)
        )
        self._producer = producer
        finished = False
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                    if cancel is not None and cancel.is_set():
                        self.cancel()
                elif kind == "done":
                    finished = True
                    return
                else:
                    finished = True
                    raise value
        finally:
            if not finished:
                producer.cancel()
            if self._producer is producer:
                self._producer = None

    def cancel(self) -> None:
        task = self._producer
        if task is None or task.done():
            return
        loop = task.get_loop()
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            task.cancel()
        else:
            loop.call_soon_threadsafe(task.cancel)

    async def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        if text in self._token_counts:
            return self._token_counts[text]
        for route in self._token_routes():
            count = await self._count_with(route, text)
            if count is not None:
                self._token_route = route
                self.token_count_source = f"server tokenizer ({route})"
                # Context assembly counts the same turns every reply: ask the server once.
                if len(self._token_counts) >= TOKEN_CACHE_SIZE:
                    self._token_counts.pop(next(iter(self._token_counts)))
                self._token_counts[text] = count
                return count
        self._token_route = ""
        self.token_count_source = APPROXIMATE_TOKENS
        return approximate_tokens(text)

    async def close(self) -> None:
        self.cancel()
        client, self._client = self._client, None
        if client is not None and self._client_loop is _running_loop():
            await client.aclose()

    # -- discovery --------------------------------------------------------
    async def list_models(self) -> list[RemoteModel]:
        """What ``/v1/models`` says the server has."""
        response = await self._request("GET", "/v1/models")
        payload = _json(response, self.endpoint.base_url)
        entries = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(entries, list):
            raise MalformedResponseError(
                f"{self.endpoint.base_url}/v1/models did not return a model list"
            )
        models = []
        for entry in entries:
            if isinstance(entry, dict) and entry.get("id"):
                models.append(
                    RemoteModel(
                        id=str(entry["id"]),
                        owned_by=str(entry.get("owned_by") or ""),
                        n_ctx=_int(entry.get("max_model_len") or entry.get("context_length")
                                   or entry.get("n_ctx")),
                    )
                )
        return models

    async def connect(self) -> list[RemoteModel]:
        """List the server's models, pick ours, and learn what the server tells about itself."""
        where = self.endpoint.base_url
        try:
            self.models = await self.list_models()
        except EndpointNotFoundError:
            if not self.model:
                raise EndpointNotFoundError(
                    f"{where} has no /v1/models: is it an OpenAI-compatible server, "
                    "and is the base URL right? (Name a model in the endpoint's config to skip this.)"
                ) from None
            self.models = []
        if self.models:
            ids = [m.id for m in self.models]
            if not self.model:
                self.model = ids[0]
            elif self.model not in ids:
                raise ModelNotFoundError(
                    f"{where} has no model {self.model!r}; it has: {', '.join(ids)}"
                )
        elif not self.model:
            raise ModelNotFoundError(f"{where} lists no models: load one on the server first")
        if not self.kind:
            self.kind = detect_kind(self.models, where)
        chosen = next((m for m in self.models if m.id == self.model), None)
        if not self._n_ctx and chosen is not None:
            self._n_ctx = chosen.n_ctx
        await self._read_server_facts()
        self._connected = True
        return self.models

    async def _read_server_facts(self) -> None:
        """Context size and chat template, where the server tells them; optional."""
        if self.kind in {"llama.cpp", "generic"}:
            props = await self._optional_json("GET", "/props")
            if isinstance(props, dict):
                settings = props.get("default_generation_settings") or {}
                if not self._n_ctx:
                    self._n_ctx = _int(settings.get("n_ctx") or props.get("n_ctx"))
                source = props.get("chat_template")
                if isinstance(source, str) and source.strip() and self._template is CHATML:
                    eos = str(props.get("eos_token") or "")
                    self._template = PromptTemplate(
                        name="server",
                        source=source,
                        stop=(eos,) if eos else (),
                        bos_token=str(props.get("bos_token") or ""),
                        eos_token=eos,
                    )
                    self._template_reason = "the chat template the server reported"
        elif self.kind == "koboldcpp" and not self._n_ctx:
            value = await self._optional_json("GET", "/api/extra/true_max_context_length")
            if isinstance(value, dict):
                self._n_ctx = _int(value.get("value"))

    # -- streaming --------------------------------------------------------
    def _body(self, request: Request, sampler: SamplerSettings) -> tuple[str, dict[str, Any]]:
        kind = self.kind if self._send_extras else "openai"
        if isinstance(request, str):
            stop = list(dict.fromkeys([*self._template.stop, *sampler.stop]))
            path, body = "/v1/completions", {"prompt": request}
        else:
            stop = list(sampler.stop)
            path = "/v1/chat/completions"
            body = {"messages": [{"role": m["role"], "content": m["content"]} for m in request]}
        body.update(model=self.model, stream=True, **sampler_fields(sampler, kind, stop))
        if kind != "openai" or self.kind == "openai":
            body["stream_options"] = {"include_usage": True}
        return path, body

    async def _produce(
        self,
        request: Request,
        sampler: SamplerSettings,
        stats: GenerationStats,
        queue: asyncio.Queue[tuple[str, Any]],
    ) -> None:
        started = time.perf_counter()
        streamed = False
        usage: dict[str, int] = {}
        try:
            response = await self._open_stream(request, sampler)
            try:
                async for text in self._read_stream(response, request, stats, usage):
                    if stats.completion_tokens == 0:
                        stats.time_to_first_token = time.perf_counter() - started
                    stats.completion_tokens += 1
                    queue.put_nowait(("text", text))
            finally:
                await response.aclose()
            streamed = True
            stats.elapsed = time.perf_counter() - started
            stats.completion_tokens = usage.get("completion_tokens") or stats.completion_tokens
            if not stats.prompt_tokens:
                await self._count_prompt(request, stats)
            queue.put_nowait(("done", None))
        except asyncio.CancelledError:
            if not streamed:
                stats.elapsed = time.perf_counter() - started
                stats.cancelled = True
                stats.finish_reason = "cancelled"
            queue.put_nowait(("done", None))
        except Exception as exc:  # handed to the consumer, worded
            stats.elapsed = time.perf_counter() - started
            queue.put_nowait(("error", self._stream_error(exc, stats.completion_tokens > 0)))
            # The connection that failed may be half-closed: never reuse it.
            await self._drop_connections()

    def _stream_error(self, exc: Exception, got_text: bool) -> RemoteError:
        if isinstance(exc, RemoteError):
            return exc
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return self._ended_early(got_text)
        if isinstance(exc, httpx.HTTPError):
            return self._transport_error(exc)
        return RemoteError(f"the reply from {self.endpoint.base_url} failed: {exc!r}")

    def _ended_early(self, got_text: bool) -> RemoteError:
        where = self.endpoint.base_url
        if not got_text:
            return ServerError(
                f"{where} ended the reply without sending anything: the server failed on this "
                "request (a prompt longer than its context does this) or stopped; its log says why."
            )
        return ConnectionLostError(
            f"The reply from {where} stopped before its end: the server stopped or the connection was lost."
        )

    async def _drop_connections(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._client_loop is _running_loop():
            await client.aclose()

    async def _open_stream(self, request: Request, sampler: SamplerSettings) -> httpx.Response:
        path, body = self._body(request, sampler)
        response = await self._request("POST", path, body, stream=True, check=False)
        if response.status_code in {400, 422} and self._send_extras and self.kind == "generic":
            # A strict server refused fields it does not know: retry once with the standard set.
            await response.aclose()
            self._send_extras = False
            path, body = self._body(request, sampler)
            response = await self._request("POST", path, body, stream=True, check=False)
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise self._status_error(response, path)
        return response

    async def _read_stream(
        self,
        response: httpx.Response,
        request: Request,
        stats: GenerationStats,
        usage: dict[str, int],
    ) -> AsyncIterator[str]:
        where = self.endpoint.base_url
        chat = not isinstance(request, str)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            # Some servers answer with one JSON reply even when asked to stream.
            await response.aread()
            text = _choice_text(_json(response, where), chat, stats, usage, where)
            if text:
                yield text
            return
        got_text = got_done = False
        async for data in _sse_data(response, where):
            if data.strip() == "[DONE]":
                got_done = True
                break
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise MalformedResponseError(
                    f"{where} sent a streamed line that is not JSON: {data[:80]!r}"
                ) from None
            text = _choice_text(chunk, chat, stats, usage, where)
            if text:
                got_text = True
                yield text
        if got_done or stats.finish_reason:
            return
        raise self._ended_early(got_text)

    async def _count_prompt(self, request: Request, stats: GenerationStats) -> None:
        """Prompt size when the server did not report it: exact for raw prompts, else close."""
        if isinstance(request, str) or self.template_known:
            text = await self.render(request)
        else:
            text = "\n".join(f"{m['role']}\n{m['content']}" for m in request)
        try:
            stats.prompt_tokens = await self.count_tokens(text)
        except (RunnerError, ValueError):
            pass

    # -- tokenizing -------------------------------------------------------
    def _token_routes(self) -> list[str]:
        if self._token_route is not None:
            return [self._token_route] if self._token_route else []
        if self.kind == "koboldcpp":
            return ["/api/extra/tokencount"]
        if self.kind in {"openai", "ollama", "vllm"}:
            return []
        return ["/tokenize", "/extras/tokenize/count"]

    async def _count_with(self, route: str, text: str) -> int | None:
        if route == "/tokenize":
            body: dict[str, Any] = {"content": text, "add_special": False}
        elif route == "/api/extra/tokencount":
            body = {"prompt": text}
        else:
            body = {"input": text, "model": self.model}
        response = await self._request("POST", route, body, check=False)
        if response.status_code in _UNSUPPORTED or response.status_code in {400, 422}:
            return None
        if response.status_code >= 400:
            raise self._status_error(response, route)
        try:
            payload = response.json()
        except ValueError:
            return None
        if isinstance(payload, dict):
            if isinstance(payload.get("tokens"), list):
                return len(payload["tokens"])
            for key in ("count", "value"):
                if isinstance(payload.get(key), int):
                    return payload[key]
        return None

    # -- HTTP -------------------------------------------------------------
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

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        stream: bool = False,
        check: bool = True,
    ) -> httpx.Response:
        client = self._http()
        request = client.build_request(
            method, self.endpoint.url(path), json=body, headers=self._headers()
        )
        try:
            try:
                response = await client.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # A kept-alive connection the server had just closed: once more, on a fresh one.
                response = await client.send(request, stream=stream)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise ConnectionLostError(
                f"{self.endpoint.base_url} closed the connection without answering ({exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if check and response.status_code >= 400:
            raise self._status_error(response, path)
        return response

    async def _optional_json(self, method: str, path: str) -> Any:
        try:
            response = await self._request(method, path, check=False)
        except RemoteError:
            return None
        if response.status_code >= 400:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _transport_error(self, exc: Exception) -> RemoteError:
        where = self.endpoint.base_url
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

    def _status_error(self, response: httpx.Response, path: str) -> RemoteError:
        where = self.endpoint.base_url
        code = response.status_code
        detail = _error_detail(response)
        if code in {401, 403}:
            env = self.endpoint.api_key_env
            if not env:
                hint = (
                    "Put the key in an environment variable and name it with api_key_env "
                    "in this endpoint's [endpoints] entry in config.toml."
                )
            elif self.endpoint.api_key() is None:
                hint = f"The environment variable {env} that should hold the key is not set."
            else:
                hint = f"It refused the key in ${env}."
            return AuthenticationError(f"{where} needs a valid API key ({code}: {detail}). {hint}")
        if code == 404:
            if "model" in detail.lower():
                return ModelNotFoundError(f"{where} has no model {self.model!r} ({detail})")
            return EndpointNotFoundError(
                f"{where} has no {path} (404): is the base URL right, and is it an OpenAI-compatible server?"
            )
        if code >= 500:
            return ServerError(f"{where} failed on {path} with {code}: {detail}")
        return RequestRejectedError(f"{where} rejected the request to {path} ({code}): {detail}")


async def _sse_data(response: httpx.Response, where: str) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event; comments (keep-alive pings) are skipped."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if not colon or field not in {"data", "event", "id", "retry"}:
            raise MalformedResponseError(
                f"{where} sent a line that is not a server-sent event: {line[:80]!r}"
            )
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _choice_text(
    chunk: Any, chat: bool, stats: GenerationStats, usage: dict[str, int], where: str
) -> str:
    """The text in one reply chunk (or whole reply); records finish reason and usage."""
    if not isinstance(chunk, dict):
        raise MalformedResponseError(f"{where} sent a reply piece that is not a JSON object")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ServerError(f"{where} reported an error mid-reply: {message}")
    reported = chunk.get("usage")
    if isinstance(reported, dict):
        stats.prompt_tokens = _int(reported.get("prompt_tokens")) or stats.prompt_tokens
        usage["completion_tokens"] = _int(reported.get("completion_tokens"))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        if reported:
            return ""
        raise MalformedResponseError(f"{where} sent a reply piece without 'choices'")
    if not choices:
        return ""
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedResponseError(f"{where} sent a malformed choice")
    if choice.get("finish_reason"):
        stats.finish_reason = str(choice["finish_reason"])
    if chat:
        part = choice.get("delta") or choice.get("message") or {}
        text = part.get("content") if isinstance(part, dict) else None
    else:
        text = choice.get("text")
    return text if isinstance(text, str) else ""


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise MalformedResponseError(f"{where} answered with something that is not JSON") from None


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return (response.text or response.reason_phrase or "").strip()[:300]
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)[:300]
    return str(payload)[:300]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


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

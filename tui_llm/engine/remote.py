"""RemoteRunner: the Runner protocol over an OpenAI-compatible HTTP server.

Chat requests (a list of role messages) go to ``/v1/chat/completions`` and the
server applies the model's chat template. Raw prompts (a ``str``, rendered
locally for story and adventure modes) go to ``/v1/completions``. Both stream
as server-sent events. ``cancel()`` closes the HTTP stream, which llama.cpp's
servers take as the signal to stop generating.

Token counts come from the server's tokenizer when it offers one (llama.cpp's
``/tokenize``, llama-cpp-python's ``/extras/tokenize/count``, KoboldCpp's
``/api/extra/tokencount``); otherwise they are estimated, and
``token_count_source`` says which. The wire format is in
:mod:`tui_llm.engine.wire`, the HTTP client in :mod:`tui_llm.engine.connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator

import httpx2 as httpx

from tui_llm.engine import wire
from tui_llm.engine.connection import ServerConnection
from tui_llm.engine.contract import (
    Capabilities,
    GenerationStats,
    ProgressCallback,
    Request,
    RunnerError,
)
from tui_llm.engine.endpoints import Endpoint, host_of
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.remote_errors import (
    EndpointNotFoundError,
    ModelNotFoundError,
    RemoteError,
)
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.engine.token_probs import TokenProbs
from tui_llm.engine.wire import RemoteModel
from tui_llm.engine.template_slot import TemplateSlot
from tui_llm.prompts.templates import CHATML, PromptTemplate, get_template

GUESSED_TEMPLATE = "assumed: ChatML (the server did not say)"
APPROXIMATE_TOKENS = "estimate (about 4 characters a token): the server offers no tokenizer"
TOKEN_CACHE_SIZE = 1024


def approximate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class RemoteRunner(TemplateSlot):
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
        super().__init__(template or CHATML, "chosen by the caller" if template else GUESSED_TEMPLATE)
        self.models: list[RemoteModel] = []
        self.token_count_source = ""
        self.last_stats = GenerationStats()
        self.last_tokens = TokenProbs()
        self._top_n = 0
        self._n_ctx = endpoint.n_ctx
        self._connected = False
        self._send_extras = True
        self._token_route: str | None = None
        self._token_counts: dict[str, int] = {}
        self._connection = ServerConnection(endpoint)
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
        return self.model or host_of(self.endpoint.base_url)

    @property
    def model_path(self) -> None:
        return None

    @property
    def location(self) -> str:
        return f"{self.endpoint.shown_url} ({self.model_name})"

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

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
        return await asyncio.to_thread(self.render_sync, request)

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
        self.last_tokens = TokenProbs(unavailable=(
            f"{self.endpoint.shown_url} did not send token probabilities."
            if self._top_n else "Token probabilities were not asked of the server (tui-llm chat --logprobs N)."
        ))
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

    def keep_state(self, key: str | None) -> None:
        pass

    def want_token_probs(self, top_n: int) -> None:
        """Servers compute them per request and some refuse the question: asked only when wanted."""
        self._top_n = top_n

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
        await self._connection.close()

    # -- discovery --------------------------------------------------------
    async def list_models(self) -> list[RemoteModel]:
        """What ``/v1/models`` says the server has."""
        response = await self._connection.request("GET", "/v1/models")
        if response.status_code >= 400:
            raise wire.status_error(response, "/v1/models", self.endpoint, self.model)
        return wire.parse_models(wire.json_of(response, self.endpoint.shown_url), self.endpoint.shown_url)

    async def connect(self) -> list[RemoteModel]:
        """List the server's models, pick ours, and learn what the server tells about itself."""
        try:
            return await self._connect()
        except RemoteError as exc:
            raise self._redacted(exc) from None

    def _redacted(self, exc: RemoteError) -> RemoteError:
        """The same error, its message without the endpoint's password or API key."""
        message = self.endpoint.redact(str(exc))
        return exc if message == str(exc) else type(exc)(message)

    async def _connect(self) -> list[RemoteModel]:
        where = self.endpoint.shown_url
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
            self.kind = wire.detect_kind(self.models, where)
        chosen = next((m for m in self.models if m.id == self.model), None)
        if not self._n_ctx and chosen is not None:
            self._n_ctx = chosen.n_ctx
        await self._read_server_facts()
        self._connected = True
        return self.models

    async def _read_server_facts(self) -> None:
        """Context size and chat template, where the server tells them; optional."""
        if self.kind in {"llama.cpp", "generic"}:
            props = await self._connection.optional_json("GET", "/props")
            if isinstance(props, dict):
                settings = props.get("default_generation_settings") or {}
                if not self._n_ctx:
                    self._n_ctx = wire.positive_int(settings.get("n_ctx") or props.get("n_ctx"))
                source = props.get("chat_template")
                if isinstance(source, str) and source.strip() and self._template is CHATML:
                    eos = str(props.get("eos_token") or "")
                    self.set_template(PromptTemplate(
                        name="server",
                        source=source,
                        stop=(eos,) if eos else (),
                        bos_token=str(props.get("bos_token") or ""),
                        eos_token=eos,
                    ), "the chat template the server reported")
        elif self.kind == "koboldcpp" and not self._n_ctx:
            value = await self._connection.optional_json("GET", "/api/extra/true_max_context_length")
            if isinstance(value, dict):
                self._n_ctx = wire.positive_int(value.get("value"))

    # -- streaming --------------------------------------------------------
    def _body(self, request: Request, sampler: SamplerSettings) -> tuple[str, dict[str, Any]]:
        kind = self.kind if self._send_extras else "openai"
        if isinstance(request, str):
            stop = self.stop_strings(sampler)
            path, body = "/v1/completions", {"prompt": request}
        else:
            stop = list(sampler.stop)
            path = "/v1/chat/completions"
            body = {"messages": [{"role": m["role"], "content": m["content"]} for m in request]}
            body.update(wire.template_fields(self._template.extra, kind))
        body.update(model=self.model, stream=True, **wire.sampler_fields(sampler, kind, stop))
        if kind != "openai" or self.kind == "openai":
            body["stream_options"] = {"include_usage": True}
        if self._top_n:
            body.update(wire.logprob_fields(self._top_n, chat=path.endswith("chat/completions"), kind=kind))
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
        chat = not isinstance(request, str)
        where = self.endpoint.shown_url
        try:
            response = await self._open_stream(request, sampler)
            try:
                pieces = wire.reply_texts(response, chat, stats, usage, where, self.last_tokens.tokens)
                async with contextlib.aclosing(pieces):
                    async for text in pieces:
                        if stats.completion_tokens == 0:
                            stats.time_to_first_token = time.perf_counter() - started
                        stats.completion_tokens += 1
                        queue.put_nowait(("text", text))
                        if stats.completion_tokens >= sampler.max_tokens:
                            # The server should have stopped here; whatever it does, we do.
                            stats.finish_reason = stats.finish_reason or "length"
                            break
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
            await self._connection.close()

    def _stream_error(self, exc: Exception, got_text: bool) -> RemoteError:
        return self._redacted(self._worded(exc, got_text))

    def _worded(self, exc: Exception, got_text: bool) -> RemoteError:
        if isinstance(exc, RemoteError):
            return exc
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return wire.ended_early(self.endpoint.shown_url, got_text)
        if isinstance(exc, httpx.HTTPError):
            return self._connection.transport_error(exc)
        return RemoteError(f"the reply from {self.endpoint.shown_url} failed: {exc!r}")

    async def _open_stream(self, request: Request, sampler: SamplerSettings) -> httpx.Response:
        path, body = self._body(request, sampler)
        response = await self._connection.request("POST", path, body, stream=True)
        if response.status_code in {400, 422} and self._send_extras and self.kind == "generic":
            # A strict server refused fields it does not know: retry once with the standard set.
            await response.aclose()
            self._send_extras = False
            path, body = self._body(request, sampler)
            response = await self._connection.request("POST", path, body, stream=True)
        if response.status_code >= 400:
            try:
                body = await wire.read_bounded(response, self.endpoint.shown_url)
            finally:
                await response.aclose()
            kind = {"content-type": response.headers.get("content-type", "text/plain")}
            read = httpx.Response(response.status_code, headers=kind, content=body)
            raise wire.status_error(read, path, self.endpoint, self.model)
        return response

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
        return wire.token_routes(self.kind)

    async def _count_with(self, route: str, text: str) -> int | None:
        body = wire.token_count_body(route, text, self.model)
        response = await self._connection.request("POST", route, body)
        if response.status_code in wire.UNSUPPORTED or response.status_code in {400, 422}:
            return None
        if response.status_code >= 400:
            raise wire.status_error(response, route, self.endpoint, self.model)
        try:
            return wire.token_count(response.json())
        except ValueError:
            return None

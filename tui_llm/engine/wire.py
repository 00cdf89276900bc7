"""The OpenAI-compatible wire format, as llama.cpp-family servers speak it.

Request bodies (sampler fields named the way each server kind reads them),
the model list, server-sent events, reply chunks, tokenizer routes, and the
HTTP statuses a server answers with, turned into worded ``RemoteError``s.
Nothing here holds a connection: ``RemoteRunner`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import httpx2 as httpx

from tui_llm.engine.contract import GenerationStats, Thought
from tui_llm.engine.endpoints import Endpoint
from tui_llm.engine.remote_errors import (
    AuthenticationError,
    ConnectionLostError,
    EndpointNotFoundError,
    MalformedResponseError,
    ModelNotFoundError,
    RemoteError,
    RequestRejectedError,
    ServerError,
)
from tui_llm.engine.sampler import SAMPLER_ORDER, SamplerSettings
from tui_llm.engine.token_probs import TokenChoice, from_logprobs

UNSUPPORTED = {404, 405, 501}


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


def parse_models(payload: Any, where: str) -> list[RemoteModel]:
    """The models of a ``/v1/models`` answer (OpenAI's ``{"data": [...]}`` or a bare list)."""
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise MalformedResponseError(f"{where}/v1/models did not return a model list")
    models = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id"):
            models.append(
                RemoteModel(
                    id=str(entry["id"]),
                    owned_by=str(entry.get("owned_by") or ""),
                    n_ctx=positive_int(entry.get("max_model_len") or entry.get("context_length")
                                       or entry.get("n_ctx")),
                )
            )
    return models


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
        body.update(_changed(sampler, LLAMA_CPP_NAMES))
        if sampler.sampler_order != SAMPLER_ORDER:
            body["samplers"] = sampler.sampler_order
    elif kind == "koboldcpp":
        body.update(
            min_p=sampler.min_p,
            top_k=sampler.top_k,
            typical=sampler.typical_p,
            rep_pen=sampler.repeat_penalty,
            rep_pen_range=max(sampler.repeat_last_n, 0),
        )
        body.update(_changed(sampler, KOBOLDCPP_NAMES))
    elif kind == "ollama":
        body.update(min_p=sampler.min_p, top_k=sampler.top_k, repeat_penalty=sampler.repeat_penalty)
    elif kind == "vllm":
        body.update(
            min_p=sampler.min_p,
            top_k=sampler.top_k or -1,  # vLLM turns top-k off with -1, not 0
            repetition_penalty=sampler.repeat_penalty,
        )
    return body


# DRY, XTC and top-n-sigma go only to servers that know them, and only when not at
# llama.cpp's own defaults (what such a server does when they are absent).
LLAMA_CPP_NAMES = {
    "dry_multiplier": "dry_multiplier",
    "dry_base": "dry_base",
    "dry_allowed_length": "dry_allowed_length",
    "dry_penalty_last_n": "dry_penalty_last_n",
    "dry_sequence_breakers": "dry_sequence_breakers",
    "xtc_probability": "xtc_probability",
    "xtc_threshold": "xtc_threshold",
    "top_n_sigma": "top_n_sigma",
}
KOBOLDCPP_NAMES = {**LLAMA_CPP_NAMES, "top_n_sigma": "nsigma"}
SERVER_DEFAULTS = SamplerSettings(dry_multiplier=0.0)


def _changed(sampler: SamplerSettings, names: dict[str, str]) -> dict[str, Any]:
    body = {}
    for field, name in names.items():
        value = getattr(sampler, field)
        if value != getattr(SERVER_DEFAULTS, field):
            body[name] = list(value) if isinstance(value, tuple) else value
    return body


def logprob_fields(top_n: int, chat: bool, kind: str) -> dict[str, Any]:
    """Ask for each token's ``top_n`` alternatives: OpenAI's names, and llama.cpp's own."""
    body: dict[str, Any] = {"logprobs": True, "top_logprobs": top_n} if chat else {"logprobs": top_n}
    if kind == "llama.cpp":
        body["n_probs"] = top_n
    return body


def template_fields(variables: dict[str, Any], kind: str) -> dict[str, Any]:
    """Chat template variables (``enable_thinking``...) for a server that renders the template.

    llama.cpp's server and vLLM pass ``chat_template_kwargs`` to the template;
    ``reasoning_effort`` is also a request field of OpenAI's API.
    """
    body: dict[str, Any] = {}
    if variables and kind in {"llama.cpp", "vllm", "generic"}:
        body["chat_template_kwargs"] = dict(variables)
    if "reasoning_effort" in variables:
        body["reasoning_effort"] = variables["reasoning_effort"]
    return body


# --- replies ------------------------------------------------------------------
async def reply_texts(
    response: httpx.Response,
    chat: bool,
    stats: GenerationStats,
    usage: dict[str, int],
    where: str,
    tokens: list[TokenChoice] | None = None,
) -> AsyncIterator[str]:
    """The text pieces of a streamed reply (or of one JSON reply); records finish reason and usage."""
    if "text/event-stream" not in response.headers.get("content-type", ""):
        # Some servers answer with one JSON reply even when asked to stream.
        try:
            payload = json.loads(await read_bounded(response, where))
        except ValueError:
            raise MalformedResponseError(f"{where} answered with something that is not JSON") from None
        for piece in choice_pieces(payload, chat, stats, usage, where, tokens):
            yield piece
        return
    got_text = got_done = False
    async for data in sse_data(response, where):
        if data.strip() == "[DONE]":
            got_done = True
            break
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise MalformedResponseError(
                f"{where} sent a streamed line that is not JSON: {data[:80]!r}"
            ) from None
        for piece in choice_pieces(chunk, chat, stats, usage, where, tokens):
            got_text = True
            yield piece
    if got_done or stats.finish_reason:
        return
    raise ended_early(where, got_text)


async def sse_data(response: httpx.Response, where: str) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event; comments (keep-alive pings) are skipped."""
    data: list[str] = []
    async for line in bounded_lines(response, where):
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


# A reply longer than these is no reply: a broken or hostile server.
MAX_LINE_BYTES = 1 << 20
MAX_REPLY_BYTES = 64 << 20


def _too_big(where: str, what: str, limit: int) -> MalformedResponseError:
    return MalformedResponseError(
        f"{where} sent {what} of more than {limit >> 20} MiB; stopped reading (a broken server?)"
    )


async def read_bounded(response: httpx.Response, where: str) -> bytes:
    """The whole body, refused past ``MAX_REPLY_BYTES``."""
    body = bytearray()
    async for block in response.aiter_bytes():
        body += block
        if len(body) > MAX_REPLY_BYTES:
            raise _too_big(where, "a reply", MAX_REPLY_BYTES)
    return bytes(body)


async def bounded_lines(response: httpx.Response, where: str) -> AsyncIterator[str]:
    """The body's lines, refused past ``MAX_LINE_BYTES`` a line or ``MAX_REPLY_BYTES`` in all."""
    pending = bytearray()
    total = 0
    async for block in response.aiter_bytes():
        total += len(block)
        if total > MAX_REPLY_BYTES:
            raise _too_big(where, "a reply", MAX_REPLY_BYTES)
        pending += block
        *lines, rest = bytes(pending).split(b"\n")
        pending = bytearray(rest)
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8", errors="replace")
        if len(pending) > MAX_LINE_BYTES:
            raise _too_big(where, "a line", MAX_LINE_BYTES)
    if pending:
        yield bytes(pending).removesuffix(b"\r").decode("utf-8", errors="replace")


def choice_pieces(
    chunk: Any, chat: bool, stats: GenerationStats, usage: dict[str, int], where: str,
    tokens: list[TokenChoice] | None = None,
) -> list[str]:
    """The text in one reply chunk (or whole reply), reasoning first as a ``Thought``;
    records finish reason and usage."""
    if not isinstance(chunk, dict):
        raise MalformedResponseError(f"{where} sent a reply piece that is not a JSON object")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ServerError(f"{where} reported an error mid-reply: {message}")
    reported = chunk.get("usage")
    if isinstance(reported, dict):
        stats.prompt_tokens = positive_int(reported.get("prompt_tokens")) or stats.prompt_tokens
        usage["completion_tokens"] = positive_int(reported.get("completion_tokens"))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        if reported:
            return []
        raise MalformedResponseError(f"{where} sent a reply piece without 'choices'")
    if not choices:
        return []
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedResponseError(f"{where} sent a malformed choice")
    if choice.get("finish_reason"):
        stats.finish_reason = str(choice["finish_reason"])
    logprobs = choice.get("logprobs")
    if tokens is not None and isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        tokens.extend(from_logprobs(logprobs["content"]))
    if chat:
        part = choice.get("delta") or choice.get("message") or {}
        if not isinstance(part, dict):
            return []
        pieces: list[str] = []
        # llama.cpp's server and vLLM send the reasoning apart: "reasoning_content" or "reasoning"
        thought = part.get("reasoning_content") or part.get("reasoning")
        if isinstance(thought, str) and thought:
            pieces.append(Thought(thought))
        text = part.get("content")
        if isinstance(text, str) and text:
            pieces.append(text)
        return pieces
    text = choice.get("text")
    return [text] if isinstance(text, str) and text else []


def ended_early(where: str, got_text: bool) -> RemoteError:
    if not got_text:
        return ServerError(
            f"{where} ended the reply without sending anything: the server failed on this "
            "request (a prompt longer than its context does this) or stopped; its log says why."
        )
    return ConnectionLostError(
        f"The reply from {where} stopped before its end: the server stopped or the connection was lost."
    )


# --- tokenizers ---------------------------------------------------------------
def token_routes(kind: str) -> list[str]:
    """Where a server of this kind may count tokens, most likely first."""
    if kind == "koboldcpp":
        return ["/api/extra/tokencount"]
    if kind in {"openai", "ollama", "vllm"}:
        return []
    return ["/tokenize", "/extras/tokenize/count"]


def token_count_body(route: str, text: str, model: str) -> dict[str, Any]:
    if route == "/tokenize":
        return {"content": text, "add_special": False}
    if route == "/api/extra/tokencount":
        return {"prompt": text}
    return {"input": text, "model": model}


def token_count(payload: Any) -> int | None:
    """The count in a tokenizer's answer: a token list, or a ``count``/``value`` number."""
    if isinstance(payload, dict):
        if isinstance(payload.get("tokens"), list):
            return len(payload["tokens"])
        for key in ("count", "value"):
            if isinstance(payload.get(key), int):
                return payload[key]
    return None


# --- statuses -----------------------------------------------------------------
def status_error(response: httpx.Response, path: str, endpoint: Endpoint, model: str | None) -> RemoteError:
    """The error for an HTTP status of 400 or more, with what the user can do about it."""
    where = endpoint.shown_url
    code = response.status_code
    detail = endpoint.redact(error_detail(response))
    if code in {401, 403}:
        env = endpoint.api_key_env
        if not env:
            hint = (
                "Put the key in an environment variable and name it with api_key_env "
                "in this endpoint's [endpoints] entry in config.toml."
            )
        elif endpoint.api_key() is None:
            hint = f"The environment variable {env} that should hold the key is not set."
        else:
            hint = f"It refused the key in ${env}."
        return AuthenticationError(f"{where} needs a valid API key ({code}: {detail}). {hint}")
    if code == 404:
        if "model" in detail.lower():
            return ModelNotFoundError(f"{where} has no model {model!r} ({detail})")
        return EndpointNotFoundError(
            f"{where} has no {path} (404): is the base URL right, and is it an OpenAI-compatible server?"
        )
    if code >= 500:
        return ServerError(f"{where} failed on {path} with {code}: {detail}")
    return RequestRejectedError(f"{where} rejected the request to {path} ({code}): {detail}")


def error_detail(response: httpx.Response) -> str:
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


def json_of(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise MalformedResponseError(f"{where} answered with something that is not JSON") from None


def positive_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

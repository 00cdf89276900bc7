"""RemoteRunner against a real llama-cpp-python server running the real test model.

One server serves the whole module; fault cases use their own: one that wants
an API key, one that is killed mid-reply, a port nobody listens on, a socket
that never answers, and a small canned HTTP server for replies no real server
sends on purpose (a 500, a broken event stream, a strict server).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from llama_server import MODEL_ALIAS, LlamaServer, free_port

from tui_llm.engine.endpoints import Endpoint, endpoint_from_url
from tui_llm.engine.remote import APPROXIMATE_TOKENS, RemoteRunner
from tui_llm.engine.remote_errors import (
    AuthenticationError,
    ConnectionLostError,
    EndpointNotFoundError,
    MalformedResponseError,
    ModelNotFoundError,
    ServerError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from tui_llm.engine.wire import sampler_fields
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.contract import RunnerError
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.prompts.templates import CHATML

GREEDY = SamplerSettings(temperature=0.0, max_tokens=16)
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server(model_path):
    with LlamaServer(model_path) as running:
        yield running


@pytest.fixture(scope="module")
def keyed_server(model_path):
    with LlamaServer(model_path, api_key="sesame-42") as running:
        yield running


async def collect(runner, request, sampler=GREEDY):
    return [piece async for piece in runner.stream(request, sampler)]


async def test_lists_the_servers_models_and_learns_its_kind(server):
    runner = RemoteRunner(endpoint_from_url(server.url + "/v1/"))
    try:
        models = await runner.connect()
        assert [m.id for m in models] == [MODEL_ALIAS]
        assert runner.model == MODEL_ALIAS == runner.model_name
        assert runner.kind == "llama.cpp"
    finally:
        await runner.close()


async def test_chat_turn_streams_a_reply_with_stats(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    try:
        pieces = await collect(runner, CHAT)
        reply = "".join(pieces)
        assert reply.strip()
        stats = runner.last_stats
        assert stats.completion_tokens == len(pieces) <= GREEDY.max_tokens
        assert stats.finish_reason in {"stop", "length"}
        assert stats.prompt_tokens > 5
        assert not stats.cancelled
        assert stats.time_to_first_token > 0 and stats.elapsed >= stats.time_to_first_token
    finally:
        await runner.close()


async def test_story_turn_matches_the_local_engine_token_for_token(server, model_path, tiny_load):
    """A raw prompt goes to /v1/completions: greedy output equals llama.cpp run locally."""
    prompt = CHATML.render(
        [{"role": "user", "content": "Tell a story about a fox."}], add_generation_prompt=True
    )
    prompt += "Once upon a time"
    remote = RemoteRunner(endpoint_from_url(server.url))
    local = LlamaCppRunner()
    try:
        remote_text = "".join(await collect(remote, prompt))
        await local.load(model_path, tiny_load)
        local_text = "".join([p async for p in local.stream(prompt, GREEDY)])
    finally:
        await remote.close()
        await local.close()
    assert remote_text.strip()
    assert remote_text == local_text
    assert "<|im_end|>" not in remote_text


async def test_the_seed_reaches_the_server(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    sampler = SamplerSettings(temperature=1.5, min_p=0.0, max_tokens=8, seed=1234)
    try:
        first = "".join(await collect(runner, CHAT, sampler))
        second = "".join(await collect(runner, CHAT, sampler))
        other = "".join(await collect(runner, CHAT, sampler.with_changes(seed=99)))
    finally:
        await runner.close()
    assert first == second
    assert first != other


async def test_cancel_closes_the_stream_and_the_server_keeps_serving(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    long_story = SamplerSettings(temperature=1.0, max_tokens=600, seed=3)
    request = [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]
    try:
        pieces = []
        async for piece in runner.stream(request, long_story):
            pieces.append(piece)
            if len(pieces) == 3:
                runner.cancel()
        stats = runner.last_stats
        assert stats.cancelled and stats.finish_reason == "cancelled"
        assert 3 <= len(pieces) < 50
        # The server dropped the cancelled request and answers the next one.
        again = "".join(await collect(runner, CHAT, SamplerSettings(temperature=0.0, max_tokens=4)))
        assert again.strip()
        assert not runner.last_stats.cancelled
    finally:
        await runner.close()


async def test_breaking_out_of_the_stream_stops_it_too(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    try:
        async for _piece in runner.stream(CHAT, SamplerSettings(max_tokens=300, seed=5)):
            break
        again = "".join(await collect(runner, CHAT, SamplerSettings(temperature=0.0, max_tokens=4)))
        assert again.strip()
    finally:
        await runner.close()


async def test_count_tokens_uses_the_servers_tokenizer(server, model_path):
    import llama_cpp

    text = "The quick brown fox jumps over the lazy dog. <|im_start|>user"
    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    try:
        expected = len(vocab.tokenize(text.encode("utf-8"), add_bos=True, special=True))
    finally:
        vocab.close()
    runner = RemoteRunner(endpoint_from_url(server.url))
    try:
        assert await runner.count_tokens(text) == expected
        assert "/extras/tokenize/count" in runner.token_count_source
        assert await runner.count_tokens("") == 0
    finally:
        await runner.close()


async def test_a_prompt_longer_than_the_servers_context_is_a_clear_error(server):
    runner = RemoteRunner(endpoint_from_url(server.url))
    try:
        with pytest.raises(ServerError, match="without sending anything"):
            await collect(runner, "word " * 3000)
        # Still usable afterwards.
        assert "".join(await collect(runner, CHAT, SamplerSettings(temperature=0.0, max_tokens=4)))
    finally:
        await runner.close()


# -- faults against real servers ----------------------------------------------
async def test_refused_port_is_a_clear_error():
    runner = RemoteRunner(endpoint_from_url(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ServerUnreachableError, match="connection refused"):
        await runner.list_models()
    with pytest.raises(ServerUnreachableError, match="is the server running"):
        await collect(runner, CHAT)
    await runner.close()


async def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections queue up; nothing ever reads them
        port = listener.getsockname()[1]
        endpoint = Endpoint("silent", f"http://127.0.0.1:{port}", timeout=0.5)
        runner = RemoteRunner(endpoint)
        with pytest.raises(ServerTimeoutError, match="stopped answering"):
            await collect(runner, CHAT)
        await runner.close()


async def test_a_server_killed_mid_reply_is_a_lost_connection(model_path):
    with LlamaServer(model_path) as doomed:
        runner = RemoteRunner(endpoint_from_url(doomed.url))
        pieces = []
        with pytest.raises(ConnectionLostError, match="lost|stopped"):
            async for piece in runner.stream(CHAT, SamplerSettings(max_tokens=400, seed=1)):
                pieces.append(piece)
                if len(pieces) == 1:
                    doomed.kill()
        assert pieces
        await runner.close()


async def test_missing_api_key_is_a_clear_error(keyed_server):
    runner = RemoteRunner(endpoint_from_url(keyed_server.url))
    with pytest.raises(AuthenticationError, match="api_key_env"):
        await runner.list_models()
    await runner.close()


async def test_wrong_and_unset_api_key_name_the_variable(keyed_server, monkeypatch):
    endpoint = Endpoint("keyed", keyed_server.url, api_key_env="TUI_LLM_TEST_KEY")
    monkeypatch.delenv("TUI_LLM_TEST_KEY", raising=False)
    runner = RemoteRunner(endpoint)
    with pytest.raises(AuthenticationError, match="TUI_LLM_TEST_KEY.*not set"):
        await runner.list_models()
    monkeypatch.setenv("TUI_LLM_TEST_KEY", "wrong")
    with pytest.raises(AuthenticationError, match=r"refused the key in \$TUI_LLM_TEST_KEY"):
        await collect(runner, CHAT)
    monkeypatch.setenv("TUI_LLM_TEST_KEY", "sesame-42")
    reply = "".join(await collect(runner, CHAT, SamplerSettings(temperature=0.0, max_tokens=6)))
    assert reply.strip()
    assert "/extras/tokenize/count" in runner.token_count_source
    await runner.close()


async def test_unknown_model_names_what_the_server_has(server):
    runner = RemoteRunner(endpoint_from_url(server.url, model="no-such-model"))
    with pytest.raises(ModelNotFoundError, match=f"no-such-model.*{MODEL_ALIAS}"):
        await collect(runner, CHAT)
    await runner.close()


async def test_wrong_base_path_is_a_404_that_says_so(server):
    runner = RemoteRunner(endpoint_from_url(server.url + "/not-here"))
    with pytest.raises(EndpointNotFoundError, match="base URL"):
        await runner.connect()
    await runner.close()


# -- replies a real server does not send on purpose ---------------------------
class Canned(BaseHTTPRequestHandler):
    """Answers POSTs with ``self.server.reply(path, body) -> (status, type, bytes)``."""

    def do_GET(self):
        self._answer(None)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        self._answer(json.loads(self.rfile.read(length) or b"{}"))

    def _answer(self, body):
        self.server.seen.append((self.path, body))
        status, kind, payload = self.server.reply(self.path, body)
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def canned():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


MODELS = json.dumps({"data": [{"id": "m1", "owned_by": "someone"}]}).encode()


def sse(*events: str) -> bytes:
    return "".join(f"data: {event}\n\n" for event in events).encode()


def chunk(text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"delta": {"content": text}, "finish_reason": finish}]})


def serve(canned, stream_body: bytes, status: int = 200, kind: str = "text/event-stream"):
    def reply(path, body):
        if path == "/v1/models":
            return 200, "application/json", MODELS
        if path.startswith("/v1/"):
            return status, kind, stream_body
        return 404, "application/json", b'{"detail": "Not Found"}'

    canned.reply = reply
    return RemoteRunner(endpoint_from_url(f"http://127.0.0.1:{canned.server_port}"))


async def test_server_500_is_a_server_error(canned):
    runner = serve(canned, b'{"error": {"message": "CUDA out of memory"}}', 500, "application/json")
    with pytest.raises(ServerError, match="500.*CUDA out of memory"):
        await collect(runner, CHAT)
    await runner.close()


async def test_non_json_event_is_malformed(canned):
    runner = serve(canned, sse(chunk("Hel"), "{not json"))
    got = []
    with pytest.raises(MalformedResponseError, match="not JSON"):
        async for piece in runner.stream(CHAT):
            got.append(piece)
    assert got == ["Hel"]
    await runner.close()


async def test_a_line_that_is_not_an_event_is_malformed(canned):
    runner = serve(canned, b"<html>proxy error</html>\n\n")
    with pytest.raises(MalformedResponseError, match="not a server-sent event"):
        await collect(runner, CHAT)
    await runner.close()


async def test_pings_and_a_plain_json_reply_are_understood(canned):
    runner = serve(canned, b": ping\n\n" + sse(chunk("Hi"), chunk(" there", "stop"), "[DONE]"))
    assert "".join(await collect(runner, CHAT)) == "Hi there"
    assert runner.last_stats.finish_reason == "stop"
    whole = json.dumps({"choices": [{"message": {"content": "All at once"}, "finish_reason": "stop"}]})
    canned.reply = lambda path, body: (200, "application/json", whole.encode())
    assert "".join(await collect(runner, CHAT)) == "All at once"
    await runner.close()


async def test_a_strict_server_gets_the_request_again_without_extras(canned):
    def reply(path, body):
        if path == "/v1/models":
            return 200, "application/json", MODELS
        if not path.startswith("/v1/"):
            return 404, "application/json", b'{"detail": "Not Found"}'
        if "min_p" in body:
            return 400, "application/json", b'{"error": {"message": "Unrecognized argument: min_p"}}'
        return 200, "text/event-stream", sse(chunk("ok", "stop"), "[DONE]")

    canned.reply = reply
    runner = RemoteRunner(endpoint_from_url(f"http://127.0.0.1:{canned.server_port}"))
    assert "".join(await collect(runner, CHAT)) == "ok"
    assert runner.kind == "generic"
    posts = [body for path, body in canned.seen if path == "/v1/chat/completions"]
    assert "min_p" in posts[0] and "min_p" not in posts[1]
    assert posts[1]["temperature"] == 0.0 and posts[1]["max_tokens"] == 16
    # Token counting falls back to an estimate, and says so.
    assert await runner.count_tokens("abcdefgh") == 2
    assert runner.token_count_source == APPROXIMATE_TOKENS
    await runner.close()


def test_sampler_fields_per_server_kind():
    sampler = SamplerSettings(min_p=0.05, top_k=40, repeat_penalty=1.1, seed=7)
    llama = sampler_fields(sampler, "llama.cpp", ["END"])
    assert llama["min_p"] == 0.05 and llama["top_k"] == 40 and llama["repeat_penalty"] == 1.1
    assert llama["seed"] == 7 and llama["stop"] == ["END"]
    openai = sampler_fields(sampler, "openai", ["a", "b", "c", "d", "e"])
    assert "min_p" not in openai and "top_k" not in openai and len(openai["stop"]) == 4
    vllm = sampler_fields(sampler.with_changes(top_k=0), "vllm", [])
    assert vllm["top_k"] == -1 and vllm["repetition_penalty"] == 1.1 and "stop" not in vllm
    kobold = sampler_fields(sampler, "koboldcpp", [])
    assert kobold["rep_pen"] == 1.1 and kobold["min_p"] == 0.05
    ollama = sampler_fields(sampler, "ollama", [])
    assert ollama["top_k"] == 40 and ollama["min_p"] == 0.05
    assert "seed" not in sampler_fields(SamplerSettings(), "llama.cpp", [])


def test_runner_errors_are_runner_errors():
    for error in (ServerUnreachableError, AuthenticationError, MalformedResponseError):
        assert issubclass(error, RunnerError)


async def test_local_rendering_is_offered_only_with_a_known_template():
    guessed = RemoteRunner(endpoint_from_url("http://127.0.0.1:9"))
    assert await guessed.render(CHAT) is None  # callers send role messages; the server renders
    assert not guessed.capabilities.renders_locally
    chosen = RemoteRunner(endpoint_from_url("http://127.0.0.1:9"), template=CHATML)
    assert (await chosen.render(CHAT)).endswith("<|im_start|>assistant\n")
    assert chosen.capabilities.renders_locally


# -- endpoint settings ---------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("box:8080", "http://box:8080"),
        ("http://10.0.0.2:8080/v1/", "http://10.0.0.2:8080"),
        ("https://example.org/api/v1", "https://example.org/api"),
        ("  http://[::1]:11434  ", "http://[::1]:11434"),
    ],
)
def test_base_urls_are_normalized(given, base):
    assert endpoint_from_url(given).base_url == base


@pytest.mark.parametrize("bad", ["", "ftp://example.org", "http://", "http://h:99999", "http://h/?x=1"])
def test_unusable_urls_are_refused_with_words(bad):
    from tui_llm.engine.endpoints import EndpointError

    with pytest.raises(EndpointError):
        endpoint_from_url(bad)


def test_endpoints_round_trip_through_config_toml(isolated_home):
    from tui_llm import locations
    from tui_llm.config import load_config, save_config

    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text(
        '[endpoints.gpu-box]\nurl = "http://10.0.0.2:8080/v1"\napi_key_env = "GPU_BOX_KEY"\n'
        'kind = "vllm"\ntimeout = 30\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.problems == []
    assert config.endpoints == [
        Endpoint("gpu-box", "http://10.0.0.2:8080", api_key_env="GPU_BOX_KEY", kind="vllm", timeout=30)
    ]
    save_config(config, path)
    again = load_config(path)
    assert again.endpoints == config.endpoints


def test_a_key_written_into_config_is_refused_with_its_line(isolated_home):
    from tui_llm import locations
    from tui_llm.config import load_config

    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text(
        '[endpoints.box]\nurl = "http://box:8080"\napi_key = "sk-oops"\n', encoding="utf-8"
    )
    config = load_config(path)
    assert config.endpoints == []
    assert len(config.problems) == 1
    assert "line 3" in config.problems[0] and "api_key_env" in config.problems[0]


def test_endpoint_option_takes_a_name_or_a_url():
    from tui_llm.engine.endpoints import resolve_endpoint

    box = Endpoint("box", "http://box:8080", api_key_env="BOX_KEY")
    assert resolve_endpoint("box", [box]) == box
    assert resolve_endpoint("http://box:8080/v1", [box], model="m").api_key_env == "BOX_KEY"
    other = resolve_endpoint("other:1234", [box])
    assert other.base_url == "http://other:1234" and other.api_key_env == ""

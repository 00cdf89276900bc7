"""Reasoning models through the real remote runner and the Conversation, against
scripted OpenAI-compatible servers on 127.0.0.1; and through llama.cpp on the
test model with a template that reads ``enable_thinking``."""

from __future__ import annotations

import json

from test_remote_runner import MODELS, canned, sse  # noqa: F401 - canned is a fixture

from tui_llm.chat import conversation as talk
from tui_llm.chat.conversation import Conversation
from tui_llm.chat.sessions import Session, load_session, save_session
from tui_llm.engine.contract import Thought
from tui_llm.engine.endpoints import endpoint_from_url
from tui_llm.engine.remote import RemoteRunner
from tui_llm.engine.sampler import SamplerSettings

SAMPLER = SamplerSettings(temperature=0.0, max_tokens=64)


def delta(**fields) -> str:
    return json.dumps({"choices": [{"delta": fields, "finish_reason": None}]})


def done() -> str:
    return json.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}]})


def scripted(canned, *replies: bytes) -> RemoteRunner:  # noqa: F811
    """A server that sends ``replies`` in turn, one per chat request."""
    queue = list(replies)

    def reply(path, body):
        if path == "/v1/models":
            return 200, "application/json", MODELS
        if path == "/v1/chat/completions":
            return 200, "text/event-stream", queue.pop(0)
        return 404, "application/json", b'{"detail": "Not Found"}'

    canned.reply = reply
    return RemoteRunner(endpoint_from_url(f"http://127.0.0.1:{canned.server_port}"))


def chat_bodies(canned) -> list[dict]:  # noqa: F811
    return [body for path, body in canned.seen if path == "/v1/chat/completions"]


async def test_reasoning_content_deltas_come_out_as_thoughts(canned):  # noqa: F811
    runner = scripted(canned, sse(
        delta(role="assistant"), delta(reasoning_content="Let me"), delta(reasoning=" see."),
        delta(content="Paris."), done(), "[DONE]",
    ))
    pieces = [piece async for piece in runner.stream([{"role": "user", "content": "Q"}], SAMPLER)]
    assert pieces == ["Let me", " see.", "Paris."]
    assert [isinstance(p, Thought) for p in pieces] == [True, True, False]
    await runner.close()


async def test_a_whole_json_reply_keeps_its_reasoning_apart(canned):  # noqa: F811
    whole = json.dumps({"choices": [{"message": {
        "content": "Paris.", "reasoning_content": "Capital of France."}, "finish_reason": "stop"}]})
    runner = scripted(canned, b"")
    canned.reply = lambda path, body: (
        (200, "application/json", MODELS) if path == "/v1/models"
        else (200, "application/json", whole.encode())
    )
    pieces = [piece async for piece in runner.stream([{"role": "user", "content": "Q"}], SAMPLER)]
    assert pieces == ["Capital of France.", "Paris."] and isinstance(pieces[0], Thought)
    await runner.close()


async def test_a_conversation_keeps_the_thought_apart_and_never_sends_it_back(
    canned, tmp_path  # noqa: F811
):
    runner = scripted(
        canned,
        sse(delta(content="<thi"), delta(content="nk>The user greets"), delta(content=".</th"),
            delta(content="ink>\n\nHello"), delta(content=" there!"), done(), "[DONE]"),
        sse(delta(reasoning_content="Asked again."), delta(content="Hi again."), done(), "[DONE]"),
        sse(delta(content="Fine."), done(), "[DONE]"),
    )
    conversation = Conversation(runner, Session(mode="instruct"), lambda: SAMPLER)
    events: list = []
    conversation.subscribe(events.append)

    first = await conversation.send("Hello")
    assert first.text == "Hello there!"
    assert first.reasoning == "The user greets."
    assert first.reasoning_tokens == 2 and first.reasoning_s >= 0  # pieces that held thought
    thinking = [e.piece for e in events if isinstance(e, talk.ReplyThinking)]
    shown = [e.piece for e in events if isinstance(e, talk.ReplyText)]
    assert "".join(thinking) == "The user greets."
    assert "".join(shown) == "Hello there!" and not any("think" in p for p in shown)
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ReplyThinking") < kinds.index("ReplyText")

    second = await conversation.send("Hello?")
    assert (second.text, second.reasoning) == ("Hi again.", "Asked again.")
    await conversation.send("And now?")
    sent = chat_bodies(canned)[2]["messages"]
    assert [m["content"] for m in sent] == ["Hello", "Hello there!", "Hello?", "Hi again.", "And now?"]
    assert all(set(m) == {"role", "content"} for m in sent)

    path = save_session(conversation.session, tmp_path / "s.json")
    again = load_session(path)
    assert [(t.text, t.reasoning, t.reasoning_tokens) for t in again.turns[1:4:2]] == [
        ("Hello there!", "The user greets.", 2), ("Hi again.", "Asked again.", 1)
    ]
    assert "reasoning" not in json.loads(path.read_text())["turns"][0]
    assert again.turns[5].reasoning == ""
    await runner.close()


async def test_a_reply_that_only_thinks_says_so_and_keeps_nothing(canned):  # noqa: F811
    runner = scripted(canned, sse(
        delta(reasoning_content="Thinking and thinking"), json.dumps(
            {"choices": [{"delta": {}, "finish_reason": "length"}]}), "[DONE]"))
    conversation = Conversation(runner, Session(mode="instruct"), lambda: SAMPLER)
    events: list = []
    conversation.subscribe(events.append)
    assert await conversation.send("Hard question") is None
    notices = [e.text for e in events if isinstance(e, talk.Notice)]
    assert notices and "wrote no answer" in notices[-1]
    await runner.close()

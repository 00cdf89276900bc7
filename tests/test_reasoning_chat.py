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


# -- the real engine on the test model, with real reasoning templates --------------
async def test_thinking_off_reaches_a_template_that_reads_enable_thinking(
    model_path, llama_templates
):
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.prompts.templates import PromptTemplate

    qwen3 = PromptTemplate("qwen3", llama_templates["Qwen-Qwen3-0.6B.jinja"], stop=("<|im_end|>",))
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=512), qwen3)
    try:
        greedy = SamplerSettings(temperature=0.0, max_tokens=12, seed=1)
        conversation = Conversation(runner, Session(mode="instruct"), lambda: greedy,
                                    thinking="off")
        reply = await conversation.send("Name a colour.")
        prompt = await runner.render([{"role": "user", "content": "Name a colour."}])
        assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        assert reply is not None and reply.text.strip() and reply.reasoning == ""

        conversation.thinking = "on"
        await conversation.send("Another?")
        assert not (await runner.render([{"role": "user", "content": "x"}])).endswith("</think>\n\n")
    finally:
        await runner.close()


async def test_a_prompt_that_opens_the_thought_makes_the_real_models_words_thought(
    model_path, llama_templates
):
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.prompts.templates import PromptTemplate

    opened = PromptTemplate("qwen3.5", llama_templates["Qwen3.5-4B.jinja"], stop=("<|im_end|>",))
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=512), opened)
    try:
        greedy = SamplerSettings(temperature=0.0, max_tokens=10, seed=1)
        conversation = Conversation(runner, Session(mode="instruct"), lambda: greedy)
        events: list = []
        conversation.subscribe(events.append)
        assert await conversation.send("Name a colour.") is None  # it never closes the thought
        thought = "".join(e.piece for e in events if isinstance(e, talk.ReplyThinking))
        assert thought.strip() and not [e for e in events if isinstance(e, talk.ReplyText)]
        assert "wrote no answer" in [e.text for e in events if isinstance(e, talk.Notice)][-1]
    finally:
        await runner.close()


# -- tui-llm chat ------------------------------------------------------------------
def run_chat(canned, home, *args):  # noqa: F811
    import os
    import subprocess
    import sys

    env = {**os.environ, "TUI_LLM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--endpoint",
         f"http://127.0.0.1:{canned.server_port}", "--prompt", "Hello", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


THINKING_REPLY = sse(delta(reasoning_content="The user "), delta(reasoning_content="greets."),
                     delta(content="Hi!"), done(), "[DONE]")


def test_the_cli_prints_only_the_answer_and_the_thought_on_request(canned, isolated_home):  # noqa: F811
    scripted(canned, THINKING_REPLY, THINKING_REPLY, THINKING_REPLY)
    plain = run_chat(canned, isolated_home)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "Hi!\n" and "greets" not in plain.stderr

    shown = run_chat(canned, isolated_home, "--show-thinking")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "Hi!\n" and "The user greets.\n" in shown.stderr

    as_json = run_chat(canned, isolated_home, "--json")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert (result["reply"], result["reasoning"], result["reasoning_tokens"]) == (
        "Hi!", "The user greets.", 2
    )
    assert result["finish_reason"] == "stop"
    assert {"ttft_s", "decode_tok_s", "prompt_tokens", "completion_tokens"} <= set(result)


def test_thinking_is_a_choice_on_the_cli_and_in_config(canned, isolated_home):  # noqa: F811
    bad = run_chat(canned, isolated_home, "--thinking", "maybe")
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
    from tui_llm.config import ConfigError, ModelOverrides

    assert ModelOverrides.from_dict({"thinking": "off"}).thinking == "off"
    try:
        ModelOverrides.from_dict({"thinking": "lots"})
    except ConfigError as exc:
        assert exc.key == "thinking"
    else:
        raise AssertionError("a bad thinking value was accepted")


async def test_control_token_markers_come_out_as_text_only_for_templates_that_use_them(
    model_path, llama_templates
):
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.prompts.templates import CHATML, PromptTemplate

    harmony = PromptTemplate("gpt-oss", llama_templates["openai-gpt-oss-120b.jinja"])
    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=512), harmony)
    try:
        control = await runner.tokenize("<|im_start|>")  # a control token of the test model
        assert len(control) == 1
        greedy = SamplerSettings(temperature=0.0, max_tokens=4)
        # The switch is set per reply, from the template in use; create_completion
        # detokenizes through the same tokenizer.
        [piece async for piece in runner.stream("Hello", greedy)]
        assert runner._llm.detokenize(control) == b"<|im_start|>"
        runner.set_template(CHATML, "test")
        [piece async for piece in runner.stream("Hello", greedy)]
        assert runner._llm.detokenize(control) == b""
    finally:
        await runner.close()


async def test_thinking_reaches_a_server_that_renders_the_template(canned):  # noqa: F811
    runner = scripted(canned, *[sse(delta(content="Ok."), done(), "[DONE]")] * 3)
    conversation = Conversation(runner, Session(mode="instruct"), lambda: SAMPLER, thinking="off")
    await conversation.send("Hi")
    conversation.thinking = "low"
    await conversation.send("Again")
    first, second = chat_bodies(canned)
    assert first["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_effort" not in first
    assert second["chat_template_kwargs"] == {"enable_thinking": True, "reasoning_effort": "low"}
    assert second["reasoning_effort"] == "low"
    await runner.close()


async def test_old_thoughts_take_no_room_in_the_context(model_path):
    from tui_llm.chat.context import assemble
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings

    runner = LlamaCppRunner()
    await runner.load(model_path, LoadSettings(n_ctx=512))
    try:
        session = Session(mode="instruct")
        session.add("user", "Hi")
        session.add("assistant", "Hello!").reasoning = "a very long thought " * 400
        session.add("user", "How are you?")
        with_thought = await assemble(session, runner, SAMPLER)
        session.turns[1].reasoning = ""
        without = await assemble(session, runner, SAMPLER)
        assert with_thought.prompt_tokens == without.prompt_tokens < 100
        assert with_thought.dropped_turns == 0
        assert "long thought" not in str(with_thought.request)
    finally:
        await runner.close()


async def test_a_server_that_opened_the_thought_itself_still_gets_a_clean_reply(canned):  # noqa: F811
    runner = scripted(canned, sse(delta(content="Greeting, "), delta(content="so greet.</th"),
                                  delta(content="ink>\n\nHello!"), done(), "[DONE]"))
    conversation = Conversation(runner, Session(mode="instruct"), lambda: SAMPLER)
    reply = await conversation.send("Hi")
    assert (reply.text, reply.reasoning) == ("Hello!", "Greeting, so greet.")
    await runner.close()

"""Reasoning told apart from the answer, on scripted streams, for each marker
style found in the chat templates that ship with llama.cpp."""

from __future__ import annotations

import pytest

from tui_llm.chat.reasoning import (
    ANSWER,
    THOUGHT,
    ReasoningFormat,
    detect_format,
    split_reasoning,
    thinking_variables,
    with_no_think,
)
from tui_llm.engine.contract import Thought
from tui_llm.prompts.templates import PromptTemplate

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def stream(fmt: ReasoningFormat, text: str, size: int) -> tuple[str, str, bool]:
    """Feed ``text`` in pieces of ``size`` characters; (thought, answer, ended early)."""
    parser = fmt.parser()
    parts = []
    for at in range(0, len(text), size):
        parts += parser.feed(text[at:at + size])
    parts += parser.finish()
    thought = "".join(t for kind, t in parts if kind == THOUGHT)
    answer = "".join(t for kind, t in parts if kind == ANSWER)
    return thought, answer, parser.done


def rendered(source: str, **variables) -> str:
    return PromptTemplate("t", source, bos_token="<s>", eos_token="</s>").render(
        CONVERSATION, add_generation_prompt=True, **variables
    )


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize(
    "template, reply",
    [
        ("Qwen-Qwen3-0.6B.jinja", "<think>\nLet me see.\n</think>\n\nHello!"),
        ("ByteDance-Seed-OSS.jinja", "<seed:think>Let me see.</seed:think>Hello!"),
        ("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
         "<|START_THINKING|>Let me see.<|END_THINKING|>Hello!"),
        ("mistralai-Ministral-3-14B-Reasoning-2512.jinja", "[THINK]Let me see.[/THINK]Hello!"),
        ("google-gemma-4-31B-it.jinja", "<|channel>thought\nLet me see.<channel|>Hello!"),
        ("openai-gpt-oss-120b.jinja",
         "<|channel|>analysis<|message|>Let me see.<|end|><|start|>assistant"
         "<|channel|>final<|message|>Hello!<|return|>ignored"),
    ],
)
def test_each_templates_markers_split_the_thought_from_the_answer(
    llama_templates, template, reply, size
):
    fmt = detect_format(llama_templates[template])
    thought, answer, _ = stream(fmt, reply, size)
    assert thought.strip() == "Let me see."
    assert answer == "Hello!"


@pytest.mark.parametrize("size", [1, 4, 1000])
@pytest.mark.parametrize("template, close", [
    ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "</think>"),
    ("Qwen3.5-4B.jinja", "</think>"),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", "</think>"),
    ("Cohere2MoE.jinja", "<|END_THINKING|>"),
])
def test_a_prompt_that_opens_the_thought_starts_the_stream_inside_it(
    llama_templates, template, close, size
):
    source = llama_templates[template]
    prompt = rendered(source)
    fmt = detect_format(source, prompt)
    assert fmt.starts_inside
    assert stream(fmt, f"Hmm, a greeting.\n{close}\n\nHello!", size)[:2] == (
        "Hmm, a greeting.\n", "Hello!"
    )


def test_a_prompt_with_an_empty_closed_thought_does_not(llama_templates):
    source = llama_templates["Qwen-Qwen3-0.6B.jinja"]
    prompt = rendered(source, enable_thinking=False)
    assert prompt.rstrip().endswith("</think>")
    fmt = detect_format(source, prompt)
    assert not fmt.starts_inside
    assert stream(fmt, "Hello! No <b>think</b> here.", 3)[:2] == ("", "Hello! No <b>think</b> here.")


def test_harmony_commentary_is_thought_and_return_and_call_end_the_reply(llama_templates):
    fmt = detect_format(llama_templates["openai-gpt-oss-120b.jinja"])
    assert fmt.stops == ("<|return|>", "<|call|>")
    reply = ("<|channel|>analysis<|message|>Need a tool.<|end|><|start|>assistant"
             "<|channel|>commentary to=functions.get<|message|>{}<|call|>more")
    thought, answer, done = stream(fmt, reply, 5)
    assert (thought, answer, done) == ("Need a tool.{}", "", True)
    thought, answer, done = stream(fmt, reply.replace("<|call|>", "<|return|>"), 1)
    assert done and "more" not in thought + answer
    continued = ReasoningFormat(None, starts_inside=True)
    assert stream(continued, " and more.<|return|>", 2)[:2] == ("", " and more.")


def test_apriel_final_response_markers(llama_templates):
    source = llama_templates["Apriel-1.6-15b-Thinker-fixed.jinja"]
    fmt = detect_format(source, rendered(source))
    assert fmt.starts_inside
    thought, answer, done = stream(
        fmt, "\nThe user greets.\n[BEGIN FINAL RESPONSE]\nHello!\n[END FINAL RESPONSE]\n<|end|>", 3
    )
    assert (thought.strip(), answer.strip(), done) == ("The user greets.", "Hello!", True)


def test_text_without_markers_is_all_answer_and_a_lone_angle_bracket_is_kept():
    fmt = detect_format("")
    assert stream(fmt, "1 < 2 and <thin ice>", 1)[:2] == ("", "1 < 2 and <thin ice>")
    assert stream(fmt, "ends with <thi", 2)[:2] == ("", "ends with <thi")


def test_a_second_think_block_is_answer_text():
    assert split_reasoning("<think>a</think>Use <think>tags</think> so.") == (
        "a", "Use <think>tags</think> so."
    )


def test_reasoning_sent_apart_is_thought_whatever_the_markers():
    parser = detect_format("").parser()
    parts = parser.feed(Thought("pondering <think>")) + parser.feed("Answer")
    assert parts == [(THOUGHT, "pondering <think>"), (ANSWER, "Answer")]


def test_thinking_switches_become_the_variables_each_template_reads(llama_templates):
    qwen = llama_templates["Qwen-Qwen3-0.6B.jinja"]
    oss = llama_templates["openai-gpt-oss-120b.jinja"]
    assert thinking_variables(qwen, "off") == {"enable_thinking": False}
    assert thinking_variables(qwen, "high") == {"enable_thinking": True}
    assert thinking_variables(oss, "low") == {"reasoning_effort": "low"}
    assert thinking_variables(oss, "") == {}
    with pytest.raises(ValueError):
        thinking_variables(qwen, "maybe")
    assert "Reasoning: low" in rendered(oss, **thinking_variables(oss, "low"))
    assert "Reasoning: high" in rendered(oss, **thinking_variables(oss, "high"))
    off = rendered(qwen, **thinking_variables(qwen, "off"))
    assert off.endswith("<think>\n\n</think>\n\n") and not rendered(qwen).endswith("</think>\n\n")


def test_no_think_goes_into_the_system_prompt_only_where_the_template_follows_it(llama_templates):
    nemotron = llama_templates["NVIDIA-Nemotron-Nano-v2.jinja"]
    assert "enable_thinking" in nemotron  # it reads the variable: no text switch needed
    convention = "{% if '/no_think' in messages[0].content %}NO{% endif %}"
    messages = with_no_think(list(CONVERSATION), convention, "off")
    assert messages[0]["content"] == "Be brief.\n/no_think"
    assert CONVERSATION[0]["content"] == "Be brief."
    assert with_no_think(list(CONVERSATION), convention, "on") == CONVERSATION
    assert with_no_think(list(CONVERSATION), "{{ messages }}", "off") == CONVERSATION
    assert with_no_think(CONVERSATION[1:], convention, "off")[0] == {
        "role": "system", "content": "/no_think"
    }


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_a_thought_opened_out_of_sight_is_found_at_its_end(size):
    parser = detect_format("").parser()
    parts = []
    text = "The user greets.\n</think>\n\nHello!"
    for at in range(0, len(text), size):
        parts += parser.feed(text[at:at + size])
    parts += parser.finish()
    assert parser.late_thought == "The user greets.\n"
    assert "".join(t for _, t in parts) == "The user greets.\nHello!"
    assert split_reasoning("No tags at all.") == ("", "No tags at all.")
    assert detect_format("").parser().late_thought is None

"""The app's sandboxed renderer against llama-cpp-python's reference renderer
(``Jinja2ChatFormatter``), on every chat template that ships in the
llama-cpp-python 0.3.36 sdist (fetched once with pip, read at test time), for
conversations with and without past reasoning and with the thinking switches."""

from __future__ import annotations

import pytest

from tui_llm.prompts.templates import PromptTemplate

PAST = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4.", "reasoning_content": "Two and two make four."},
    {"role": "user", "content": "And 3+3?"},
]
CASES = {
    "one question": ([{"role": "user", "content": "Hi"}], {}),
    "system first": ([{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"}], {}),
    "past reasoning": (PAST, {}),
    "past reasoning, no generation prompt": (PAST[:2], {"add_generation_prompt": False}),
    "thinking off": (PAST, {"enable_thinking": False}),
    "effort low": (PAST, {"reasoning_effort": "low"}),
}
BOS, EOS = "<s>", "</s>"


def reference(source: str, messages, variables) -> str:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    variables = dict(variables)
    add = variables.pop("add_generation_prompt", True)
    formatter = Jinja2ChatFormatter(
        template=source, eos_token=EOS, bos_token=BOS, add_generation_prompt=add
    )
    return formatter(messages=[dict(m) for m in messages], **variables).prompt


def ours(source: str, messages, variables) -> str:
    variables = dict(variables)
    add = variables.pop("add_generation_prompt", True)
    template = PromptTemplate("t", source, bos_token=BOS, eos_token=EOS)
    return template.with_variables(**variables).render(
        [dict(m) for m in messages], add_generation_prompt=add
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_shipped_template_renders_as_the_reference_does(llama_templates, case):
    messages, variables = CASES[case]
    compared = 0
    with_thought: list[str] = []
    failures: list[str] = []
    for name, source in sorted(llama_templates.items()):
        try:
            expected = reference(source, messages, variables)
        except Exception:  # the template refuses this conversation: nothing to compare
            continue
        compared += 1
        try:
            got = ours(source, messages, variables)
        except Exception as exc:
            failures.append(f"{name}: {exc}")
            continue
        if got != expected:
            failures.append(f"{name}: renders differently")
        elif "Two and two make four." in got:
            with_thought.append(name)
    assert not failures, failures
    assert compared >= 40, compared  # most templates take every conversation here
    if case == "past reasoning, no generation prompt":
        # the last reply's reasoning is rendered by the templates that keep it
        assert {"Qwen-Qwen3-0.6B.jinja", "Qwen3.5-4B.jinja"} <= set(with_thought), with_thought

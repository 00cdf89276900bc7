"""Prompt templates: presets, detection, user files, and the sandbox against hostile templates."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tui_llm import locations
from tui_llm.config import AppConfig, ModelOverrides, load_config, save_config
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.contract import GenerationError
from tui_llm.machine.hardware import Hardware
from tui_llm.machine.plan import plan_for_file
from tui_llm.models.info import ModelInfo
from tui_llm.prompts.templates import (
    check_template,
    PromptTemplate,
    TemplateNotFound,
    TemplateRenderError,
    detect_template,
    get_template,
    load_library,
    load_presets,
    render_template,
)

CONVERSATION = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Q"},
]

EXPECTED = {
    "chatml": "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n",
    "alpaca": "SYS\n\n### Instruction:\nHi\n\n### Response:\nHello\n\n### Instruction:\nQ\n\n### Response:\n",
    "vicuna": "SYS USER: Hi ASSISTANT: Hello</s>USER: Q ASSISTANT:",
    "mistral": "<s>[INST] SYS\n\nHi [/INST]Hello</s>[INST] Q [/INST]",
    "llama2": "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Q [/INST]",
    "llama3": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma": "<bos><start_of_turn>user\nSYS\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
    "<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n",
    "phi3": "<|system|>\nSYS<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n"
    "<|user|>\nQ<|end|>\n<|assistant|>\n",
    "zephyr": "<|system|>\nSYS</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nQ</s>\n<|assistant|>\n",
    "command-r": "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>SYS<|END_OF_TURN_TOKEN|>"
    "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
    "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello<|END_OF_TURN_TOKEN|>"
    "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Q<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
    "openchat": "<s>SYS<|end_of_turn|>GPT4 Correct User: Hi<|end_of_turn|>GPT4 Correct Assistant: Hello"
    "<|end_of_turn|>GPT4 Correct User: Q<|end_of_turn|>GPT4 Correct Assistant:",
    "metharme": "<|system|>SYS<|user|>Hi<|model|>Hello<|user|>Q<|model|>",
    "story": "SYS\n\nHiHelloQ",
    "adventure": "SYS\n\n> Hi\n\nHello\n\n> Q\n\n",
}


def model_info(
    file_name: str = "model.gguf",
    name: str = "",
    architecture: str = "llama",
    template: str | None = None,
    bos: str = "<s>",
    eos: str = "</s>",
) -> ModelInfo:
    return ModelInfo(
        path=Path("/models") / file_name,
        name=name or Path(file_name).stem,
        architecture=architecture,
        n_ctx=2048,
        n_ctx_train=2048,
        embedded_template=template,
        bos_token=bos,
        eos_token=eos,
    )


# -- presets ----------------------------------------------------------------
def test_every_required_preset_ships_and_loads_cleanly():
    library = load_library()
    assert library.problems == []
    assert set(EXPECTED) <= set(library.templates)
    for template in library.templates.values():
        assert template.note, f"{template.name} has no note on which models use it"
        assert template.title
        if template.kind == "chat":
            assert template.stop, f"{template.name} has no stop strings"
    assert {t.name for t in library.templates.values() if t.kind == "framing"} >= {"story", "adventure"}


def test_every_shipped_preset_passes_the_check_a_user_file_gets():
    # Shipped presets are not render-checked on every start; this is where they are.
    for template in load_library().templates.values():
        if template.origin == "built-in":
            check_template(template)


def test_a_remembered_match_gives_what_comparing_gave(isolated_home):
    source = (
        "{% for m in messages %}{{ '<|im_start|>' ~ m.role ~ '\n' ~ m.content ~ '<|im_end|>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    custom = "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}<<assistant>>"
    first = [detect_template(model_info("a.gguf", template=t, eos="<end>")) for t in (source, custom)]
    remembered = locations.cache_dir() / "template-matches.json"
    assert len(json.loads(remembered.read_text())) == 2
    again = [detect_template(model_info("a.gguf", template=t, eos="<end>")) for t in (source, custom)]
    assert again == first
    assert again[0][0].name == "chatml" and again[1][0].name == "embedded"
    remembered.write_text("{not json")
    assert [detect_template(model_info("a.gguf", template=t, eos="<end>")) for t in (source, custom)] == first


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_renders_its_documented_format(name):
    assert get_template(name).render(CONVERSATION) == EXPECTED[name]


def test_presets_use_the_models_own_special_tokens():
    llama2 = get_template("llama2").with_tokens("<BOS>", "<EOS>")
    assert llama2.render(CONVERSATION).startswith("<BOS>[INST]")
    assert " Hello <EOS><BOS>[INST]" in llama2.render(CONVERSATION)
    # A model that reports no token text keeps the preset's own.
    assert get_template("llama2").with_tokens("", "").bos_token == "<s>"


def test_generation_prompt_is_left_off_when_asked():
    chatml = get_template("chatml")
    text = chatml.render(CONVERSATION[:3], add_generation_prompt=False)
    assert text.endswith("Hello<|im_end|>\n")


def test_unknown_template_name_lists_the_known_ones():
    with pytest.raises(TemplateNotFound, match="chatml"):
        get_template("no-such-format")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_our_rendering_matches_llama_cpp_python_for_every_preset(name):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = get_template(name)
    for messages in (CONVERSATION, CONVERSATION[1:], CONVERSATION[1:2]):
        theirs = Jinja2ChatFormatter(
            template=template.source, eos_token=template.eos_token, bos_token=template.bos_token
        )(messages=messages).prompt
        assert template.render(messages) == theirs


# -- the real test model ------------------------------------------------------
@pytest.mark.model
async def test_real_model_template_is_detected_and_renders_like_llama_cpp(model_path, tiny_load):
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    vocab = llama_cpp.Llama(str(model_path), vocab_only=True, verbose=False)
    source = vocab.metadata["tokenizer.chat_template"]
    bos = vocab._model.token_get_text(vocab.token_bos())
    eos = vocab._model.token_get_text(vocab.token_eos())
    vocab.close()
    formatter = Jinja2ChatFormatter(template=source, eos_token=eos, bos_token=bos)

    runner = LlamaCppRunner()
    try:
        await runner.load(model_path, tiny_load)
        # SmolLM2 embeds ChatML plus a default system prompt: used as is, named as a ChatML variant.
        assert runner.template.name == "embedded"
        assert runner.template.source == source
        assert "ChatML" in runner.template_reason
        assert "<|im_end|>" in runner.template.stop
        conversations = [
            CONVERSATION,
            CONVERSATION[1:],
            CONVERSATION[1:2],
            [{"role": "user", "content": "Ünïcödé {{ not a tag }} <|im_end|>"}],
        ]
        for messages in conversations:
            assert await runner.render(messages) == formatter(messages=messages).prompt

        # A hostile template swapped in fails the send with words, not a crash.
        runner.set_template(PromptTemplate(name="evil", source="{{ ''.__class__.__mro__ }}"), "test")
        with pytest.raises(GenerationError, match="could not be used.*unsafe"):
            async for _ in runner.stream(CONVERSATION[1:2]):
                pass
    finally:
        await runner.close()


# -- detection ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("mistral-7b-instruct-v0.2.Q4_K_M.gguf", "mistral"),
        ("Mixtral-8x7B-Instruct-v0.1.i1-Q4_K_M.gguf", "mistral"),
        ("openhermes-2.5-mistral-7b.Q4_K_M.gguf", "chatml"),
        ("Nous-Hermes-2-Mixtral-8x7B-DPO.i1-Q4_K_M.gguf", "chatml"),
        ("Hermes-3-Llama-3.1-8B.Q4_K_M.gguf", "chatml"),
        ("dolphin-2.6-mistral-7b.Q4_K_M.gguf", "chatml"),
        ("mistral-7b-openorca.Q4_K_M.gguf", "chatml"),
        ("TinyDolphin-2.8-1.1b.Q4_K_M.imx.gguf", "chatml"),
        ("stablelm-2-1_6b-chat.Q4_K_M.imx.gguf", "chatml"),
        ("phi-2-orange-v2.IQ2_M.imx.gguf", "chatml"),
        ("qwen2.5-7b-instruct-q4_k_m.gguf", "chatml"),
        ("zephyr-7b-beta.Q4_K_M.gguf", "zephyr"),
        ("stablelm-2-zephyr-1_6b-Q4_K_M.gguf", "zephyr"),
        ("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "zephyr"),
        ("gemma-2b-it.Q4_K_M.gguf", "gemma"),
        ("Phi-3-mini-4k-instruct-q4.gguf", "phi3"),
        ("c4ai-command-r-v01-Q4_K_M.gguf", "command-r"),
        ("openchat-3.5-1210.Q4_K_M.gguf", "openchat"),
        ("Starling-LM-7B-alpha.Q4_K_M.gguf", "openchat"),
        ("pygmalion-2-7b.Q4_K_M.gguf", "metharme"),
        ("mythalion-13b.Q4_K_M.gguf", "metharme"),
        ("vicuna-13b-v1.5.Q4_K_M.gguf", "vicuna"),
        ("WizardLM-13B-V1.2.Q4_K_M.gguf", "vicuna"),
        ("Meta-Llama-3-8B-Instruct.Q4_K_M.gguf", "llama3"),
        ("llama-2-7b-chat.Q4_K_M.gguf", "llama2"),
        ("mythomax-l2-13b.Q4_K_M.gguf", "alpaca"),
        ("Kunoichi-DPO-v2-7B-Q4_K_M-imatrix.gguf", "alpaca"),
        ("Fimbulvetr-11B-v2.i1-Q4_K_M.gguf", "alpaca"),
    ],
)
def test_file_name_picks_the_format(file_name, expected):
    template, reason = detect_template(model_info(file_name))
    assert template.name == expected
    assert "guessed from the name" in reason
    assert "no chat template of its own" in reason


def test_model_name_from_metadata_counts_too():
    template, _ = detect_template(model_info("model.gguf", name="Zephyr 7B Beta"))
    assert template.name == "zephyr"


def test_architecture_is_the_next_clue():
    template, reason = detect_template(model_info("mystery.gguf", architecture="gemma2"))
    assert template.name == "gemma"
    assert "architecture" in reason


def test_unknown_model_falls_back_to_chatml_with_a_warning():
    template, reason = detect_template(model_info("mystery.gguf", architecture="llama"))
    assert template.name == "chatml"
    assert reason.startswith("warning:")


def test_embedded_template_equal_to_a_preset_is_named_after_it():
    # Written differently from our ChatML file, renders the same.
    source = (
        "{% for m in messages %}{{ '<|im_start|>' ~ m.role ~ '\n' ~ m.content ~ '<|im_end|>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    template, reason = detect_template(model_info("llama-2-7b-chat.gguf", template=source))
    assert template.name == "chatml"
    assert "model's own chat template" in reason and "ChatML format" in reason


def test_embedded_template_that_refuses_system_still_matches_mistral():
    source = (
        "{{ bos_token }}{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
    )
    template, reason = detect_template(model_info("whatever.gguf", template=source))
    assert template.name == "mistral"
    assert "Mistral" in reason


def test_custom_embedded_template_is_used_as_is():
    source = "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}<<assistant>>"
    template, reason = detect_template(model_info("mistral-7b-instruct.gguf", template=source, eos="<end>"))
    assert template.name == "embedded"
    assert template.source == source
    assert template.stop == ("<end>",)
    assert "custom format" in reason
    assert template.render(CONVERSATION[1:2]) == "<<user>>Hi<<assistant>>"


def test_explicit_choice_wins_and_says_it_differs_from_the_embedded_template():
    source = "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}"
    template, reason = detect_template(model_info("x.gguf", template=source), override="alpaca")
    assert template.name == "alpaca"
    assert "chosen in settings" in reason
    assert "differs from the model's own template" in reason


def test_choice_saved_per_model_in_the_config_file_is_used():
    config = AppConfig()
    config.set_overrides("Fancy-7B.Q4_K_M.gguf", ModelOverrides(template="vicuna"))
    save_config(config, locations.config_file())
    loaded = load_config(locations.config_file())
    machine = Hardware(ram_total=8 * 1024**3, ram_available=6 * 1024**3)
    plan = plan_for_file(loaded, Path("Fancy-7B.Q4_K_M.gguf"), machine)
    assert plan.template == "vicuna"
    template, reason = detect_template(model_info("Fancy-7B.Q4_K_M.gguf", template=None), plan.template)
    assert template.name == "vicuna"
    assert "chosen in settings for Fancy-7B.Q4_K_M.gguf" in reason
    # Another file is not affected.
    other = plan_for_file(loaded, Path("zephyr-7b-beta.gguf"), machine)
    assert other.template is None
    assert detect_template(model_info("zephyr-7b-beta.gguf"), other.template)[0].name == "zephyr"


def test_unknown_choice_is_reported_and_detection_goes_on():
    template, reason = detect_template(model_info("zephyr-7b-beta.gguf"), override="nope")
    assert template.name == "zephyr"
    assert "'nope' chosen in settings does not exist" in reason


def test_hostile_embedded_template_is_skipped_with_a_reason():
    source = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    template, reason = detect_template(model_info("zephyr-7b-beta.gguf", template=source))
    assert template.name == "zephyr"
    assert "could not be used" in reason and "unsafe" in reason


# -- user templates -------------------------------------------------------------
GOOD_USER_TEMPLATE = '''
name = "mine"
title = "My format"
note = "For my fine-tune."
stop = ["<END>"]
template = """{% for m in messages %}[{{ m.role }}] {{ m.content }}
{% endfor %}[assistant] """
[detect]
names = ["my-finetune"]
priority = 99
'''


def test_user_templates_are_loaded_and_bad_files_are_named_and_skipped():
    folder = locations.user_templates_dir()
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text(GOOD_USER_TEMPLATE, encoding="utf-8")
    (folder / "chatml.toml").write_text(
        'note = "mine"\nstop = ["X"]\ntemplate = "{% for m in messages %}{{ m.content }}{% endfor %}"\n',
        encoding="utf-8",
    )
    (folder / "broken-toml.toml").write_text("name = 'x\n", encoding="utf-8")
    (folder / "no-template.toml").write_text('note = "nothing"\n', encoding="utf-8")
    (folder / "bad-jinja.toml").write_text('template = "{% for m in messages %}"\n', encoding="utf-8")
    (folder / "evil.toml").write_text('template = "{{ \'\'.__class__ }}"\n', encoding="utf-8")
    (folder / "bad-regex.toml").write_text('template = "x"\n[detect]\nnames = ["("]\n', encoding="utf-8")

    library = load_library()
    problems = "\n".join(library.problems)
    for name in ("broken-toml.toml", "no-template.toml", "bad-jinja.toml", "evil.toml", "bad-regex.toml"):
        assert name in problems
    assert len(library.problems) == 5
    mine = library.templates["mine"]
    assert mine.render(CONVERSATION[1:2]) == "[user] Hi\n[assistant] "
    assert library.templates["chatml"].stop == ("X",)  # the user's file wins on a clash
    assert "evil" not in library.templates and "bad-jinja" not in library.templates
    assert set(EXPECTED) <= set(load_presets())
    template, _ = detect_template(model_info("my-finetune-7b.gguf"))
    assert template.name == "mine"


# -- the sandbox --------------------------------------------------------------------
BIG = "{% set big = 'x' * 3000000 %}"
HOSTILE = {
    "subclasses": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    "subscript_walk": ("{{ ''['__class__']['__mro__'] }}", "unsafe"),
    "cycler_to_os": ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "unsafe"),
    "joiner_to_os": ("{{ joiner.__init__.__globals__['os'] }}", "unsafe"),
    "namespace_to_os": ("{{ namespace.__init__.__globals__.os }}", "unsafe"),
    "attr_filter": ("{{ ''|attr('__class__') }}", "unsafe"),
    "template_context": ("{{ self._TemplateReference__context }}", "unsafe"),
    "format_walk": ("{{ '{0.__class__.__mro__}'.format('') }}", "unsafe"),
    "include_file": ("{% include '/etc/passwd' %}", "may not read files"),
    "import_file": ("{% import '/etc/passwd' as x %}", "may not read files"),
    "extends_file": ("{% extends '/etc/passwd' %}", "may not read files"),
    "huge_range": ("{% for i in range(10**9) %}x{% endfor %}", "1e+09"),
    "huge_range_literal": ("{% for i in range(1000000000) %}x{% endfor %}", "1e+09"),
    "nested_ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "steps of work",
    ),
    "string_multiplication": ("{{ 'a' * 10**9 }}", "repeated a value"),
    "list_multiplication": ("{{ [1, 2] * 100000000 }}", "repeated a value"),
    "doubling_concat": (
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "joined a text",
    ),
    "doubling_plus": (
        "{% set ns = namespace(s=['ab']) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "built a value",
    ),
    "big_power": ("{{ 10 ** (10 ** 8) }}", "power too large"),
    "squaring_loop": (
        "{% set ns = namespace(n=10) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "number larger",
    ),
    "endless_macro": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself"),
    "endless_recursive_loop": ("{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}", "calls itself"),
    "format_width": ("{{ '{:>999999999}'.format(1) }}", "enormous width"),
    "percent_width": ("{{ '%999999999s' % 1 }}", "enormous width"),
    "format_filter_width": ("{{ '%999999999s'|format(1) }}", "enormous width"),
    "star_width": ("{{ '%*s' % (999999999, 'a') }}", "1e+09"),
    "center": ("{{ 'a'|center(10**9) }}", "1e+09"),
    "ljust": ("{{ 'a'.ljust(10**9) }}", "1e+09"),
    "captured_output": (
        BIG + "{% set x %}{% for i in range(100000) %}{{ big }}{% endfor %}{% endset %}{{ x|length }}",
        "wrote more than",
    ),
    "captured_literal": (
        "{% macro m() %}{% for i in range(100000) %}" + "L" * 2000 + "{% endfor %}{% endmacro %}{{ m()|length }}",
        "wrote more than",
    ),
    "join_separator": (BIG + "{{ range(1000)|join(big) }}", "join a text"),
    "join_method": (BIG + "{{ big.join(range(1000)|map('string')) }}", "join a text"),
    "join_lazy": (BIG + "{{ range(2000)|map('string')|map('replace', '1', big)|join }}", "replace"),
    "list_of_refs_printed": (
        BIG + "{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = ns.l + [big] %}"
        "{% endfor %}{{ ns.l }}",
        "more than",
    ),
    "replace_bomb": (BIG + "{{ big.replace('x', big) }}", "replace"),
    "indent_bomb": ("{{ ('\\n' * 3000000)|indent(999999) }}", "indent"),
    "expandtabs": ("{{ ('\\t' * 100).expandtabs(100) }}", "may not call expandtabs"),
    "tojson_indent": ("{{ [[[1]]]|tojson(indent=999) }}", "odd JSON"),
    "date_format": ("{{ strftime_now('%99999999Y') }}", "odd date format"),
    "huge_source": ("x" * 300_000, "characters long"),
    "refuses": ("{{ raise_exception('no system role') }}", "no system role"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_renders_nothing_and_says_why(name):
    source, expected = HOSTILE[name]
    tracemalloc.start()
    try:
        with pytest.raises(TemplateRenderError) as caught:
            render_template(source, time_limit=5.0, messages=[], add_generation_prompt=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert expected in str(caught.value)
    assert peak < 128 * 2**20, f"{name} allocated {peak / 2**20:.0f} MiB before it was stopped"


def test_cpu_bomb_without_output_stops_at_the_time_limit():
    # Exponential macro fan-out: few steps per call, no output, no big values.
    source = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    with pytest.raises(TemplateRenderError, match="longer than 0.3 s"):
        render_template(source, time_limit=0.3)


def test_ordinary_template_features_still_work():
    source = (
        "{% set ns = namespace(n=0) %}{% for m in messages if m.role != 'system' %}"
        "{% set ns.n = ns.n + 1 %}{{ loop.index }}/{{ loop.length }}:{{ m.content|upper }};"
        "{% if loop.last %}{% break %}{% endif %}{% endfor %}"
        "{{ ns.n }} {{ messages|map(attribute='role')|join(',') }} {{ {'a': 'é'}|tojson }}"
        "{% generation %}!{% endgeneration %}"
    )
    out = render_template(source, messages=CONVERSATION)
    assert out == '1/3:HI;2/3:HELLO;3/3:Q;3 system,user,assistant,user {"a": "é"}!'

"""Hostile chat templates in a GGUF: contained at load time and at render time.

Each case runs in a child process and asserts its outcome, its time and its
peak memory. The bounds are far above a normal run (about a second, a few
hundred MB with the test model) and far below what the attacks need unchecked
(minutes, gigabytes).
"""

from __future__ import annotations

import pytest
from gguf_writer import with_chat_template
from measured import run_python

MB = 1024**2
LOAD_SECONDS, LOAD_RSS = 30, 700 * MB
RENDER_SECONDS, RENDER_RSS = 20, 300 * MB

# Each folds to a constant when a plain Jinja environment compiles it.
COMPILE_BOMBS = {
    "memory": "{{ 'a' * 3000000000 }}",
    "time": "{{ 7 ** 100000000 % 10 }}",
}

LOAD = r"""
import asyncio, sys
from pathlib import Path
sys.path.insert(0, ".")
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings

async def main():
    runner = LlamaCppRunner()
    await runner.load(Path(sys.argv[1]), LoadSettings(n_ctx=256))
    print("template:", runner.template.name, "|", runner.template_reason)
    print("embedded:", runner.info.embedded_template[:40])
    await runner.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", sorted(COMPILE_BOMBS))
def test_load_never_compiles_the_files_templates(kind, model_path, tmp_path):
    bomb = COMPILE_BOMBS[kind] + "{% for m in messages %}{{ m.content }}{% endfor %}"
    hostile = with_chat_template(model_path, tmp_path / "hostile.gguf", bomb)
    run = run_python(LOAD, str(hostile), timeout=LOAD_SECONDS * 2)
    assert run.rc == 0, run.err[-2000:]
    assert run.seconds < LOAD_SECONDS
    assert run.peak_rss < LOAD_RSS, f"{run.peak_rss / MB:.0f} MB"
    assert "embedded: " + bomb[:30] in run.out
    # The app's own sandbox refuses it, and a preset takes over.
    assert "the model's own template could not be used: template stopped" in run.out
    assert "Traceback" not in run.err


BIG = "{% set s = 'a'|center(1000000) %}"
MANY = "{% set ns = namespace(l=[]) %}{% for i in range(3000) %}{% set ns.l = ns.l + [s] %}{% endfor %}"
# Each builds gigabytes in one operation unless a guard sees it coming.
RENDER_BOMBS = {
    "shared references to json": BIG + MANY + "{{ ns.l|tojson }}",
    "shared references to text": BIG + MANY + "{{ ns.l }}",
    "one long concatenation": BIG + "{{ s" + "~s" * 3000 + " }}",
    "format field repeated": BIG + "{{ ('{0}' * 3000).format(s) }}",
    "format width from an argument": "{{ '{:>{w}}'.format('a', w='999999999') }}",
    "format widths summed": "{{ ('{0:>999999}' * 3000).format('a') }}",
    "percent width after a key": "{{ '%(a)999999999s' % {'a': 'x'} }}",
    "percent field repeated": BIG + "{{ ('%(a)s' * 3000) % {'a': s} }}",
    "sum of lists": "{% set s = ['a'] * 700000 %}" + MANY + "{{ ns.l|sum(start=[])|length }}",
}

RENDER = r"""
import sys
sys.path.insert(0, ".")
from tui_llm.prompts.sandbox import TemplateRenderError, render_template
try:
    print("rendered", len(render_template(sys.argv[1], messages=[])))
except TemplateRenderError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("name", sorted(RENDER_BOMBS))
def test_sandbox_refuses_before_building_a_huge_value(name):
    run = run_python(RENDER, RENDER_BOMBS[name], timeout=RENDER_SECONDS * 2)
    assert run.rc == 0, run.err[-2000:]
    assert run.out.startswith("refused: template stopped"), run.out
    assert run.seconds < RENDER_SECONDS
    assert run.peak_rss < RENDER_RSS, f"{run.peak_rss / MB:.0f} MB"

"""Render untrusted chat templates: Jinja2's immutable sandbox plus work limits.

A GGUF's ``tokenizer.chat_template`` is untrusted input (CVE-2024-34359). The
sandbox stops attribute walks to ``__subclasses__``, ``os`` and friends; it
does not stop a template from burning CPU or memory. Renders therefore run
under a per-render budget (:mod:`tui_llm.prompts.guards`), checked wherever
template code can do work:

- every loop item (each ``for`` iterable is wrapped at compile time),
- every call, and the operators ``*``, ``**``, ``+`` and ``%``,
- every piece of output, captured or not (``{% set %}`` blocks, macros).

A render that takes too many steps, passes its deadline, or grows text past
the size limits stops with :class:`TemplateRenderError`. Checking in-process
keeps a normal render well under a millisecond; a subprocess per render would
cost ~100 ms per message and could not share the app's threads safely. What
is left unchecked is one built-in operation on bounded inputs, which is cheap.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any

from jinja2 import BaseLoader, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from tui_llm.prompts.guards import (
    MAX_RENDERED_CHARS,
    Refused,
    check_binop,
    check_brace_format,
    check_method_call,
    check_number_args,
    check_result,
    guard_concat,
    guard_filter,
    guard_iter,
    guard_out,
    render_budget,
    tick,
)

MAX_TEMPLATE_CHARS = 256_000
RENDER_TIME_LIMIT = 2.0

_ITER_FILTER = "_tui_guard_iter"
_OUT_FILTER = "_tui_guard_out"
_CONCAT_FILTER = "_tui_guard_concat"


class TemplateRenderError(ValueError):
    """A template that failed to render, or tried something it may not."""


class _ChatSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        check_binop(operator, left, right)
        return check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        tick()
        check_number_args(args)
        check_number_args(kwargs.values())
        args = check_method_call(__obj, args, kwargs)
        return check_result(super().call(__context, __obj, *args, **kwargs))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def checked_format(*args: Any, **kwargs: Any) -> Any:
            if value.__name__ == "format_map":
                check_brace_format(text, (), args[0] if args else None)
            else:
                check_brace_format(text, args, kwargs)
            return wrapped(*args, **kwargs)

        return checked_format


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Instrument(NodeTransformer):
    """Route loops, output and string joins of a parsed template through the guards."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _ITER_FILTER)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        node.nodes = [_filter(child, _OUT_FILTER) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), _CONCAT_FILTER)


class _NoFiles(BaseLoader):
    def get_source(self, environment: Any, template: str) -> Any:
        raise Refused(f"the template tried to load {template!r}; templates may not read files")


class _GenerationTags(Extension):
    """Hugging Face's ``{% generation %}...{% endgeneration %}`` marks; rendered as their body."""

    tags = {"generation"}

    def parse(self, parser: Any) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # As Transformers and llama-cpp-python render it: no HTML escaping.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    if len(fmt) > 200 or re.search(r"\d{4,}", fmt):
        raise Refused("the template asked for an odd date format")
    return datetime.now().strftime(fmt)


def _raise_exception(message: str) -> None:
    raise TemplateRenderError(f"the template refused these messages: {message}")


@functools.lru_cache(maxsize=1)
def _environment() -> _ChatSandbox:
    env = _ChatSandbox(
        loader=_NoFiles(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTags, loopcontrols],
    )
    env.filters["tojson"] = _tojson
    del env.globals["lipsum"]  # unused by chat templates; lipsum(10**5) is a CPU bomb
    env.filters = {name: guard_filter(name, func) for name, func in env.filters.items()}
    env.filters[_ITER_FILTER] = guard_iter
    env.filters[_OUT_FILTER] = guard_out
    env.filters[_CONCAT_FILTER] = guard_concat
    return env


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> Any:
    env = _environment()
    tree = _Instrument().visit(env.parse(source))
    return env.from_string(tree)


def compile_template(source: str) -> None:
    """Check that ``source`` parses; raises :class:`TemplateRenderError` if not."""
    _compiled(source)


def _compiled(source: str) -> Any:
    if not isinstance(source, str):
        raise TemplateRenderError("the template is not text")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRenderError(
            f"the template is {len(source):,} characters long (limit {MAX_TEMPLATE_CHARS:,})"
        )
    try:
        return _compile(source)
    except TemplateRenderError:
        raise
    except RecursionError as exc:
        raise TemplateRenderError("the template is nested too deeply to read") from exc
    except Exception as exc:  # a syntax error, or anything else the parser hits
        raise TemplateRenderError(f"the template is broken: {exc}") from exc


def render_template(source: str, time_limit: float = RENDER_TIME_LIMIT, **context: Any) -> str:
    """Render a chat template in the sandbox; every failure becomes TemplateRenderError.

    ``context`` holds the variables Hugging Face chat templates expect
    (``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token`` ...);
    ``raise_exception`` and ``strftime_now`` are provided.
    """
    template = _compiled(source)
    context.setdefault("raise_exception", _raise_exception)
    context.setdefault("strftime_now", _strftime_now)
    try:
        with render_budget(time_limit):
            pieces: list[str] = []
            size = 0
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_RENDERED_CHARS:
                    raise Refused(
                        f"the template produced a prompt of more than {MAX_RENDERED_CHARS:,} characters"
                    )
                pieces.append(piece)
            return "".join(pieces)
    except TemplateRenderError:
        raise
    except Refused as exc:
        raise TemplateRenderError(f"template stopped: {exc}") from None
    except SecurityError as exc:
        raise TemplateRenderError(f"the template tried an unsafe operation: {exc}") from None
    except RecursionError:
        raise TemplateRenderError("the template calls itself without end") from None
    except MemoryError:
        raise TemplateRenderError("the template needed too much memory") from None
    except Exception as exc:  # anything a hostile or broken template can raise
        raise TemplateRenderError(f"the template failed: {type(exc).__name__}: {exc}") from None

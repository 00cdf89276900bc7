"""Render untrusted chat templates: Jinja2's immutable sandbox plus work limits.

A GGUF's ``tokenizer.chat_template`` is untrusted input (CVE-2024-34359). The
sandbox stops attribute walks to ``__subclasses__``, ``os`` and friends; it
does not stop a template from burning CPU or memory. Renders therefore run
under a per-render budget, checked wherever template code can do work:

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

import contextvars
import functools
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator

from jinja2 import BaseLoader, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace, pass_context
from jinja2.visitor import NodeTransformer

MAX_TEMPLATE_CHARS = 256_000
MAX_RENDERED_CHARS = 4_000_000
MAX_EMITTED_CHARS = 4 * MAX_RENDERED_CHARS
MAX_STEPS = 1_000_000
MAX_NUMBER_ARG = 1_000_000
MAX_INT_BITS = 4096
RENDER_TIME_LIMIT = 2.0

_ITER_FILTER = "_tui_guard_iter"
_OUT_FILTER = "_tui_guard_out"
_PIECE_FILTER = "_tui_guard_piece"
_SIZE_FILTER = "_tui_guard_size"
_BIG_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*\d{7,}")
_BIG_PERCENT_SPEC = re.compile(r"%[-#0 +]*(\d{7,}|\d*\.\d{7,})")
# Filters that never turn a container into text; every other one may call str() on it.
_CONTAINER_SAFE_FILTERS = {
    "length", "count", "first", "last", "list", "map", "select", "reject", "selectattr",
    "rejectattr", "sort", "unique", "reverse", "dictsort", "items", "default", "d", "batch",
    "slice", "groupby", "min", "max", "sum", "random", "attr", "abs", "int", "float", "round",
    "tojson", "join",
}
# String methods that can multiply text without a number argument to check.
_BLOCKED_METHODS = {"translate", "maketrans", "expandtabs"}


class TemplateRenderError(ValueError):
    """A template that failed to render, or tried something it may not."""


class _Refused(Exception):
    """Raised inside a render; not a ValueError so no filter swallows it."""


@dataclass
class _Budget:
    deadline: float
    time_limit: float
    steps: int = 0
    emitted: int = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Refused(
                f"the template did more than {MAX_STEPS:,} steps of work "
                "(a runaway or nested loop?)"
            )
        if time.monotonic() > self.deadline:
            raise _Refused(f"the template took longer than {self.time_limit:g} s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "tui_llm_template_budget", default=None
)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _estimated_chars(value: Any, limit: int = MAX_RENDERED_CHARS) -> int:
    """Roughly how long ``str(value)`` would be, without building it; stops past ``limit``."""
    total = 0
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, dict, Namespace)):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            if isinstance(item, Namespace):
                item = object.__getattribute__(item, "_Namespace__attrs")
            if isinstance(item, dict):
                total += 4 * len(item) + 2
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                total += 2 * len(item) + 2
                stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 24
        if total > limit:
            raise _Refused(f"the template would build a text of more than {limit:,} characters")
    return total


def _check_result(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_RENDERED_CHARS:
        raise _Refused(
            f"the template built a value of {len(value):,} items "
            f"(limit {MAX_RENDERED_CHARS:,})"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _Refused(f"the template built a number larger than {MAX_INT_BITS} bits")
    return value


def _check_number_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, (int, float)) and not isinstance(arg, bool) and abs(arg) > MAX_NUMBER_ARG:
            raise _Refused(
                f"the template passed the number {arg:.3g} to a function "
                f"(limit {MAX_NUMBER_ARG:,})"
            )


def _check_brace_format(text: str) -> None:
    if _BIG_BRACE_SPEC.search(text):
        raise _Refused("the template used a format string with an enormous width or precision")


def _check_percent_format(text: str, args: Any) -> None:
    if _BIG_PERCENT_SPEC.search(text):
        raise _Refused("the template used a format string with an enormous width or precision")
    _check_number_args(args if isinstance(args, tuple) else (args,))
    _estimated_chars(args)


def _int_bits(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value.bit_length()


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, dict, Namespace))


def _materialized(value: Any) -> Any:
    """Turn a lazy iterable into a list, one budget step per item."""
    if isinstance(value, (str, bytes)) or _is_container(value) or not hasattr(value, "__iter__"):
        return value
    items = []
    for item in value:
        _tick()
        items.append(item)
    return items


def _check_join(items: Any, separator: Any) -> None:
    count = len(items) if hasattr(items, "__len__") else 0
    sep = len(separator) if isinstance(separator, str) else 0
    if _estimated_chars(items) + sep * count > MAX_RENDERED_CHARS:
        raise _Refused(f"the template would join a text of more than {MAX_RENDERED_CHARS:,} characters")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * max(len(new) - len(old), 0) > MAX_RENDERED_CHARS:
            raise _Refused(
                f"the template's replace() would build more than {MAX_RENDERED_CHARS:,} characters"
            )


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if _int_bits(left) and _int_bits(right) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise _Refused(f"the template computed a power too large to hold ({left} ** {right})")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int) and count > 0:
                if _estimated_chars(seq) * count > MAX_RENDERED_CHARS:
                    raise _Refused(
                        f"the template repeated a value {count:,} times, "
                        f"past the {MAX_RENDERED_CHARS:,} character limit"
                    )
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise _Refused(f"the template built a number larger than {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)


def _check_method_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    name = getattr(obj, "__name__", "")
    owner = getattr(obj, "__self__", None)
    if name in _BLOCKED_METHODS:
        raise _Refused(f"the template may not call {name}()")
    if name == "join" and isinstance(owner, str) and args:
        items = _materialized(args[0])
        _check_join(items, owner)
        return (items, *args[1:])
    if name == "replace" and isinstance(owner, str) and len(args) >= 2:
        _check_replace(owner, args[0], args[1])
    if name in {"format", "format_map"}:
        _estimated_chars(args)
        _estimated_chars(kwargs)
    return args


class _ChatSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        _check_number_args(args)
        _check_number_args(kwargs.values())
        args = _check_method_call(__obj, args, kwargs)
        return _check_result(super().call(__context, __obj, *args, **kwargs))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_brace_format(value.__self__)
        return wrapped


def _param(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _check_filter(name: str, value: Any, params: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Bound what one filter call may build, before it builds it."""
    if name == "replace":
        _check_replace(
            value if isinstance(value, str) else str(value),
            _param(params, kwargs, 0, "old", ""),
            _param(params, kwargs, 1, "new", ""),
        )
    elif name == "indent":
        width = _param(params, kwargs, 0, "width", 4)
        unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = value.count("\n") + 1 if isinstance(value, str) else 1
        if len(str(value)) + lines * unit > MAX_RENDERED_CHARS:
            raise _Refused("the template's indent would build too long a text")
    elif name == "wordwrap":
        wrap = _param(params, kwargs, 2, "wrapstring", None)
        if isinstance(wrap, str) and isinstance(value, str):
            if len(value) * (len(wrap) + 1) > MAX_RENDERED_CHARS:
                raise _Refused("the template's wordwrap would build too long a text")
    elif name == "format" and isinstance(value, str):
        _check_percent_format(value, tuple(params) or kwargs)
    elif name == "tojson":
        indent = _param(params, kwargs, 1, "indent", None)
        separators = _param(params, kwargs, 2, "separators", None)
        if isinstance(indent, int) and indent > 16 or separators and len(str(separators)) > 32:
            raise _Refused("the template asked for odd JSON formatting")
        _estimated_chars(value)


def _guard_filter(name: str, func: Any) -> Any:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    stringifies = name not in _CONTAINER_SAFE_FILTERS

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        params = args[skip + 1 :]
        _check_number_args(params)
        _check_number_args(kwargs.values())
        if len(args) > skip:
            value = args[skip]
            if name == "join":
                value = _materialized(value)
                _check_join(value, _param(params, kwargs, 0, "d", ""))
                args = (*args[:skip], value, *params)
            elif stringifies and _is_container(value):
                _estimated_chars(value)
            _check_filter(name, value, params, kwargs)
        return _check_result(func(*args, **kwargs))

    return guarded


@pass_context
def _guard_iter(context: Any, iterable: Any) -> Iterator[Any]:
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.tick()
        yield item


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    _estimated_chars(value)
    return str(value)


@pass_context
def _guard_out(context: Any, value: Any) -> str:
    text = _to_text(value)
    budget = _budget.get()
    if budget is not None:
        budget.tick()
        budget.emitted += len(text)
        if budget.emitted > MAX_EMITTED_CHARS:
            raise _Refused(
                f"the template wrote more than {MAX_EMITTED_CHARS:,} characters of text"
            )
    return text


@pass_context
def _guard_piece(context: Any, value: Any) -> str:
    return _to_text(value)


@pass_context
def _guard_size(context: Any, value: Any) -> Any:
    return _check_result(value)


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
        node.nodes = [_filter(child, _PIECE_FILTER) for child in node.nodes]
        return _filter(node, _SIZE_FILTER)


class _NoFiles(BaseLoader):
    def get_source(self, environment: Any, template: str) -> Any:
        raise _Refused(f"the template tried to load {template!r}; templates may not read files")


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
        raise _Refused("the template asked for an odd date format")
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
    env.filters = {name: _guard_filter(name, func) for name, func in env.filters.items()}
    env.filters[_ITER_FILTER] = _guard_iter
    env.filters[_OUT_FILTER] = _guard_out
    env.filters[_PIECE_FILTER] = _guard_piece
    env.filters[_SIZE_FILTER] = _guard_size
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
    token = _budget.set(_Budget(deadline=time.monotonic() + time_limit, time_limit=time_limit))
    try:
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_RENDERED_CHARS:
                raise _Refused(
                    f"the template produced a prompt of more than {MAX_RENDERED_CHARS:,} characters"
                )
            pieces.append(piece)
        return "".join(pieces)
    except TemplateRenderError:
        raise
    except _Refused as exc:
        raise TemplateRenderError(f"template stopped: {exc}") from None
    except SecurityError as exc:
        raise TemplateRenderError(f"the template tried an unsafe operation: {exc}") from None
    except RecursionError:
        raise TemplateRenderError("the template calls itself without end") from None
    except MemoryError:
        raise TemplateRenderError("the template needed too much memory") from None
    except Exception as exc:  # anything a hostile or broken template can raise
        raise TemplateRenderError(f"the template failed: {type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)

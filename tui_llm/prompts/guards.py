"""The work limits of a template render, and the guards that check them.

Jinja2's sandbox stops unsafe attribute walks; it does not stop a template
from burning CPU or memory. Each render therefore gets a budget of steps,
time and output (:func:`render_budget`), and the guards here run wherever
template code can do work: loop items, calls, operators, filters and output.
A guard that finds a limit passed raises :class:`Refused`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import string
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from jinja2.utils import Namespace, pass_context

MAX_RENDERED_CHARS = 4_000_000
MAX_EMITTED_CHARS = 4 * MAX_RENDERED_CHARS
MAX_STEPS = 1_000_000
MAX_NUMBER_ARG = 1_000_000
MAX_INT_BITS = 4096

_BIG_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*\d{7,}")
_BIG_PERCENT_SPEC = re.compile(r"%(\([^)]*\))?[-#0 +]*(\d{7,}|\d*\.\d{7,})")
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
# Filters that never turn a container into text; every other one may call str() on it.
_CONTAINER_SAFE_FILTERS = {
    "length", "count", "first", "last", "list", "map", "select", "reject", "selectattr",
    "rejectattr", "sort", "unique", "reverse", "dictsort", "items", "default", "d", "batch",
    "slice", "groupby", "min", "max", "sum", "random", "attr", "abs", "int", "float", "round",
    "tojson", "join",
}
# String methods that can multiply text without a number argument to check.
_BLOCKED_METHODS = {"translate", "maketrans", "expandtabs"}


class Refused(Exception):
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
            raise Refused(
                f"the template did more than {MAX_STEPS:,} steps of work "
                "(a runaway or nested loop?)"
            )
        if time.monotonic() > self.deadline:
            raise Refused(f"the template took longer than {self.time_limit:g} s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "tui_llm_template_budget", default=None
)


@contextlib.contextmanager
def render_budget(time_limit: float) -> Iterator[None]:
    """The work a render inside this block may do, checked by every guard."""
    token = _budget.set(_Budget(deadline=time.monotonic() + time_limit, time_limit=time_limit))
    try:
        yield
    finally:
        _budget.reset(token)


def tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _estimated_chars(value: Any, limit: int = MAX_RENDERED_CHARS) -> int:
    """Roughly how long ``str(value)`` would be, without building it; stops past ``limit``.

    A container reached twice is counted twice, as ``str()`` would write it
    twice; a cycle therefore runs the count past the limit and is refused.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, dict, Namespace)):
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
            raise Refused(f"the template would build a text of more than {limit:,} characters")
    return total


def check_result(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_RENDERED_CHARS:
        raise Refused(
            f"the template built a value of {len(value):,} items "
            f"(limit {MAX_RENDERED_CHARS:,})"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise Refused(f"the template built a number larger than {MAX_INT_BITS} bits")
    return value


def check_number_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, (int, float)) and not isinstance(arg, bool) and abs(arg) > MAX_NUMBER_ARG:
            raise Refused(
                f"the template passed the number {arg:.3g} to a function "
                f"(limit {MAX_NUMBER_ARG:,})"
            )


def _too_long(total: int) -> None:
    if total > MAX_RENDERED_CHARS:
        raise Refused(
            f"the template's format string would build more than {MAX_RENDERED_CHARS:,} characters"
        )


def _digits(text: str | None) -> int:
    return sum(int(group) for group in re.findall(r"\d+", text or ""))


def check_brace_format(text: str, args: Any = (), kwargs: Any = None) -> None:
    """Bound ``text.format(*args, **kwargs)``: every field may write every argument, padded."""
    if _BIG_BRACE_SPEC.search(text):
        raise Refused("the template used a format string with an enormous width or precision")
    per_field = _estimated_chars((args, kwargs or {}))
    total = len(text)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format will refuse it the same way
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        if spec and "{" in spec:
            raise Refused("the template took a format width or precision from an argument")
        total += _digits(spec) + per_field * (10 if conversion in ("r", "a") else 1)
        _too_long(total)


def _check_percent_format(text: str, args: Any) -> None:
    if _BIG_PERCENT_SPEC.search(text):
        raise Refused("the template used a format string with an enormous width or precision")
    check_number_args(args if isinstance(args, tuple) else (args,))
    per_field = _estimated_chars(args)
    total = len(text)
    for match in _PERCENT_FIELD.finditer(text):
        width, precision, conversion = match.group(1, 2, 3)
        if conversion == "%":
            continue
        stars = (width == "*") + (precision == "*")
        total += _digits(width) + _digits(precision) + stars * MAX_NUMBER_ARG
        total += per_field * (10 if conversion in ("r", "a") else 1)
        _too_long(total)


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
        tick()
        items.append(item)
    return items


def _check_join(items: Any, separator: Any) -> None:
    count = len(items) if hasattr(items, "__len__") else 0
    sep = len(separator) if isinstance(separator, str) else 0
    if _estimated_chars(items) + sep * count > MAX_RENDERED_CHARS:
        raise Refused(f"the template would join a text of more than {MAX_RENDERED_CHARS:,} characters")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * max(len(new) - len(old), 0) > MAX_RENDERED_CHARS:
            raise Refused(
                f"the template's replace() would build more than {MAX_RENDERED_CHARS:,} characters"
            )


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if _int_bits(left) and _int_bits(right) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise Refused(f"the template computed a power too large to hold ({left} ** {right})")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int) and count > 0:
                if _estimated_chars(seq) * count > MAX_RENDERED_CHARS:
                    raise Refused(
                        f"the template repeated a value {count:,} times, "
                        f"past the {MAX_RENDERED_CHARS:,} character limit"
                    )
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise Refused(f"the template built a number larger than {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)


def check_method_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    name = getattr(obj, "__name__", "")
    owner = getattr(obj, "__self__", None)
    if name in _BLOCKED_METHODS:
        raise Refused(f"the template may not call {name}()")
    if name == "join" and isinstance(owner, str) and args:
        items = _materialized(args[0])
        _check_join(items, owner)
        return (items, *args[1:])
    if name == "replace" and isinstance(owner, str) and len(args) >= 2:
        _check_replace(owner, args[0], args[1])
    return args


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
            raise Refused("the template's indent would build too long a text")
    elif name == "wordwrap":
        wrap = _param(params, kwargs, 2, "wrapstring", None)
        if isinstance(wrap, str) and isinstance(value, str):
            if len(value) * (len(wrap) + 1) > MAX_RENDERED_CHARS:
                raise Refused("the template's wordwrap would build too long a text")
    elif name == "format" and isinstance(value, str):
        _check_percent_format(value, tuple(params) or kwargs)
    elif name == "sum":
        start = _param(params, kwargs, 1, "start", 0)
        if not isinstance(start, (int, float)):
            raise Refused("the template may only sum numbers")
    elif name == "tojson":
        indent = _param(params, kwargs, 1, "indent", None)
        separators = _param(params, kwargs, 2, "separators", None)
        if isinstance(indent, int) and indent > 16 or separators and len(str(separators)) > 32:
            raise Refused("the template asked for odd JSON formatting")
        _estimated_chars(value)


def guard_filter(name: str, func: Any) -> Any:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    stringifies = name not in _CONTAINER_SAFE_FILTERS

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        params = args[skip + 1 :]
        check_number_args(params)
        check_number_args(kwargs.values())
        if len(args) > skip:
            value = args[skip]
            if name == "join":
                value = _materialized(value)
                _check_join(value, _param(params, kwargs, 0, "d", ""))
                args = (*args[:skip], value, *params)
            elif stringifies and _is_container(value):
                _estimated_chars(value)
            _check_filter(name, value, params, kwargs)
        return check_result(func(*args, **kwargs))

    return guarded


@pass_context
def guard_iter(context: Any, iterable: Any) -> Iterator[Any]:
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
def guard_out(context: Any, value: Any) -> str:
    text = _to_text(value)
    budget = _budget.get()
    if budget is not None:
        budget.tick()
        budget.emitted += len(text)
        if budget.emitted > MAX_EMITTED_CHARS:
            raise Refused(
                f"the template wrote more than {MAX_EMITTED_CHARS:,} characters of text"
            )
    return text


@pass_context
def guard_concat(context: Any, values: list[Any]) -> str:
    """``a ~ b ~ ...``: the pieces as text, refused before a join past the size limit."""
    pieces, size = [], 0
    for value in values:
        text = _to_text(value)
        size += len(text)
        if size > MAX_RENDERED_CHARS:
            raise Refused(f"the template joined a text of more than {MAX_RENDERED_CHARS:,} characters")
        pieces.append(text)
    return "".join(pieces)

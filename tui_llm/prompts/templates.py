"""Prompt templates: turn role-based messages into the text a model expects.

Built-in presets live in ``presets/templates/*.toml``; users add their own in
``locations.user_templates_dir()``. :func:`detect_template` picks one for a
model and says why. Every template, built-in or from a GGUF, renders through
:mod:`tui_llm.prompts.sandbox`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from tui_llm import locations
from tui_llm.prompts import match_memory
from tui_llm.prompts.guards import MAX_RENDERED_CHARS
from tui_llm.prompts.sandbox import TemplateRenderError, compile_template, render_template

if TYPE_CHECKING:
    from tui_llm.models.info import ModelInfo

__all__ = [
    "CHATML",
    "MAX_RENDERED_CHARS",
    "PromptTemplate",
    "TemplateLibrary",
    "TemplateNotFound",
    "TemplateRenderError",
    "detect_template",
    "get_template",
    "load_library",
    "load_presets",
    "render_template",
]

KINDS = ("chat", "framing")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

CHATML_SOURCE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class TemplateNotFound(LookupError):
    """No template of that name."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    source: str
    stop: tuple[str, ...] = ()
    bos_token: str = ""
    eos_token: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    kind: str = "chat"
    name_patterns: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    priority: int = 0
    origin: str = "built-in"

    @property
    def label(self) -> str:
        return self.title or self.name

    def render(
        self,
        messages: Iterable[dict[str, str]],
        add_generation_prompt: bool = True,
        **extra: Any,
    ) -> str:
        # The same variables llama-cpp-python's Jinja2ChatFormatter gives a template.
        context: dict[str, Any] = dict(
            functions=None, function_call=None, tools=None, tool_choice=None
        )
        context.update(self.extra)
        context.update(extra)
        return render_template(
            self.source,
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            **context,
        )

    def with_variables(self, **variables: Any) -> "PromptTemplate":
        """This template rendered with these extra variables (``enable_thinking``...)."""
        return replace(self, extra={**self.extra, **variables})

    def with_tokens(self, bos_token: str = "", eos_token: str = "") -> "PromptTemplate":
        """This template with a model's own BOS/EOS texts (kept when the model has none)."""
        return replace(
            self, bos_token=bos_token or self.bos_token, eos_token=eos_token or self.eos_token
        )


CHATML = PromptTemplate(
    name="chatml", source=CHATML_SOURCE, stop=("<|im_end|>", "<|im_start|>"), title="ChatML",
    note="ChatML",
)

# Conversations every template is tried on: to check user files, and to compare
# a model's embedded template with the presets.
PROBES: tuple[tuple[tuple[dict[str, str], ...], bool], ...] = (
    (
        (
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Name a colour."},
        ),
        True,
    ),
    (
        (
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Name a colour."},
        ),
        True,
    ),
    (({"role": "user", "content": "Hi there"},), True),
    (
        (
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello."},
        ),
        False,
    ),
)


# -- loading ----------------------------------------------------------------
class TemplateFileError(ValueError):
    pass


def _string_list(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TemplateFileError(f"'{key}' must be a list of strings")
    return tuple(value)


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise TemplateFileError(f"'{key}' must be a string")
    return value


_TOP_KEYS = {"name", "title", "kind", "note", "template", "stop", "bos_token", "eos_token", "detect"}
_DETECT_KEYS = {"names", "architectures", "priority"}


def template_from_dict(
    data: dict[str, Any], default_name: str, origin: str, check: bool = True
) -> PromptTemplate:
    """Build (and unless told otherwise, check) a template from a preset file's table; raises TemplateFileError."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise TemplateFileError(f"unknown key(s): {', '.join(unknown)}")
    if "template" not in data:
        raise TemplateFileError("no 'template' key (the Jinja2 chat template)")
    name = _text(data, "name", default_name).strip().lower()
    if not _NAME.match(name):
        raise TemplateFileError(f"name {name!r} must be lowercase letters, digits, '-', '_' or '.'")
    kind = _text(data, "kind", "chat")
    if kind not in KINDS:
        raise TemplateFileError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    detect = data.get("detect", {})
    if not isinstance(detect, dict):
        raise TemplateFileError("[detect] must be a table")
    unknown = sorted(set(detect) - _DETECT_KEYS)
    if unknown:
        raise TemplateFileError(f"unknown key(s) in [detect]: {', '.join(unknown)}")
    patterns = _string_list(detect, "names")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise TemplateFileError(f"bad name pattern {pattern!r}: {exc}") from exc
    priority = detect.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TemplateFileError("[detect] priority must be a whole number")
    template = PromptTemplate(
        name=name,
        source=_text(data, "template"),
        stop=_string_list(data, "stop"),
        bos_token=_text(data, "bos_token"),
        eos_token=_text(data, "eos_token"),
        note=_text(data, "note").strip(),
        title=_text(data, "title", name),
        kind=kind,
        name_patterns=patterns,
        architectures=tuple(a.lower() for a in _string_list(detect, "architectures")),
        priority=priority,
        origin=origin,
    )
    if any(not s for s in template.stop):
        raise TemplateFileError("stop strings must not be empty")
    if check:
        check_template(template)
    return template


def check_template(template: PromptTemplate) -> None:
    """Raise TemplateRenderError unless the template parses and renders a probe conversation."""
    compile_template(template.source)
    first_error: TemplateRenderError | None = None
    for messages, generation in PROBES:
        try:
            template.render(messages, add_generation_prompt=generation)
            return
        except TemplateRenderError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def read_template_file(path: Traversable, origin: str, check: bool = True) -> PromptTemplate:
    """Read one preset file; any problem raises TemplateFileError naming what is wrong.

    The shipped presets skip the render check (tests run it on each), as it
    compiles every template on every start.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TemplateFileError(f"not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateFileError(f"could not be read: {exc}") from exc
    try:
        return template_from_dict(data, path.name.removesuffix(".toml").lower(), origin, check)
    except TemplateRenderError as exc:
        raise TemplateFileError(str(exc)) from exc


@dataclass
class TemplateLibrary:
    templates: dict[str, PromptTemplate]
    problems: list[str] = field(default_factory=list)

    def chat(self) -> list[PromptTemplate]:
        return [t for t in self.templates.values() if t.kind == "chat"]

    def get(self, name: str) -> PromptTemplate:
        try:
            return self.templates[name]
        except KeyError:
            known = ", ".join(sorted(self.templates))
            raise TemplateNotFound(f"no prompt template named {name!r} (known: {known})") from None


def _read_dir(directory: Traversable, origin: str) -> tuple[dict[str, PromptTemplate], list[str]]:
    templates: dict[str, PromptTemplate] = {}
    problems: list[str] = []
    for path in locations.toml_files(directory):
        try:
            template = read_template_file(
                path, origin if origin != "user" else f"user file {path}", check=origin != "built-in")
        except TemplateFileError as exc:
            problems.append(f"template file {path.name} skipped: {exc}")
            continue
        if template.name in templates:
            problems.append(f"template file {path.name} skipped: the name {template.name!r} is taken")
            continue
        templates[template.name] = template
    return templates, problems


@functools.lru_cache(maxsize=4)
def _builtin(directory: Traversable) -> tuple[dict[str, PromptTemplate], tuple[str, ...]]:
    templates, problems = _read_dir(directory, "built-in")
    return templates, tuple(problems)


def load_library(user_dir: Path | None = None) -> TemplateLibrary:
    """Built-in presets plus the user's files (which win on a name clash).

    A bad user file is skipped and described in ``problems``; nothing raises.
    """
    builtin, builtin_problems = _builtin(locations.presets_dir() / "templates")
    templates = dict(builtin)
    if "chatml" not in templates:
        templates["chatml"] = CHATML
    problems = list(builtin_problems)
    user, user_problems = _read_dir(user_dir or locations.user_templates_dir(), "user")
    templates.update(user)
    problems.extend(user_problems)
    return TemplateLibrary(templates, problems)


def load_presets() -> dict[str, PromptTemplate]:
    """Every template by name: chat formats and the story/adventure framings."""
    return load_library().templates


def get_template(name: str) -> PromptTemplate:
    """One template by name; raises TemplateNotFound listing the known names."""
    return load_library().get(name)


# -- detection --------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddedMatch:
    """What a GGUF's own template turned out to be."""

    template: PromptTemplate | None = None
    preset: PromptTemplate | None = None
    family: PromptTemplate | None = None
    error: str = ""


def _render_probes(template: PromptTemplate) -> list[str | None]:
    results: list[str | None] = []
    for messages, generation in PROBES:
        try:
            results.append(template.render(messages, add_generation_prompt=generation))
        except TemplateRenderError:
            results.append(None)
    return results


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def embedded_template(info: "ModelInfo") -> PromptTemplate | None:
    if not info.embedded_template:
        return None
    return PromptTemplate(
        name="embedded",
        title="the model's own template",
        source=info.embedded_template,
        stop=(info.eos_token,) if info.eos_token else (),
        bos_token=info.bos_token,
        eos_token=info.eos_token,
        note="tokenizer.chat_template from the GGUF file",
        origin="embedded in the GGUF",
    )


def match_embedded(info: "ModelInfo", presets: Iterable[PromptTemplate]) -> EmbeddedMatch:
    """Compare the GGUF's template with the presets on probe conversations."""
    own = embedded_template(info)
    if own is None:
        return EmbeddedMatch()
    try:
        compile_template(own.source)
    except TemplateRenderError as exc:
        return EmbeddedMatch(error=str(exc))
    own_renders = _render_probes(own)
    if all(r is None for r in own_renders):
        try:
            check_template(own)
        except TemplateRenderError as exc:
            return EmbeddedMatch(error=str(exc))
    family: PromptTemplate | None = None
    for preset in sorted(presets, key=lambda t: -t.priority):
        bound = preset.with_tokens(info.bos_token, info.eos_token)
        theirs = _render_probes(bound)
        pairs = [(a, b) for a, b in zip(own_renders, theirs) if a is not None]
        if pairs and all(a == b for a, b in pairs):
            return EmbeddedMatch(template=bound, preset=bound, family=bound)
        if family is None and pairs and (
            pairs[0][0] == pairs[0][1] or all(b is not None and _squeeze(a) == _squeeze(b) for a, b in pairs)
        ):
            family = bound
    if family is not None:
        stops = tuple(dict.fromkeys([*own.stop, *family.stop]))
        own = replace(own, stop=stops)
    return EmbeddedMatch(template=own, family=family)


def _remembered_match(info: "ModelInfo", presets: list[PromptTemplate]) -> EmbeddedMatch:
    """``match_embedded``, from the cache when these exact texts were compared before."""
    if not info.embedded_template:
        return EmbeddedMatch()
    key = match_memory.key(info.embedded_template, info.bos_token, info.eos_token, *(
        f"{p.name}\0{p.priority}\0{p.source}\0{p.stop}" for p in presets))
    by_name = {p.name: p.with_tokens(info.bos_token, info.eos_token) for p in presets}
    known = match_memory.recall(key)
    if known is not None and known.get("preset") in by_name:
        bound = by_name[known["preset"]]
        return EmbeddedMatch(template=bound, preset=bound, family=bound)
    if known is not None and "preset" not in known and known.get("family", "") in {"", *by_name}:
        own, family = embedded_template(info), by_name.get(known.get("family", ""))
        if own is not None and family is not None:
            own = replace(own, stop=tuple(dict.fromkeys([*own.stop, *family.stop])))
        return EmbeddedMatch(template=own, family=family)
    found = match_embedded(info, presets)
    if found.template is not None:
        outcome = {"preset": found.preset.name} if found.preset else {
            "family": found.family.name if found.family else ""}
        match_memory.remember(key, outcome)
    return found


def _name_text(info: "ModelInfo") -> str:
    return f"{Path(info.path).name} {info.name}".lower().replace("_", "-").replace(" ", "-")


def match_name(info: "ModelInfo", presets: Iterable[PromptTemplate]) -> tuple[PromptTemplate, str] | None:
    text = _name_text(info)
    for preset in sorted(presets, key=lambda t: -t.priority):
        for pattern in preset.name_patterns:
            found = re.search(pattern, text)
            if found:
                return preset, found.group(0)
    return None


def match_architecture(info: "ModelInfo", presets: Iterable[PromptTemplate]) -> PromptTemplate | None:
    arch = (info.architecture or "").lower()
    for preset in sorted(presets, key=lambda t: -t.priority):
        if arch and arch in preset.architectures:
            return preset
    return None


def _describe_embedded(match: EmbeddedMatch) -> str:
    if match.preset is not None:
        return f"the {match.preset.label} format"
    if match.family is not None:
        return f"a variant of {match.family.label}"
    return "a custom format"


def detect_template(
    info: "ModelInfo",
    override: str | None = None,
    *,
    library: TemplateLibrary | None = None,
) -> tuple[PromptTemplate, str]:
    """Pick the prompt template for a model and say why, in words for the user.

    Order: ``override`` (this model's choice in settings, a template name); the GGUF's
    embedded template (named after a preset when it renders the same); the
    file or model name; the architecture; ChatML with a warning.
    """
    library = library or load_library()
    presets = library.chat()
    embedded = _remembered_match(info, presets)
    notes: list[str] = []
    choice = override
    if choice:
        chosen = library.templates.get(choice)
        if chosen is not None:
            reason = f"chosen in settings for {Path(info.path).name}"
            if embedded.template is not None and (
                embedded.preset is None or embedded.preset.name != chosen.name
            ):
                reason += f"; differs from the model's own template ({_describe_embedded(embedded)})"
            return chosen.with_tokens(info.bos_token, info.eos_token), reason
        notes.append(f"the template {choice!r} chosen in settings does not exist")
    if embedded.template is not None:
        if embedded.preset is not None:
            reason = f"the model's own chat template, which is the {embedded.preset.label} format"
        else:
            reason = f"the model's own chat template ({_describe_embedded(embedded)})"
        return embedded.template, "; ".join([reason, *notes])
    if embedded.error:
        notes.append(f"the model's own template could not be used: {embedded.error}")
    elif not info.embedded_template:
        notes.append("the model has no chat template of its own")
    by_name = match_name(info, presets)
    if by_name is not None:
        preset, matched = by_name
        reason = f"guessed from the name ({matched!r} -> {preset.label})"
        return preset.with_tokens(info.bos_token, info.eos_token), "; ".join([reason, *notes])
    by_arch = match_architecture(info, presets)
    if by_arch is not None:
        reason = f"guessed from the architecture ({info.architecture} -> {by_arch.label})"
        return by_arch.with_tokens(info.bos_token, info.eos_token), "; ".join([reason, *notes])
    fallback = library.templates.get("chatml", CHATML)
    reason = (
        "warning: ChatML is only a guess; nothing identifies this model's format, "
        "so choose the right template in Settings if replies look wrong"
    )
    return fallback.with_tokens(info.bos_token, info.eos_token), "; ".join([reason, *notes])

"""Prompt templates: turn role-based messages into the text a model expects.

A GGUF's embedded chat template is untrusted input (CVE-2024-34359), so every
template renders in Jinja2's immutable sandbox, with a cap on output size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RENDERED_CHARS = 4_000_000


class TemplateRenderError(ValueError):
    """A template that failed to render, or tried something it may not."""


CHATML_SOURCE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    source: str
    stop: tuple[str, ...] = ()
    bos_token: str = ""
    eos_token: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, messages: Iterable[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return render_template(
            self.source,
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )


CHATML = PromptTemplate(
    name="chatml", source=CHATML_SOURCE, stop=("<|im_end|>", "<|im_start|>"), note="ChatML"
)


def _raise_exception(message: str) -> None:
    raise TemplateRenderError(f"the template refused these messages: {message}")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise_exception
    return env


def render_template(source: str, **context: Any) -> str:
    """Render a chat template in the sandbox; errors become TemplateRenderError."""
    try:
        template = _environment().from_string(source)
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_RENDERED_CHARS:
                raise TemplateRenderError("the template produced an absurdly large prompt")
            pieces.append(piece)
        return "".join(pieces)
    except TemplateRenderError:
        raise
    except SecurityError as exc:
        raise TemplateRenderError(f"the template tried an unsafe operation: {exc}") from exc
    except TemplateError as exc:
        raise TemplateRenderError(f"the template is broken: {exc}") from exc
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise TemplateRenderError(f"the template failed: {exc}") from exc

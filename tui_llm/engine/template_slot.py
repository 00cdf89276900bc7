"""The prompt template an engine holds and why, and rendering through it with worded errors."""

from __future__ import annotations

from tui_llm.engine.contract import GenerationError, Request
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.prompts.templates import PromptTemplate, TemplateRenderError


class TemplateSlot:
    """Shared by every engine: the template and its reason change together, and renders
    of it run in the sandbox (call ``render_sync`` off the event loop)."""

    render_hint = ""  # what the user can do when the template cannot be used

    def __init__(self, template: PromptTemplate, reason: str) -> None:
        self._template, self._template_reason = template, reason

    @property
    def template(self) -> PromptTemplate:
        return self._template

    @property
    def template_reason(self) -> str:
        return self._template_reason

    def set_template(self, template: PromptTemplate, reason: str) -> None:
        self._template, self._template_reason = template, reason

    def render_sync(self, request: Request) -> str:
        if isinstance(request, str):
            return request
        try:
            return self._template.render(request, add_generation_prompt=True)
        except TemplateRenderError as exc:
            raise GenerationError(
                f"The prompt template ({self._template.name}) could not be used: {exc}{self.render_hint}"
            ) from exc

    def stop_strings(self, sampler: SamplerSettings) -> list[str]:
        """The template's stop strings, then the sampler's, each once."""
        return list(dict.fromkeys([*self._template.stop, *sampler.stop]))

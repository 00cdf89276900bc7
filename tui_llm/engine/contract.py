"""The engine contract: what the conversation, the screens and the CLI may ask of any engine.

Every engine (llama.cpp in this process, a remote OpenAI-compatible server)
implements all of ``Runner``. What differs between engines is declared in
``Capabilities``, never found out by probing attributes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable, Protocol, Sequence, Union

if TYPE_CHECKING:
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings
    from tui_llm.engine.token_probs import TokenProbs
    from tui_llm.models.info import ModelInfo
    from tui_llm.prompts.templates import PromptTemplate

Messages = Sequence[dict[str, str]]
Request = Union[Messages, str]
ProgressCallback = Callable[[str, float], None]


# How much a reasoning model may think, as the user says it ("" leaves the template's default).
THINKING_CHOICES = ("on", "off", "low", "medium", "high")


class Thought(str):
    """A piece of reasoning that the engine got apart from the reply text (a server's
    ``reasoning_content``); ``stream()`` yields it among the text pieces."""


class RunnerError(Exception):
    """An engine problem worded for the user."""


class ModelLoadError(RunnerError):
    pass


class GenerationError(RunnerError):
    pass


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do; callers branch on these, never on the engine's type."""

    loads_files: bool  # load() takes a GGUF path; otherwise it takes a server's model name
    can_offload: bool  # can put layers on a GPU (the installed build supports it)
    renders_locally: bool  # render() gives the exact prompt the model reads
    exact_token_counts: bool  # count_tokens() uses the model's own tokenizer
    can_save_state: bool  # the KV state can be saved and restored across processes
    can_shift_context: bool  # old tokens can leave the KV cache without re-reading the rest


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    evaluated_prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float = 0.0
    elapsed: float = 0.0
    cancelled: bool = False
    finish_reason: str = ""
    drafted_tokens: int = 0  # prompt lookup: tokens guessed from the context
    draft_kept_tokens: int = 0  # and how many of them the sampler then picked

    @property
    def tokens_per_second(self) -> float:
        decode_time = self.elapsed - self.time_to_first_token
        if self.completion_tokens < 2 or decode_time <= 0:
            return 0.0
        return (self.completion_tokens - 1) / decode_time

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Runner(Protocol):
    """One engine holding (at most) one model."""

    capabilities: Capabilities
    last_stats: GenerationStats
    last_tokens: "TokenProbs"  # the last reply's tokens and their alternatives, or why there are none

    @property
    def loaded(self) -> bool:
        """A model is ready: stream() can be called."""

    @property
    def info(self) -> "ModelInfo | None":
        """The loaded GGUF's facts; None for a model held by a server."""

    @property
    def model_name(self) -> str: ...

    @property
    def model_path(self) -> Path | None:
        """Where the loaded model lives: a local file, or None."""

    @property
    def location(self) -> str:
        """The model's file or server, for sessions and messages."""

    @property
    def n_ctx(self) -> int:
        """The context size in tokens; 0 when unknown."""

    @property
    def settings(self) -> "LoadSettings | None":
        """The load settings in use; None for a server or when nothing is loaded."""

    @property
    def template(self) -> "PromptTemplate": ...

    @property
    def template_reason(self) -> str:
        """Why this template: detected, configured, chosen, or assumed."""

    def set_template(self, template: "PromptTemplate", reason: str) -> None: ...

    async def load(
        self,
        source: Path | str | None,
        settings: "LoadSettings | None" = None,
        template: "PromptTemplate | str | None" = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Get a model ready: a GGUF file, or a server's model (None: the server's default).

        ``template`` is a template, or the name of the one chosen in settings;
        None lets the engine detect (or be told) the model's own.
        """

    async def unload(self) -> None: ...

    async def render(self, request: Request) -> str | None:
        """The prompt text for ``request``, rendered off the event loop.

        None when the engine renders role messages itself (a server whose
        template is not known here); a string request comes back as it is.
        """

    async def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        request: Request,
        sampler: "SamplerSettings | None" = None,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[str]:
        """Text pieces as the model writes them; ``cancel()`` or ``cancel`` stops between tokens."""

    def cancel(self) -> None: ...

    def want_token_probs(self, top_n: int) -> None:
        """Ask for each reply token's ``top_n`` likeliest alternatives (0: only if they cost nothing)."""

    def keep_state(self, key: str | None) -> None:
        """Save the engine state under ``key`` after each reply and resume from it later.

        None keeps nothing. Engines without ``can_save_state`` ignore it.
        """

    async def close(self) -> None: ...

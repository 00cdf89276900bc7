"""Helpers shared by the tests: waiting on a running app, and the one scripted engine.

``FakeRunner`` implements the whole engine contract with scripted replies. It
is for UI tests only: it proves how screens behave, never that an engine
feature works (those tests run the real model).
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import AsyncIterator, Callable

from tui_llm.engine.token_probs import TokenProbs
from tui_llm.engine.contract import (
    Capabilities,
    GenerationStats,
    ModelLoadError,
    ProgressCallback,
    Request,
)
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.engine.template_slot import TemplateSlot
from tui_llm.models.info import ModelInfo
from tui_llm.prompts.templates import CHATML, PromptTemplate


async def wait_until(pilot, condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.02)


class FakeRunner(TemplateSlot):
    """Scripted replies, one word per piece; counts words as tokens. UI tests only.

    ``fail_after`` raises ``fail_with`` after that many pieces of a reply.
    ``loaded=False`` makes load() needed; a load of a path whose name contains
    "broken" fails like a corrupt file.
    """

    def __init__(
        self,
        replies: tuple[str, ...] | list[str] = (),
        n_ctx: int = 4096,
        delay: float = 0.0,
        loaded: bool = True,
        model_name: str = "fake-model",
        fail_with: BaseException | None = None,
        fail_after: int = 0,
    ) -> None:
        self.replies = list(replies)
        self.delay = delay
        self.fail_with = fail_with
        self.fail_after = fail_after
        self.requests: list[Request] = []
        self.samplers: list[SamplerSettings | None] = []
        self.loads: list[Path | str | None] = []
        self.last_stats = GenerationStats()
        self.last_tokens = TokenProbs(unavailable="The scripted engine has no token probabilities.")
        self.capabilities = Capabilities(
            loads_files=True, can_offload=False, renders_locally=False,
            exact_token_counts=False, can_save_state=False, can_shift_context=False,
        )
        self.closed = False
        self._n_ctx = n_ctx
        self._name = model_name
        self._loaded = loaded
        self._path: Path | None = None
        self._settings: LoadSettings | None = None
        super().__init__(CHATML, "assumed by the fake")
        self._cancel = threading.Event()

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def info(self) -> ModelInfo | None:
        if not self._loaded or self._path is None:
            return None
        return ModelInfo(self._path, self._name, "fake", self._n_ctx, self._n_ctx, None)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def model_path(self) -> Path | None:
        return self._path

    @property
    def location(self) -> str:
        return str(self._path) if self._path else ""

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def settings(self) -> LoadSettings | None:
        return self._settings

    async def load(
        self,
        source: Path | str | None,
        settings: LoadSettings | None = None,
        template: PromptTemplate | str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.loads.append(source)
        if source is not None and "broken" in str(source):
            raise ModelLoadError(f"{Path(source).name} is not a GGUF model")
        self._path = Path(source) if source is not None else None
        if self._path is not None:
            self._name = self._path.stem
        self._settings = settings
        if template is not None:
            self.set_template(template, "chosen by the caller")
        self._loaded = True

    async def unload(self) -> None:
        self._loaded = False

    async def render(self, request: Request) -> str | None:
        return request if isinstance(request, str) else None

    async def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def stream(
        self,
        request: Request,
        sampler: SamplerSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[str]:
        self.requests.append(request)
        self.samplers.append(sampler)
        self._cancel = cancel or threading.Event()
        text = self.replies.pop(0) if self.replies else "and so on."
        stats = GenerationStats(prompt_tokens=10, evaluated_prompt_tokens=10)
        self.last_stats = stats
        for count, piece in enumerate(re.findall(r"\s*\S+", text)):
            if self.fail_with is not None and count >= self.fail_after:
                raise self.fail_with
            if self._cancel.is_set():
                stats.cancelled, stats.finish_reason = True, "cancelled"
                return
            await asyncio.sleep(self.delay)
            stats.completion_tokens += 1
            yield piece
        stats.finish_reason = "stop"

    def want_token_probs(self, top_n: int) -> None:
        pass

    def keep_state(self, key: str | None) -> None:
        pass

    def cancel(self) -> None:
        self._cancel.set()

    async def close(self) -> None:
        self.closed = True



NAMED_KEYS = {
    "enter", "tab", "shift+tab", "backspace", "delete", "end", "home", "left", "right",
    "up", "down", "escape", "pageup", "pagedown", "ctrl+s", "f1", "f2", "f3", "f4", "ctrl+o", "ctrl+p",
}


def burst(app, *keys: str) -> None:
    """Send keys the way a terminal over SSH delivers them: all at once, nothing waits.

    ``pilot.press`` lets the app settle after every key, which hides ordering bugs.
    Each argument is a key name from ``NAMED_KEYS`` or text typed as it is.
    """
    from textual import events
    from textual.keys import _character_to_key

    for item in keys:
        for name in [item] if item in NAMED_KEYS else list(item):
            character = None
            if len(name) == 1:
                character = name
                if not name.isalnum():
                    name = _character_to_key(name)
            event = events.Key(name, character)
            event.set_sender(app)
            app._driver.send_message(event)

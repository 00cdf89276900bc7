"""Runners: the engines that turn a prompt into streamed text.

``LlamaCppRunner`` owns one ``llama_cpp.Llama`` and one dedicated worker
thread; every call into llama.cpp happens on that thread (a ``Llama`` is not
thread-safe) and results come back to the event loop through a queue.
``llama_cpp`` is imported lazily so the CLI and the app start fast.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Protocol, Sequence

from tui_llm.load_settings import LoadSettings
from tui_llm.sampler import SamplerSettings
from tui_llm import gguf_info
from tui_llm.templates import CHATML, PromptTemplate, TemplateRenderError, detect_template

Messages = Sequence[dict[str, str]]
ProgressCallback = Callable[[str, float], None]
GGUF_MAGIC = b"GGUF"


class RunnerError(Exception):
    """An engine problem worded for the user."""


class ModelLoadError(RunnerError):
    pass


class GenerationError(RunnerError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    architecture: str
    n_ctx: int
    n_ctx_train: int
    embedded_template: str | None
    bos_token: str = ""
    eos_token: str = ""
    metadata: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    evaluated_prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float = 0.0
    elapsed: float = 0.0
    cancelled: bool = False
    finish_reason: str = ""

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
    """What the UI and the sessions need from an engine, local or remote."""

    @property
    def model_name(self) -> str: ...

    @property
    def n_ctx(self) -> int: ...

    last_stats: GenerationStats

    def stream(
        self, request: Messages | str, sampler: SamplerSettings | None = None
    ) -> AsyncIterator[str]: ...

    def cancel(self) -> None: ...

    async def count_tokens(self, text: str) -> int: ...

    async def close(self) -> None: ...


def check_model_file(path: Path) -> None:
    """Fail early, with words, on files llama.cpp would reject with a crash or a log line."""
    if not path.exists():
        raise ModelLoadError(f"No such model file: {path}")
    if not path.is_file():
        raise ModelLoadError(f"Not a file: {path}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path.name} is not a GGUF model (it does not start with 'GGUF'). "
            "tui-llm runs GGUF files; older GGML .bin files must be converted."
        )
    try:
        gguf_info.check_complete(path)
    except gguf_info.GGUFError as exc:
        raise ModelLoadError(str(exc)) from exc


class LlamaCppRunner:
    """A local llama.cpp engine: one model, one worker thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llm: Any = None
        self._cancel = threading.Event()
        self.info: ModelInfo | None = None
        self.settings: LoadSettings | None = None
        self.template: PromptTemplate = CHATML
        self.template_reason: str = ""
        self.last_stats = GenerationStats()

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def model_name(self) -> str:
        return self.info.name if self.info else ""

    @property
    def n_ctx(self) -> int:
        return self.info.n_ctx if self.info else 0

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load(
        self,
        path: Path | str,
        settings: LoadSettings | None = None,
        template: PromptTemplate | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ModelInfo:
        """Free the current model, then load ``path``. Progress comes as (stage, fraction)."""
        path = Path(path).expanduser()
        settings = settings or LoadSettings()
        report = on_progress or (lambda stage, fraction: None)
        report("checking file", 0.0)
        check_model_file(path)
        report("freeing previous model", 0.1)
        await self._call(self._unload_sync)
        report("loading weights", 0.2)
        info = await self._call(self._load_sync, path, settings)
        self.info, self.settings = info, settings
        if template is not None:
            self.template, self.template_reason = template, "chosen by the caller"
        else:
            # Detection reads preset files and renders probes: keep it off the event loop.
            self.template, self.template_reason = await self._call(detect_template, info)
        report("ready", 1.0)
        return info

    def _load_sync(self, path: Path, settings: LoadSettings) -> ModelInfo:
        import llama_cpp

        from tui_llm.hardware import auto_gpu_layers

        kv_types = {"f16": 1, "q8_0": 8, "q4_0": 2}
        kwargs: dict[str, Any] = dict(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_gpu_layers=(settings.n_gpu_layers if settings.n_gpu_layers is not None
                          else auto_gpu_layers(path, settings)),
            n_threads=settings.resolved_threads(),
            n_threads_batch=settings.resolved_batch_threads(),
            n_batch=settings.n_batch,
            n_ubatch=settings.n_ubatch,
            flash_attn=settings.flash_attn,
            use_mmap=settings.use_mmap,
            verbose=False,
        )
        if settings.kv_cache_type != "f16":
            kwargs["type_k"] = kwargs["type_v"] = kv_types[settings.kv_cache_type]
        if settings.rope_freq_base:
            kwargs["rope_freq_base"] = settings.rope_freq_base
        if settings.rope_freq_scale:
            kwargs["rope_freq_scale"] = settings.rope_freq_scale
        try:
            llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path.name}: the file may be truncated or corrupt, "
                f"or too large for free memory ({exc})"
            ) from exc
        self._llm = llm
        return _model_info(path, llm)

    def _unload_sync(self) -> None:
        if self._llm is None:
            return
        self._llm.close()
        self._llm = None
        gc.collect()

    async def unload(self) -> None:
        await self._call(self._unload_sync)
        self.info = None

    async def close(self) -> None:
        self.cancel()
        await self.unload()
        self._executor.shutdown(wait=False)

    def cancel(self) -> None:
        self._cancel.set()

    async def count_tokens(self, text: str) -> int:
        return len(await self._call(self._tokenize_sync, text, False))

    async def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return await self._call(self._tokenize_sync, text, add_bos)

    def _tokenize_sync(self, text: str, add_bos: bool) -> list[int]:
        self._require_model()
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _require_model(self) -> None:
        if self._llm is None:
            raise GenerationError("No model is loaded.")

    def render(self, request: Messages | str) -> str:
        if isinstance(request, str):
            return request
        try:
            return self.template.render(request, add_generation_prompt=True)
        except TemplateRenderError as exc:
            raise GenerationError(
                f"The prompt template ({self.template.name}) could not be used: {exc}. "
                "Choose another template in Settings."
            ) from exc

    async def stream(
        self,
        request: Messages | str,
        sampler: SamplerSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[str]:
        """Yield text pieces as the model produces them.

        ``request`` is a list of role messages (rendered through the model's
        template) or an already rendered prompt. ``cancel()`` or the given
        event stops generation between tokens.
        """
        self._require_model()
        sampler = sampler or SamplerSettings()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._cancel = cancel or threading.Event()
        stop_event = self._cancel

        def produce() -> None:
            try:
                # Rendered here, off the event loop: an untrusted template may take its time limit.
                prompt = self.render(request)
                for piece in self._generate_sync(prompt, sampler, stop_event):
                    loop.call_soon_threadsafe(queue.put_nowait, ("text", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        self._executor.submit(produce)
        finished = False
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "done":
                    finished = True
                    return
                else:
                    finished = True
                    if isinstance(value, RunnerError):
                        raise value
                    raise GenerationError(f"generation failed: {value}") from value
        finally:
            if not finished:
                stop_event.set()

    def _generate_sync(
        self, prompt: str, sampler: SamplerSettings, stop_event: threading.Event
    ) -> Any:
        import llama_cpp

        llm = self._llm
        if llm is None:
            raise GenerationError("No model is loaded.")
        tokens = self._prompt_tokens(prompt)
        n_ctx = llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise GenerationError(
                f"The prompt is {len(tokens)} tokens but the context holds {n_ctx}. "
                "Shorten the conversation or load the model with a larger context."
            )
        stats = GenerationStats(prompt_tokens=len(tokens))
        stats.evaluated_prompt_tokens = len(tokens) - _common_prefix(llm, tokens)
        self.last_stats = stats
        max_tokens = min(sampler.max_tokens, n_ctx - len(tokens))
        # llama-cpp-python takes the penalty window from this attribute on every call.
        llm.last_n_tokens_size = sampler.repeat_last_n if sampler.repeat_last_n >= 0 else n_ctx
        started = time.perf_counter()
        chunks = llm.create_completion(
            prompt=tokens,
            stream=True,
            stopping_criteria=llama_cpp.StoppingCriteriaList(
                [lambda _ids, _logits: stop_event.is_set()]
            ),
            **completion_kwargs(sampler, self.stop_strings(sampler), max_tokens),
        )
        for chunk in chunks:
            choice = chunk["choices"][0]
            text = choice.get("text", "")
            if text:
                if stats.completion_tokens == 0:
                    stats.time_to_first_token = time.perf_counter() - started
                stats.completion_tokens += 1
                yield text
            if choice.get("finish_reason"):
                stats.finish_reason = choice["finish_reason"]
            if stop_event.is_set():
                break
        stats.completion_tokens = max(stats.completion_tokens, llm.n_tokens - len(tokens))
        stats.elapsed = time.perf_counter() - started
        stats.cancelled = stop_event.is_set()
        if stats.cancelled:
            stats.finish_reason = "cancelled"

    def stop_strings(self, sampler: SamplerSettings) -> list[str]:
        """The template's stop strings, then the sampler's, each once."""
        return list(dict.fromkeys([*self.template.stop, *sampler.stop]))

    def _prompt_tokens(self, prompt: str) -> list[int]:
        llm = self._llm
        bos_text = self.info.bos_token if self.info else ""
        add_bos = bool(llm._model.add_bos_token()) and not (bos_text and prompt.startswith(bos_text))
        return llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)


def completion_kwargs(
    sampler: SamplerSettings, stop: Sequence[str], max_tokens: int | None = None
) -> dict[str, Any]:
    """The sampling arguments of ``Llama.create_completion`` for these settings."""
    return dict(
        max_tokens=sampler.max_tokens if max_tokens is None else max_tokens,
        temperature=sampler.temperature,
        min_p=sampler.min_p,
        top_p=sampler.top_p,
        top_k=sampler.top_k,
        typical_p=sampler.typical_p,
        repeat_penalty=sampler.repeat_penalty,
        presence_penalty=sampler.presence_penalty,
        frequency_penalty=sampler.frequency_penalty,
        mirostat_mode=sampler.mirostat_mode,
        mirostat_tau=sampler.mirostat_tau,
        mirostat_eta=sampler.mirostat_eta,
        seed=sampler.seed if sampler.seed >= 0 else None,
        stop=list(stop) or None,
    )


def _common_prefix(llm: Any, tokens: list[int]) -> int:
    """How many leading prompt tokens are already in llama.cpp's KV cache."""
    cached = llm.input_ids[: llm.n_tokens]
    count = 0
    for old, new in zip(cached, tokens):
        if old != new:
            break
        count += 1
    # llama-cpp-python always re-evaluates the last prompt token to get fresh logits.
    return min(count, len(tokens) - 1)


def _token_text(llm: Any, token_id: int) -> str:
    if token_id < 0:
        return ""
    try:
        return llm._model.token_get_text(token_id)
    except Exception:
        return ""


def _model_info(path: Path, llm: Any) -> ModelInfo:
    meta = dict(llm.metadata or {})
    arch = meta.get("general.architecture", "unknown")
    n_ctx_train = int(meta.get(f"{arch}.context_length") or llm._model.n_ctx_train())
    return ModelInfo(
        path=path,
        name=path.stem,
        architecture=arch,
        n_ctx=llm.n_ctx(),
        n_ctx_train=n_ctx_train,
        embedded_template=meta.get("tokenizer.chat_template"),
        bos_token=_token_text(llm, llm.token_bos()),
        eos_token=_token_text(llm, llm.token_eos()),
        metadata=meta,
    )

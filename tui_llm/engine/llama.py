"""Runners: the engines that turn a prompt into streamed text.

``LlamaCppRunner`` owns one ``llama_cpp.Llama`` and one dedicated worker
thread; every call into llama.cpp happens on that thread (a ``Llama`` is not
thread-safe) and results come back to the event loop through a queue.
``llama_cpp`` is imported lazily so the CLI and the app start fast.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from tui_llm import breadcrumb
from tui_llm.engine import kv_shift, kv_state
from tui_llm.engine.llama_class import new_llama
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.engine.sampler_chain import ReplySampling, completion_kwargs
from tui_llm.engine.token_probs import TOP_N, TokenProbs
from tui_llm.engine.special_text import marker_tokenizer, marks_with_control_tokens
from tui_llm.models import gguf as gguf_info
from tui_llm.engine.contract import (
    Capabilities,
    GenerationError,
    GenerationStats,
    ModelLoadError,
    ProgressCallback,
    Request,
    RunnerError,
)
from tui_llm.models.formats import identify as identify_format
from tui_llm.models.info import ModelInfo
from tui_llm.models.rope import RopeChoice
from tui_llm.engine.template_slot import TemplateSlot
from tui_llm.prompts.templates import CHATML, PromptTemplate, detect_template

GGUF_MAGIC = b"GGUF"
# llama.cpp pads its context to this many cells; llama-cpp-python sizes its token buffer
# from the number asked for, so asking for a padded size keeps the two equal.
CTX_PAD = 256


@functools.lru_cache(maxsize=1)
def supports_gpu_offload() -> bool:
    """Can the installed llama.cpp offload layers to a GPU? (Loads llama_cpp: ~0.3 s, once.)"""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def check_model_file(path: Path) -> None:
    """Fail early, with words, on files llama.cpp would reject with a crash or a log line."""
    if not path.exists():
        raise ModelLoadError(f"No such model file: {path}")
    foreign = identify_format(path)
    if foreign is not None:
        raise ModelLoadError(foreign.explain(path))
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


class LlamaCppRunner(TemplateSlot):
    """A local llama.cpp engine: one model, one worker thread."""

    render_hint = ". Choose another template in Settings."

    def __init__(self, state_cache: kv_state.KVStateCache | None = None) -> None:
        self._state_cache = state_cache
        self._state_key: str | None = None
        self._can_shift = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llm: Any = None
        self._cancel = threading.Event()
        self._info: ModelInfo | None = None
        self._settings: LoadSettings | None = None
        super().__init__(CHATML, "")
        self.last_stats = GenerationStats()
        self.last_tokens = TokenProbs()
        self._top_n = TOP_N

    def want_token_probs(self, top_n: int) -> None:
        """Record this many alternatives per token (at least the usual five); 0 records none.

        The app records five unless told otherwise: F8 shows them, and they cost
        about a millisecond a token. A headless run that does not ask skips them.
        """
        self._top_n = max(TOP_N, top_n) if top_n > 0 else 0

    @property
    def capabilities(self) -> Capabilities:
        """Context shift depends on the loaded model's memory (recurrent and some
        sliding-window caches cannot shift); the rest on the engine build."""
        return dataclasses.replace(self._build_capabilities, can_shift_context=self._can_shift)

    @functools.cached_property
    def _build_capabilities(self) -> Capabilities:
        return Capabilities(
            loads_files=True,
            can_offload=supports_gpu_offload(),  # loads llama_cpp: asked on first use, not at start-up
            renders_locally=True,
            exact_token_counts=True,
            can_save_state=True,
            can_shift_context=False,
        )

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def settings(self) -> LoadSettings | None:
        return self._settings

    @property
    def model_name(self) -> str:
        return self._info.name if self._info else ""

    @property
    def model_path(self) -> Path | None:
        return self._info.path if self._info else None

    @property
    def location(self) -> str:
        return str(self._info.path.resolve()) if self._info else ""

    @property
    def n_ctx(self) -> int:
        return self._info.n_ctx if self._info else 0

    def keep_state(self, key: str | None) -> None:
        """Save the KV state under ``key`` after each reply, and resume from it; None: neither."""
        self._state_key = key

    def _state_fingerprint(self) -> str:
        import llama_cpp

        assert self._info is not None and self._settings is not None
        return kv_state.model_fingerprint(self._info.path, self._settings, llama_cpp.__version__)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load(
        self,
        source: Path | str | None,
        settings: LoadSettings | None = None,
        template: PromptTemplate | str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Free the current model, then load the GGUF file ``source``. Progress comes as (stage, fraction).

        ``settings`` should come planned (machine.plan): a GPU layer count left
        to "auto" loads on the CPU. ``template`` is a template, or the name of
        the one chosen in settings; otherwise it is detected from the file.
        """
        if source is None:
            raise ModelLoadError("No model file was given.")
        path = Path(source).expanduser()
        settings = settings or LoadSettings()
        report = on_progress or (lambda stage, fraction: None)
        report("checking file", 0.0)
        await self._call(check_model_file, path)
        report("freeing previous model", 0.1)
        await self._call(self._unload_sync)
        self._info = None
        report("loading weights", 0.2)
        info = await self._call(self._load_sync, path, settings)
        self._info, self._settings = info, settings
        self._can_shift = await self._call(lambda: kv_shift.can_shift(self._llm))
        if isinstance(template, PromptTemplate):
            self.set_template(template, "chosen by the caller")
        else:
            # Detection reads preset files and renders probes: keep it off the event loop.
            self.set_template(*await self._call(detect_template, info, template))
        report("ready", 1.0)

    def _load_sync(self, path: Path, settings: LoadSettings) -> ModelInfo:
        breadcrumb.leave(f"loading the model {path.name}")
        kv_types = {"f16": 1, "q8_0": 8, "q4_0": 2}
        kwargs: dict[str, Any] = dict(
            model_path=str(path),
            n_ctx=-(-settings.n_ctx // CTX_PAD) * CTX_PAD,
            n_gpu_layers=settings.n_gpu_layers or 0,
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
        kwargs.update(RopeChoice(
            settings.rope_scaling, settings.rope_freq_base, settings.rope_freq_scale, ""
        ).llama_kwargs)
        try:
            llm = new_llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            breadcrumb.leave("")
            raise ModelLoadError(
                f"llama.cpp could not load {path.name}: the file may be truncated or corrupt, "
                f"or too large for free memory ({exc})"
            ) from exc
        llm.tokenizer_ = marker_tokenizer(llm)
        # A recurrent memory cannot forget the tail of a rejected guess.
        if settings.prompt_lookup and not (llm._is_recurrent or llm._is_hybrid):
            from tui_llm.engine.prompt_lookup import ContextDraft

            llm.draft_model = ContextDraft()
        self._llm = llm
        breadcrumb.leave(f"idle with the model {path.name} loaded")
        return _model_info(path, llm)

    def _unload_sync(self, collect: bool = True) -> None:
        self._can_shift = False
        if self._llm is None:
            return
        self._llm.close()
        self._llm = None
        if collect:  # before another model comes in; not worth its ~25 ms on the way out
            gc.collect()

    async def unload(self) -> None:
        await self._call(self._unload_sync)
        self._info = self._settings = None

    async def close(self) -> None:
        self.cancel()
        await self._call(self._unload_sync, False)
        self._info = self._settings = None
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

    async def render(self, request: Request) -> str:
        return await self._call(self.render_sync, request)

    async def stream(
        self,
        request: Request,
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

        state_key = self._state_key if self._state_cache is not None else None

        def produce() -> None:
            breadcrumb.leave(f"writing a reply with {self.model_name}")
            try:
                # Rendered here, off the event loop: an untrusted template may take its time limit.
                prompt = self.render_sync(request)
                for piece in self._generate_sync(prompt, sampler, stop_event, state_key):
                    loop.call_soon_threadsafe(queue.put_nowait, ("text", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
                return
            if state_key is not None and self._llm is not None:
                # After "done": the reply is complete on screen while the state is written.
                kv_state.keep(self._state_cache, self._llm, state_key, self._state_fingerprint())
            breadcrumb.leave(f"idle with the model {self.model_name} loaded")

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
        self,
        prompt: str,
        sampler: SamplerSettings,
        stop_event: threading.Event,
        state_key: str | None = None,
    ) -> Any:
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
        started = time.perf_counter()
        if state_key is not None:
            kv_state.resume(self._state_cache, llm, state_key, self._state_fingerprint(), tokens)
        if self._can_shift:
            kv_shift.shift_into(llm, tokens)
        stats = GenerationStats(prompt_tokens=len(tokens))
        stats.evaluated_prompt_tokens = len(tokens) - _common_prefix(llm, tokens)
        self.last_stats = stats
        max_tokens = min(sampler.max_tokens, n_ctx - len(tokens))
        llm.tokenizer_.markers_as_text = marks_with_control_tokens(self._template.source)
        kwargs = completion_kwargs(sampler, self.stop_strings(sampler), max_tokens)
        llm.sampling = sampling = ReplySampling(sampler, kwargs["seed"], tokens, self._top_n)
        self.last_tokens = TokenProbs(unavailable="The reply is still being written.")
        draft = llm.draft_model
        if draft is not None:
            draft.reset()
        llm.samples_taken = 0
        try:
            yield from self._completion(llm, tokens, kwargs, stats, stop_event, started)
        finally:
            if draft is not None:
                stats.drafted_tokens, stats.draft_kept_tokens = draft.drafted, draft.kept
            llm.sampling = None
            self.last_tokens = TokenProbs(sampling.tokens(llm), unavailable=(
                "The reply has no tokens." if self._top_n else "Token probabilities were not asked for."))

    def _completion(
        self, llm: Any, tokens: list[int], kwargs: dict[str, Any], stats: GenerationStats,
        stop_event: threading.Event, started: float,
    ) -> Any:
        import llama_cpp

        chunks = llm.create_completion(
            prompt=tokens,
            stream=True,
            stopping_criteria=llama_cpp.StoppingCriteriaList(
                [lambda _ids, _logits: stop_event.is_set()]
            ),
            **kwargs,
        )
        try:
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
        finally:  # also when the reader stops early
            llm.drop_unchecked(len(tokens))
        stats.completion_tokens = max(stats.completion_tokens, llm.n_tokens - len(tokens))
        stats.elapsed = time.perf_counter() - started
        stats.cancelled = stop_event.is_set()
        if stats.cancelled:
            stats.finish_reason = "cancelled"

    def _prompt_tokens(self, prompt: str) -> list[int]:
        llm = self._llm
        bos_text = self._info.bos_token if self._info else ""
        add_bos = bool(llm._model.add_bos_token()) and not (bos_text and prompt.startswith(bos_text))
        return llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)


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
    meta = {**(llm.metadata or {}), **llm.chat_templates}
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


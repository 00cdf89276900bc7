"""The ``llama_cpp.Llama`` the app loads: one that never compiles the file's chat templates.

``Llama.__init__`` reads the GGUF's metadata into ``self.metadata`` and then
compiles every ``tokenizer.chat_template*`` value in a plain Jinja sandbox,
whose optimizer folds constant expressions at compile time: a crafted template
can take minutes or gigabytes before the model is even loaded. The app renders
prompts itself (:mod:`tui_llm.prompts.sandbox`), so this subclass keeps the
templates out of ``metadata`` as it is assigned, and the constructor finds none
to compile. The templates stay available, uncompiled, in ``chat_templates``.

It also samples through the runner's ``sampling`` (a
:class:`~tui_llm.engine.sampler_chain.ReplySampling`) when one is set: the
chain with DRY, XTC and top-n-sigma, and each token's probabilities.

With a ``draft_model`` set after loading (prompt lookup), a small batch (the
newest token and its guessed followers) asks llama.cpp for the logits of every
position, which the sampler reads from llama.cpp itself. Passing the draft
model to the constructor instead would make llama-cpp-python keep every
position's logits of the whole context in RAM (n_ctx x vocabulary floats).
"""

from __future__ import annotations

import functools
from typing import Any

TEMPLATE_KEY = "tokenizer.chat_template"
# The largest batch evaluated with every position's logits: a newest token
# and its drafted followers (prompt lookup drafts at most 10).
DRAFT_BATCH = 16


def split_templates(metadata: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(metadata without chat templates, the chat templates by key)."""
    templates = {k: v for k, v in metadata.items() if k.startswith(TEMPLATE_KEY)}
    rest = {k: v for k, v in metadata.items() if k not in templates}
    return rest, templates


@functools.lru_cache(maxsize=1)
def llama_class() -> type:
    import llama_cpp

    class TemplateFreeLlama(llama_cpp.Llama):
        chat_templates: dict[str, str] = {}
        sampling: Any = None

        def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
            if self.sampling is None:
                return super()._init_sampler(*args, **kwargs)
            return self.sampling.chain(self)

        samples_taken = 0

        def eval(self, tokens: Any) -> None:
            if self.draft_model is None or not 0 < len(tokens) <= min(DRAFT_BATCH, self.n_batch):
                return super().eval(tokens)
            self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
            self._batch.set_batch(batch=tokens, n_past=self.n_tokens, logits_all=True)
            self._ctx.decode(self._batch)
            self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
            self.n_tokens += len(tokens)
            self._requires_eval = False

        def drop_unchecked(self, prompt_length: int) -> None:
            """Forget drafted tokens evaluated but never checked (a reply ended inside a draft).

            The sampler has picked ``samples_taken`` tokens after the prompt; the last
            one is not evaluated yet, so the cache holds at most the prompt and all
            but that one. Without drafting this is exactly what it holds already.
            """
            checked = prompt_length - 1 + self.samples_taken
            if self.n_tokens > checked >= 0:
                self._ctx.kv_cache_seq_rm(-1, checked, -1)
                self.n_tokens = checked

        def sample(self, *args: Any, idx: int | None = None, **kwargs: Any) -> int:
            self.samples_taken += 1
            token = super().sample(*args, idx=idx, **kwargs)
            if self.sampling is not None:
                self.sampling.sampled(self, token, -1 if idx is None else idx - self.n_tokens)
            return token

        @property
        def metadata(self) -> dict[str, str]:
            return self._metadata_without_templates

        @metadata.setter
        def metadata(self, value: dict[str, str]) -> None:
            self._metadata_without_templates, self.chat_templates = split_templates(dict(value))

    return TemplateFreeLlama


def new_llama(**kwargs: Any) -> Any:
    return llama_class()(**kwargs)

"""The llama.cpp sampler chain for one reply, built from SamplerSettings.

llama-cpp-python builds a fixed chain (penalties, top-k, typical, top-p,
min-p, temperature) and has no DRY, XTC or top-n-sigma; the app's ``Llama``
asks a ``ReplySampling`` for its chain instead, and tells it each token
sampled, so the reply's token probabilities are recorded from the logits
already computed. Runs on the runner's llama thread only.
"""

from __future__ import annotations

import secrets
from typing import Any, Sequence

from tui_llm.engine.sampler import SamplerSettings
from tui_llm.engine.token_probs import TOP_N, Alternative, TokenChoice, top_of_logits


class ReplySampling:
    def __init__(
        self, settings: SamplerSettings, seed: int, prompt: Sequence[int], top_n: int = TOP_N
    ) -> None:
        self.settings = settings
        self.seed = seed
        self.prompt = list(prompt)
        self.top_n = top_n
        self._picks: list[tuple[int, float, list[tuple[int, float]]]] = []

    def chain(self, llm: Any) -> Any:
        """A new chain; the prompt's recent tokens are fed in so the penalties and DRY see them."""
        from llama_cpp import _internals

        s = self.settings
        n_ctx = llm.n_ctx()
        chain = _internals.LlamaSampler()
        penalty_n = n_ctx if s.repeat_last_n < 0 else s.repeat_last_n
        dry_n = n_ctx if s.dry_penalty_last_n < 0 else s.dry_penalty_last_n
        greedy = s.temperature <= 0.0
        steps = {
            "e": lambda: chain.add_penalties(
                llm.n_vocab(), penalty_n, s.repeat_penalty, s.frequency_penalty, s.presence_penalty
            ),
            "d": lambda: chain.add_dry(
                llm._model, s.dry_multiplier, s.dry_base, s.dry_allowed_length, dry_n,
                list(s.dry_sequence_breakers),
            ),
            "s": lambda: chain.add_top_n_sigma(s.top_n_sigma),
            "k": lambda: chain.add_top_k(s.top_k),
            "y": lambda: chain.add_typical(s.typical_p, 1),
            "p": lambda: chain.add_top_p(s.top_p, 1),
            "m": lambda: chain.add_min_p(s.min_p, 1),
            "x": lambda: chain.add_xtc(s.xtc_probability, s.xtc_threshold, 1, self.seed),
            "t": lambda: chain.add_temp(s.temperature),
        }
        for letter in s.sampler_order:
            if _active(s, letter, penalty_n, dry_n) and not (
                (greedy or s.mirostat_mode) and letter not in "ed"
            ):
                steps[letter]()
        if greedy:
            chain.add_greedy()
        elif s.mirostat_mode == 1:
            chain.add_temp(s.temperature)
            chain.add_mirostat(llm.n_vocab(), self.seed, s.mirostat_tau, s.mirostat_eta, 100)
        elif s.mirostat_mode == 2:
            chain.add_temp(s.temperature)
            chain.add_mirostat_v2(self.seed, s.mirostat_tau, s.mirostat_eta)
        else:
            chain.add_dist(self.seed)
        history = max(penalty_n if "e" in s.sampler_order else 0, dry_n if "d" in s.sampler_order else 0)
        for token in self.prompt[-history:] if history else ():
            chain.accept(token)
        return chain

    def sampled(self, llm: Any, token: int, index: int) -> None:
        """Note ``token`` with its probability and the likeliest alternatives at this step."""
        if self.top_n <= 0:
            return
        import llama_cpp
        import numpy as np

        pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, index)
        logits = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))
        prob, top = top_of_logits(logits, token, self.top_n)
        self._picks.append((token, prob, top))

    def tokens(self, llm: Any) -> list[TokenChoice]:
        """The reply's tokens so far, with their texts (read now, not while sampling)."""

        def text(token: int) -> str:
            return llm.detokenize([token], special=True).decode("utf-8", errors="replace")

        return [
            TokenChoice(text(token), prob, tuple(Alternative(text(i), p) for i, p in top))
            for token, prob, top in self._picks
        ]


def _active(s: SamplerSettings, letter: str, penalty_n: int, dry_n: int) -> bool:
    """Leave out samplers set to their 'off' value (the chain is shorter, the result the same)."""
    if letter == "e":
        return penalty_n != 0 and (
            s.repeat_penalty != 1.0 or s.frequency_penalty != 0.0 or s.presence_penalty != 0.0
        )
    if letter == "d":
        return s.dry_multiplier > 0.0 and dry_n != 0
    return {
        "s": s.top_n_sigma > 0.0,
        "k": s.top_k > 0,
        "y": s.typical_p < 1.0,
        "p": s.top_p < 1.0,
        "m": s.min_p > 0.0,
        "x": s.xtc_probability > 0.0,
        "t": True,
    }[letter]


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
        # llama-cpp-python derives a missing seed from a fixed one: the same reply every launch.
        seed=sampler.seed if sampler.seed >= 0 else secrets.randbelow(2**32 - 1),
        stop=list(stop) or None,
    )

"""Token probabilities: for each token of a reply, the likeliest alternatives the model saw.

Probabilities are the model's own (a softmax of its raw logits, before any
sampler), the figure OpenAI-style servers report as ``logprobs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

TOP_N = 5


@dataclass(frozen=True)
class Alternative:
    text: str
    prob: float


@dataclass(frozen=True)
class TokenChoice:
    """One generated token, its probability, and the top alternatives (likeliest first)."""

    text: str
    prob: float
    alternatives: tuple[Alternative, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.text,
            "prob": round(self.prob, 6),
            "top": [{"token": a.text, "prob": round(a.prob, 6)} for a in self.alternatives],
        }


@dataclass
class TokenProbs:
    """The last reply's tokens; ``unavailable`` says why there are none when there are none."""

    tokens: list[TokenChoice] = field(default_factory=list)
    unavailable: str = "No reply yet."

    def to_list(self, top: int = TOP_N) -> list[dict[str, Any]]:
        rows = []
        for choice in self.tokens:
            row = choice.to_dict()
            row["top"] = row["top"][:top]
            rows.append(row)
        return rows


def top_of_logits(logits: Any, chosen: int, n: int = TOP_N) -> tuple[float, list[tuple[int, float]]]:
    """(the chosen token's probability, the ``n`` likeliest token ids with theirs), from raw logits.

    ``logits`` is a float numpy array over the vocabulary.
    """
    import numpy as np

    n = max(1, min(n, logits.shape[0]))
    top = np.argpartition(logits, -n)[-n:]
    top = top[np.argsort(logits[top])[::-1]]
    peak = float(logits[top[0]])
    log_total = peak + math.log(float(np.exp(logits - peak, dtype=np.float64).sum()))
    probs = [(int(i), math.exp(float(logits[i]) - log_total)) for i in top]
    return math.exp(float(logits[chosen]) - log_total), probs


def from_logprobs(entries: Sequence[Any]) -> list[TokenChoice]:
    """Token choices from an OpenAI-style ``logprobs.content`` list; malformed entries are skipped."""
    choices = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            continue
        logprob = _finite(entry.get("logprob"))
        if logprob is None:
            continue
        alternatives = []
        for alt in entry.get("top_logprobs") or []:
            alt_logprob = _finite(alt.get("logprob")) if isinstance(alt, dict) else None
            if alt_logprob is not None and isinstance(alt.get("token"), str):
                alternatives.append(Alternative(alt["token"], math.exp(min(alt_logprob, 0.0))))
        alternatives.sort(key=lambda a: a.prob, reverse=True)
        choices.append(TokenChoice(entry["token"], math.exp(min(logprob, 0.0)), tuple(alternatives)))
    return choices


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)

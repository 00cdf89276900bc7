"""Prompt lookup: guess the next tokens from the context, let the model check them in one batch.

When the last few tokens written also occur earlier in the context (a passage
being copied, edited or quoted, code being rewritten), the tokens that followed
them there are a good guess for what comes next. The engine evaluates the
guess together with the newest token in one batch, and keeps every guessed
token the sampler then picks anyway: every token is still sampled from the
model's own odds. (Logits computed in a batch can differ from one-by-one ones
in the last bits, so where two tokens are all but tied the pick may differ.)

A batch costs more than one token (on a small CPU, nearly as much as its
tokens one by one; on a GPU, hardly more than one), so whether guessing pays
depends on the machine, the model and the text. The drafter measures it as it
goes: it times the rounds without a guess (one token each) and keeps a running
balance of what guessing rounds saved against what their tokens would have
cost one at a time. Guesses start short and double while they are kept
whole; a guess not kept while the balance is negative stops guessing for a
while, longer each time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

LONGEST_NGRAM = 4
SHORTEST_NGRAM = 3
MAX_DRAFT = 10
FIRST_DRAFT = 2
PAUSE = 32  # tokens written without guessing, doubled on each pause in a row (up to 16x)
DECAY = 0.7


class ContextDraft:
    """A llama-cpp-python draft model (called with the tokens so far, returns the guess)."""

    def __init__(self, max_draft: int = MAX_DRAFT, clock: Any = time.perf_counter) -> None:
        self.max_draft = max_draft
        self._clock = clock
        self.token_seconds: float | None = None  # one plain round, measured (kept across replies)
        self.reset()

    def reset(self) -> None:
        """A new reply: no round pending, short guesses again, totals to zero."""
        self._round: tuple[float, int, int] | None = None  # (when, tokens so far, guessed)
        self._next = min(FIRST_DRAFT, self.max_draft)
        self._pauses = 0
        self._paused_until = 0
        self._balance = 0.0
        self.drafted = self.kept = 0

    def __call__(self, input_ids: Any, /, **_: Any) -> np.ndarray:
        ids = np.asarray(input_ids, dtype=np.intc)
        length = len(ids)
        if self._round is not None:
            self._settle(length)
        guess = _NONE if length < self._paused_until else find_continuation(ids, self._next)
        self._round = (self._clock(), length, len(guess))
        return guess

    def _settle(self, length: int) -> None:
        # After a guess of g tokens at length L, the engine calls again at L + 1 + kept.
        started, before, guessed = self._round
        took = self._clock() - started
        made = length - before
        if not guessed:
            if made == 1:
                last = self.token_seconds
                self.token_seconds = took if last is None else 0.8 * last + 0.2 * took
            return
        kept = max(0, min(guessed, made - 1))
        self.drafted += guessed
        self.kept += kept
        if self.token_seconds is not None:
            # Time saved (or lost) by guessing, over the recent guessing rounds: one
            # round slowed by something else on the machine does not decide alone.
            self._balance = DECAY * self._balance + made * self.token_seconds - took
        if kept == guessed:  # one batch never costs more than its tokens one by one
            self._next = min(self.max_draft, self._next * 2)
            self._pauses = 0
            return
        if kept and self._balance >= 0:
            self._next = max(FIRST_DRAFT, kept + 1)
            return
        self._next = min(FIRST_DRAFT, self.max_draft)
        if self._balance >= 0:
            return
        self._paused_until = length + (PAUSE << min(self._pauses, 4))
        self._pauses += 1
        self._balance = 0.0


_NONE = np.array([], dtype=np.intc)


def find_continuation(ids: np.ndarray, limit: int) -> np.ndarray:
    """The tokens that followed the most recent earlier occurrence of the longest
    ending n-gram (LONGEST_NGRAM down to SHORTEST_NGRAM tokens), at most ``limit``."""
    length = len(ids)
    if length < SHORTEST_NGRAM + 1 or limit <= 0:
        return _NONE
    raw = ids.tobytes()
    width = ids.itemsize
    for size in range(min(LONGEST_NGRAM, length - 1), SHORTEST_NGRAM - 1, -1):
        pattern = raw[(length - size) * width:]
        stop = (length - 1) * width  # an earlier occurrence, with at least one token after it
        while (at := raw.rfind(pattern, 0, stop)) >= 0:
            if at % width == 0:
                follow = at // width + size
                return ids[follow:follow + limit].copy()
            stop = at + len(pattern) - 1  # misaligned: look further back
    return _NONE

"""Fit a session into the model's context window, and say what did not fit.

Tokens are counted with the runner's tokenizer. When the prompt would leave
less than the reply budget (``sampler.max_tokens``) free, the oldest turns
stop being sent: never Memory, the system prompt or the latest user input.
Turns are dropped in a chunk (down to ``1 - DROP_SLACK`` of the budget), and
``session.context_start`` remembers where the kept part begins, so the prompt
keeps the same beginning for many turns and the engine's KV cache is reused.
A history too long to render at all (past the template's size limit) is cut
by its length in characters before anything is rendered.

Lore triggered by the latest messages takes at most its own share of the
budget (``PlaySetup.lore_budget``); entries past it are named in the notice.
When even the kept turns leave no room for lore, the lore goes first: it never
pushes out Memory, the system prompt or the character card.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Awaitable, Callable

from tui_llm.chat.lore import LoreEntry, triggered
from tui_llm.chat.modes import build_request, extra_stops, uses_messages
from tui_llm.chat.sessions import USER_ROLES, Session
from tui_llm.engine.contract import Request, Runner
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.prompts.guards import MAX_RENDERED_CHARS

DROP_SLACK = 0.25
MESSAGE_OVERHEAD = 4  # tokens a template adds around one message, for runners that cannot render
CHARS_PER_TOKEN_CEILING = 16  # generous: English text averages about 4 characters a token
SAMPLE_TURNS = 8


class ContextOverflowError(Exception):
    """Even with every droppable turn gone, the prompt does not fit."""


@dataclass(frozen=True)
class Assembly:
    request: Request
    sampler: SamplerSettings
    prompt_tokens: int
    budget: int
    start: int
    dropped_turns: int = 0
    dropped_tokens: int = 0
    shifts: bool = False  # the engine moves the kept turns in its cache instead of reading them again
    lore: tuple[str, ...] = ()  # the lore entries sent, by name
    lore_left_out: tuple[str, ...] = ()  # triggered, but past the lore budget or the context
    lore_budget: int = 0

    @property
    def notice(self) -> str:
        return " ".join(part for part in (self._dropped_notice(), self._lore_notice()) if part)

    def _lore_notice(self) -> str:
        if not self.lore_left_out:
            return ""
        names = ", ".join(self.lore_left_out)
        return (f"Lore left out ({len(self.lore_left_out)} entries past the lore budget of "
                f"{self.lore_budget} tokens or the context): {names}.")

    def _dropped_notice(self) -> str:
        if not self.dropped_turns:
            return ""
        turns = "turn" if self.dropped_turns == 1 else "turns"
        how = (
            "the rest is shifted in the engine's cache, not read again"
            if self.shifts
            else "this model cannot shift its cache, so the rest is read again"
        )
        return (
            f"Context full: the {self.dropped_turns} oldest {turns} (~{self.dropped_tokens} "
            f"tokens) are no longer sent to the model; {how}. Memory, the system prompt and "
            f"your latest input are kept; the transcript keeps everything."
        )


def reply_budget(n_ctx: int, sampler: SamplerSettings) -> int:
    return min(sampler.max_tokens, n_ctx // 2)


def protected_from(session: Session) -> int:
    """The first turn that must be sent: the latest user input, or the last turn."""
    last = len(session.turns) - 1
    for index in range(last, max(last - 2, -1), -1):
        if session.turns[index].role in USER_ROLES:
            return index
    return max(last, 0)


def mode_sampler(session: Session, sampler: SamplerSettings) -> SamplerSettings:
    stops = extra_stops(session.mode)
    if not stops:
        return sampler
    return sampler.with_changes(stop=tuple(dict.fromkeys([*sampler.stop, *stops])))


async def finalize(runner: Runner, request: Request, continuing: bool) -> Request:
    """A continued reply in a role mode becomes an open assistant turn.

    Runners that can render (the local one) get the rendered text ending in the
    partial reply; others get messages ending with it (OpenAI-style prefill).
    """
    if not continuing or isinstance(request, str) or not request:
        return request
    if request[-1]["role"] != "assistant":
        return request
    rendered = await runner.render(request[:-1])
    if rendered is None:
        return request
    return rendered + request[-1]["content"]


async def count_request(runner: Runner, request: Request) -> int:
    rendered = await runner.render(request)
    if rendered is not None:
        return await runner.count_tokens(rendered)
    total = 3
    for message in request:
        total += await runner.count_tokens(message["content"]) + MESSAGE_OVERHEAD
    return total


async def assemble(
    session: Session,
    runner: Runner,
    sampler: SamplerSettings,
    continuing: bool = False,
) -> Assembly:
    """Build the request for the next reply; drops the oldest turns when it would not fit.

    Moves ``session.context_start`` forward when it drops turns.
    """
    sampler = mode_sampler(session, sampler)
    n_ctx = runner.n_ctx
    start = min(session.context_start, protected_from(session))
    budget = n_ctx - reply_budget(n_ctx, sampler) if n_ctx > 0 else 0
    lore, left_out, lore_budget = await choose_lore(session, runner, budget)
    try:
        assembly = await _fit(session, runner, sampler, continuing, start, lore)
    except ContextOverflowError:
        if not lore:
            raise
        assembly = await _fit(session, runner, sampler, continuing, start, [])
        lore, left_out = [], [*lore, *left_out]
    return replace(assembly, lore=tuple(e.name for e in lore),
                   lore_left_out=tuple(e.name for e in left_out), lore_budget=lore_budget)


async def choose_lore(
    session: Session, runner: Runner, budget: int
) -> tuple[list[LoreEntry], list[LoreEntry], int]:
    """The triggered lore that fits its budget, what does not, and that budget in tokens."""
    books = session.play.lorebooks
    if not books:
        return [], [], 0
    found = triggered(books, [turn.text for turn in session.turns])
    limit = session.play.lore_budget_for(budget) if budget > 0 else session.play.lore_budget
    chosen: list[LoreEntry] = []
    left_out: list[LoreEntry] = []
    used = 0
    for entry in found:
        cost = await runner.count_tokens(entry.content) + 1
        if limit and used + cost > limit:
            left_out.append(entry)
            continue
        chosen.append(entry)
        used += cost
    return chosen, left_out, limit


async def _fit(
    session: Session, runner: Runner, sampler: SamplerSettings, continuing: bool,
    start: int, lore: list[LoreEntry],
) -> Assembly:
    n_ctx = runner.n_ctx

    async def request_at(first: int) -> Request:
        return await finalize(runner, build_request(session, first, lore), continuing)

    sizes: dict[int, int] = {}

    async def size(first: int) -> int:
        if first not in sizes:
            sizes[first] = await count_request(runner, await request_at(first))
        return sizes[first]

    if n_ctx <= 0:
        return Assembly(await request_at(start), sampler, 0, 0, start)
    budget = n_ctx - reply_budget(n_ctx, sampler)
    first = _renderable_start(session, start, budget)
    if first == start:
        full = await size(start)
        if full <= budget:
            session.context_start = start
            return Assembly(await request_at(start), sampler, full, budget, start)

    candidates = _drop_points(session, first)
    target = int(budget * (1 - DROP_SLACK))
    chosen = await _first_fitting(candidates, target, size)
    if chosen is None:
        chosen = await _first_fitting(candidates, budget, size)
    if chosen is None:
        least = await size(candidates[-1])
        raise ContextOverflowError(
            f"The prompt needs {least} tokens even without older turns (Memory, system prompt, "
            f"character card and your latest input), but the context holds {n_ctx} and "
            f"{n_ctx - budget} are kept for the reply. Shorten them, lower the reply length, "
            "or load the model with a larger context."
        )
    kept = await size(chosen)
    if first != start:
        full = kept + await _estimated_tokens(runner, session, start, chosen)
    session.context_start = chosen
    return Assembly(
        await request_at(chosen), sampler, kept, budget, chosen,
        dropped_turns=chosen - start, dropped_tokens=full - kept,
        shifts=runner.capabilities.can_shift_context,
    )


def _chars(session: Session, first: int, end: int | None = None) -> int:
    return sum(len(turn.text) for turn in session.turns[first:end])


def _renderable_start(session: Session, start: int, budget: int) -> int:
    """The earliest drop point from which the turns are short enough to render and count.

    A longer history could never fit ``budget`` anyway; cutting it by characters
    keeps the template's size limit (and the time to count it) to what is sent.
    """
    limit = min(MAX_RENDERED_CHARS // 2, budget * CHARS_PER_TOKEN_CEILING)
    points = _drop_points(session, start)
    remaining = _chars(session, start)
    previous = start
    for point in points:
        remaining -= _chars(session, previous, point)
        previous = point
        if remaining <= limit:
            return point
    return points[-1]


async def _estimated_tokens(runner: Runner, session: Session, start: int, chosen: int) -> int:
    """The tokens of turns cut before rendering, at the rate counted on the newest of them."""
    dropped = session.turns[start:chosen]
    sample = "\n".join(turn.text for turn in dropped[-SAMPLE_TURNS:])
    if not sample:
        return 0
    rate = await runner.count_tokens(sample) / len(sample)
    return round(_chars(session, start, chosen) * rate)


def _drop_points(session: Session, start: int) -> list[int]:
    """Where the kept part may begin: role modes begin on a user turn."""
    last = protected_from(session)
    points = [start]
    for index in range(start + 1, last + 1):
        if not uses_messages(session.mode) or session.turns[index].role in USER_ROLES:
            points.append(index)
    if points[-1] != last:
        points.append(last)
    return points


async def _first_fitting(
    candidates: list[int], limit: int, size: Callable[[int], Awaitable[int]]
) -> int | None:
    """The earliest start whose prompt fits ``limit`` (sizes shrink as starts grow)."""
    low, high = 0, len(candidates) - 1
    if await size(candidates[high]) > limit:
        return None
    while low < high:
        middle = (low + high) // 2
        if await size(candidates[middle]) <= limit:
            high = middle
        else:
            low = middle + 1
    return candidates[low]

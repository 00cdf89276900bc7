"""The conversation: one session, one engine, and everything a player does to them.

The chat screen and ``tui-llm chat`` both drive a ``Conversation`` and show
its events; neither keeps conversation state of its own. Actions that
generate (send, regenerate, go on) claim the conversation at once, when they
are called, and return a coroutine that streams the reply: a second Enter
arriving in the same burst of keys finds it busy instead of starting twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Coroutine, Iterable

from tui_llm.chat.context import Assembly, ContextOverflowError, assemble
from tui_llm.chat.events import (
    ConversationBusy, NothingToDo, TurnAdded, TurnRemoved, TurnChanged, ReplyStarted, ReplyText, ReplyThinking, ReplyEnded, InputReturned, Notice, ContextChanged, SessionReset, SetupChanged, Event, Listener,
)
from tui_llm.chat.modes import clean_reply, uses_messages
from tui_llm.chat.reasoning import (
    THINK, THOUGHT, ReasoningFormat, detect_format, thinking_variables, with_no_think,
)
from tui_llm.chat.scenarios import Scenario
from tui_llm.chat.sessions import USER_ROLES, Session
from tui_llm.chat.turn import Take, Turn
from tui_llm.engine.contract import GenerationStats, Runner, RunnerError
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.prompts.sandbox import TemplateRenderError

TEXT_MODES = ("story", "adventure")
SETUP_FIELDS = (
    "memory", "authors_note", "character", "system_prompt", "greeting", "game_preamble", "play",
)


Reply = Coroutine[Any, Any, "Turn | None"]


class Conversation:
    def __init__(
        self,
        runner: Runner,
        session: Session | None = None,
        sampler: Callable[[], SamplerSettings] = SamplerSettings,
        save: Callable[[Session], None] | None = None,
        thinking: str | Callable[[], str] = "",
    ) -> None:
        self.runner = runner
        self.thinking = thinking
        self.session = session or Session()
        self._sampler = sampler
        self._save_hook = save
        self._listeners: list[Listener] = []
        self._cancel = threading.Event()
        self.busy = False
        self.edited: int | None = None  # the turn edited last, where Ctrl+R writes again from
        self.session.start_with_greeting()

    @property
    def thinking(self) -> str:
        """"", on, off, low, medium or high (see chat/reasoning.py), read at each reply."""
        return self._thinking()

    @thinking.setter
    def thinking(self, value: str | Callable[[], str]) -> None:
        self._thinking = value if callable(value) else (lambda: value)

    def current_sampler(self) -> SamplerSettings:
        return self._sampler()

    # -- events ----------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- what can be done now ----------------------------------------------
    def input_role(self, as_action: bool = True) -> str:
        return "action" if self.session.mode == "adventure" and as_action else "user"

    def can_go_on(self) -> bool:
        session = self.session
        if session.last_reply is not None or session.turns:
            return True
        return session.mode in TEXT_MODES and bool(session.memory.strip())

    def goes_on_when_empty(self) -> bool:
        """In story and adventure modes an empty input lets the model go on."""
        session = self.session
        return session.mode in TEXT_MODES and bool(session.turns or session.memory.strip())

    # -- generating --------------------------------------------------------
    def send(self, text: str, as_action: bool = True) -> Reply:
        """Add the player's text and reply to it; empty text goes on where that means something."""
        if not text.strip():
            if self.goes_on_when_empty():
                return self.go_on()
            raise NothingToDo("the prompt is empty")
        self._claim()
        turn = self.session.add(
            self.input_role(as_action), text if self.session.mode == "story" else text.strip()
        )
        self._emit(TurnAdded(len(self.session.turns) - 1, turn))
        self._save()
        return self._reply(input_turn=turn)

    def regenerate(self, from_edit: bool = True) -> Reply:
        """Write the last reply again, kept beside the others (or a reply, where there is none yet).

        After an edit, the reply to the edited turn instead: the turns after it are dropped.
        """
        if not self.session.turns:
            raise NothingToDo("Nothing to retry yet.")
        count = self.dropped_by_retry() if from_edit else 0
        self._claim()
        dropped = [self._drop_last() for _ in range(count)][::-1]
        if dropped:
            self._emit(ContextChanged(self.session.hidden_turns))
        replaced = self._drop_last() if self.session.last_reply is not None else None
        return self._reply(replaced=replaced, dropped=dropped)

    def _drop_last(self) -> Turn:
        turn = self.session.undo()
        assert turn is not None
        self._emit(TurnRemoved(len(self.session.turns), turn))
        return turn

    def browse(self, step: int) -> Reply | None:
        """Show the last reply's previous (-1) or next (1) version; past the last, write one more."""
        reply = self.session.last_reply
        if reply is None:
            raise NothingToDo("No reply to browse.")
        self._require_idle()
        index = reply.shown + step
        if index >= reply.take_count:
            return self.regenerate(from_edit=False)
        if index < 0:
            raise NothingToDo("This is the first version of the reply.")
        reply.show_take(index)
        self._emit(TurnChanged(len(self.session.turns) - 1, reply))
        self._save()
        return None

    def go_on(self) -> Reply:
        """Continue the last reply, or write a new one after the player's turn."""
        if not self.can_go_on():
            raise NothingToDo("Nothing to continue yet.")
        self._claim()
        return self._reply(continuing=self.session.last_reply is not None)

    def stop(self) -> None:
        if self.busy:
            self._cancel.set()
            self.runner.cancel()

    def _claim(self) -> None:
        if self.busy:
            raise ConversationBusy("a reply is being written")
        self.busy = True
        self.edited = None
        self._cancel = threading.Event()

    async def _reply(
        self,
        input_turn: Turn | None = None,
        replaced: Turn | None = None,
        continuing: bool = False,
        dropped: list[Turn] | None = None,
    ) -> Turn | None:
        session = self.session
        self.runner.keep_state(self._state_key())
        base = session.turns[-1].text if continuing else ""
        pieces: list[str] = []
        thought = _Thought()
        parser = ReasoningFormat(THINK).parser()
        error = ""
        try:
            self._emit(ReplyStarted(continuing, base))
            try:
                request, sampler, fmt, assembly = await self.prepare(continuing)
                if assembly.notice:
                    self._emit(Notice(assembly.notice))
                    self._emit(ContextChanged(session.hidden_turns))
                parser = fmt.parser()
                async for piece in self.runner.stream(request, sampler, self._cancel):
                    for kind, part in parser.feed(piece):
                        self._take_part(kind, part, pieces, thought)
                for kind, part in parser.finish():
                    self._take_part(kind, part, pieces, thought)
            except (RunnerError, ContextOverflowError, TemplateRenderError) as exc:
                error = str(exc)
            stats = self.runner.last_stats
            text = "".join(pieces)
            if not error and parser.late_thought is not None:
                # shown as answer while it streamed: the reply view shows it right at the end
                thought.add(parser.late_thought)
                text = text[len(parser.late_thought):]
            if error or not text.strip():
                self._emit(ReplyEnded(None, continuing, stats, error))
                self._take_back(input_turn, replaced, give_input_back=bool(error or stats.cancelled),
                                dropped=dropped or [])
                if not error and not stats.cancelled:
                    self._emit(Notice(
                        f"The model thought for {thought.tokens} tokens and wrote no answer: "
                        "raise the reply length, or turn thinking off." if thought.tokens
                        else "The model had nothing to add."
                    ))
                return None
            full = clean_reply(session.mode, base + text)
            take = Take(full, "".join(thought.parts).strip(), thought.seconds(), thought.tokens)
            if continuing:
                turn = session.turns[-1]
                turn.set_current(take if thought.parts else replace(turn.current(), text=full))
            elif replaced is not None:
                turn = replaced
                turn.add_take(take)
                session.turns.append(turn)
            else:
                turn = session.add("assistant", full)
                turn.set_current(take)
            self._emit(ReplyEnded(turn, continuing, stats))
            self._save()
            await self._note_speed(stats)
            return turn
        finally:
            self.busy = False

    async def prepare(
        self, continuing: bool = False
    ) -> tuple[Any, SamplerSettings, ReasoningFormat, Assembly]:
        """Exactly what the engine is given for the next reply: request, sampler, thought format.

        Moves ``session.context_start`` as ``assemble`` does; the prompt preview
        calls it on a copy of the session.
        """
        self._apply_thinking()
        assembly = await assemble(self.session, self.runner, self._sampler(), continuing)
        request = assembly.request
        if not isinstance(request, str):
            request = with_no_think(list(request), self.runner.template.source, self.thinking)
        fmt = await self._reasoning_format(request, continuing)
        sampler = assembly.sampler
        if fmt.stops:
            sampler = sampler.with_changes(stop=tuple(dict.fromkeys([*sampler.stop, *fmt.stops])))
        return request, sampler, fmt, assembly

    def _take_part(self, kind: str, part: str, pieces: list[str], thought: "_Thought") -> None:
        if kind == THOUGHT:
            thought.add(part)
            self._emit(ReplyThinking(part))
        else:
            thought.end()
            pieces.append(part)
            self._emit(ReplyText(part))

    def _apply_thinking(self) -> None:
        """The template variables that turn thinking on or off, where the template reads them."""
        runner = self.runner
        thinking = self.thinking
        if not thinking:
            return
        template = runner.template
        known = runner.capabilities.renders_locally
        wanted = thinking_variables(template.source if known else None, thinking)
        if any(template.extra.get(name) != value for name, value in wanted.items()):
            runner.set_template(template.with_variables(**wanted), runner.template_reason)

    async def _reasoning_format(self, request: Any, continuing: bool) -> ReasoningFormat:
        """How this model marks its thought, and whether the prompt already opened one."""
        runner = self.runner
        if not runner.capabilities.renders_locally or not uses_messages(self.session.mode):
            return ReasoningFormat(THINK)
        source = runner.template.source
        if continuing:
            fmt = detect_format(source)
            return ReasoningFormat(fmt.style, starts_inside=fmt.style is None)
        prompt = request if isinstance(request, str) else await runner.render(request)
        return detect_format(source, prompt)

    def _take_back(self, input_turn: Turn | None, replaced: Turn | None, give_input_back: bool,
                   dropped: list[Turn]) -> None:
        """Nothing useful came back: undo what this reply started (and put back what it dropped)."""
        session = self.session
        kept = ([replaced] if replaced is not None else []) + dropped
        if kept:
            for turn in kept:
                session.turns.append(turn)
                self._emit(TurnAdded(len(session.turns) - 1, turn))
        elif give_input_back and input_turn is not None and session.turns[-1:] == [input_turn]:
            session.undo()
            self._emit(TurnRemoved(len(session.turns), input_turn))
            self._emit(InputReturned(input_turn.text.strip(), input_turn.role))
        self._save()

    # -- editing -----------------------------------------------------------
    def undo(self) -> Turn | None:
        """Take back the last turn; the player's own input comes back to edit."""
        self._require_idle()
        turn = self.session.undo()
        self.edited = None
        if turn is None:
            return None
        self._emit(TurnRemoved(len(self.session.turns), turn))
        self._emit(ContextChanged(self.session.hidden_turns))
        if turn.role in USER_ROLES:
            self._emit(InputReturned(turn.text.strip(), turn.role))
        self._save()
        return turn

    def edit(self, index: int, text: str) -> None:
        self._require_idle()
        self.session.edit(index, text)
        self.edited = index
        self._emit(TurnChanged(index, self.session.turns[index]))
        self._save()

    def dropped_by_retry(self) -> int:
        """Turns Ctrl+R drops to write again from the edited turn (its own reply keeps its versions)."""
        turns = self.session.turns
        if self.edited is None or self.edited >= len(turns):
            return 0
        end = self.edited + 1
        if turns[self.edited].role != "assistant" and end < len(turns) and turns[end].role == "assistant":
            end += 1
        return len(turns) - end

    def set_mode(self, mode: str) -> None:
        self._require_idle()
        if mode == self.session.mode:
            return
        self.session.set_mode(mode)
        self.edited = None
        self.session.start_with_greeting()
        self._emit(SessionReset())
        self._save()

    def update_setup(self, **values: Any) -> None:
        """Change Memory, the Author's note, the character or the persona."""
        for key, value in values.items():
            if key not in SETUP_FIELDS:
                raise ValueError(f"not a setup field: {key}")
            setattr(self.session, key, value)
        if not self.session.turns and self.session.mode == "chat" and self.session.greeting.strip():
            self.session.start_with_greeting()
            self._emit(SessionReset())
        self._emit(SetupChanged())
        self._save()

    def start_scenario(self, scenario: Scenario) -> None:
        """Begin an empty session from a scenario: its Memory and note, its opening as the first reply."""
        self._require_idle()
        if self.session.turns:
            raise NothingToDo("A scenario starts an empty session: start a new one first (Ctrl+N).")
        scenario.start(self.session)
        self._emit(SessionReset())
        self._emit(SetupChanged())
        self._save()

    def new_session(self, keep: Iterable[str] = ()) -> Session:
        """A fresh session in the same mode that carries over the setup fields in ``keep``."""
        self._require_idle()
        unknown = set(keep) - set(SETUP_FIELDS)
        if unknown:
            raise ValueError(f"not a setup field: {', '.join(sorted(unknown))}")
        old = self.session
        self.session = Session(mode=old.mode, **{name: getattr(old, name) for name in keep})
        self.edited = None
        self.session.start_with_greeting()
        self._emit(SessionReset())
        return self.session

    def _require_idle(self) -> None:
        if self.busy:
            raise ConversationBusy("a reply is being written")

    async def _note_speed(self, stats: GenerationStats) -> None:
        """Keep this machine's decode speed so later estimates match it (machine.calibration)."""
        runner, settings = self.runner, self.runner.settings
        if stats.cancelled or not runner.capabilities.loads_files or runner.model_path is None or settings is None:
            return
        from tui_llm.machine.speed import record_run

        gpu_layers = (settings.n_gpu_layers or 0) if runner.capabilities.can_offload else 0
        await asyncio.to_thread(record_run, runner.model_path, settings.resolved_threads(), gpu_layers,
                                stats.tokens_per_second, stats.completion_tokens)

    # -- saving ------------------------------------------------------------
    def _state_key(self) -> str | None:
        """Saved sessions keep the engine's state too, one per session file."""
        path = self.session.path
        return str(path.expanduser().resolve()) if self._save_hook and path else None

    def _save(self) -> None:
        session = self.session
        if self._save_hook is None or (not session.turns and session.path is None):
            return
        runner = self.runner
        session.note_run(
            runner.model_name,
            runner.location or session.model_path,
            runner.template.name if runner.loaded else session.template,
            self._sampler().to_dict(),
        )
        self._save_hook(session)


class _Thought:
    """The thought of the reply being written: its text, its length and how long it took."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tokens = 0
        self._started = 0.0
        self._ended = 0.0

    def add(self, part: str) -> None:
        if not self.parts:
            self._started = time.perf_counter()
        self.parts.append(part)
        self.tokens += 1

    def end(self) -> None:
        if self.parts and not self._ended:
            self._ended = time.perf_counter()

    def seconds(self) -> float:
        if not self.parts:
            return 0.0
        return (self._ended or time.perf_counter()) - self._started

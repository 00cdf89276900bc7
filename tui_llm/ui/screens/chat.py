"""Chat with a model in one of four modes: type, Enter sends, tokens stream in, Esc stops.

The screen holds one ``Session`` and saves it after every change. Streamed
text is appended to a buffer and flushed to the reply view at ~20 Hz.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui_llm.context_window import ContextOverflowError, assemble
from tui_llm.modes import MODE_HELP, MODES, USER_ROLES, clean_reply
from tui_llm.runner import LlamaCppRunner, Runner, RunnerError
from tui_llm.sessions import Session, SessionError, SessionSaver, Turn
from tui_llm.templates import TemplateRenderError
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import Field, FieldsDialog
from tui_llm.ui.messages import ModelLoadProgress
from tui_llm.ui.widgets.session_turn import SessionTurnView
from tui_llm.ui.widgets.transcript import Transcript, TranscriptEntry

FLUSH_INTERVAL = 1 / 20
PLACEHOLDERS = {
    "chat": "Say something · Enter sends · Esc stops",
    "instruct": "Type a message · Enter sends · Esc stops",
    "story": "Write into the story, or Enter on empty to let it go on",
    "adventure": "What do you do? · Enter sends · Ctrl+T: story text",
}


def _session_view(entry: TranscriptEntry) -> SessionTurnView:
    return SessionTurnView(entry.role, entry.text, entry.label or "")


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop"),
        Binding("ctrl+r", "regenerate", "Retry", id="chat.regenerate"),
        Binding("ctrl+g", "continue", "Go on", id="chat.continue"),
        Binding("ctrl+z", "undo", "Undo", id="chat.undo"),
        Binding("ctrl+o", "mode", "Mode", id="chat.mode"),
        Binding("ctrl+t", "toggle_input", "Act/Story", id="chat.toggle_input", show=False),
        Binding("f2", "memory", "Memory", id="chat.memory"),
        Binding("f3", "setup", "Setup", id="chat.setup", show=False),
        Binding("f4", "edit_turn", "Edit", id="chat.edit", show=False),
        Binding("ctrl+n", "new_chat", "New", id="chat.new", show=False),
        Binding("ctrl+b", "back", "Back", id="chat.back", show=False),
        Binding("pageup", "scroll_transcript(-1)", "Scroll up", id="chat.page_up", show=False),
        Binding("pagedown", "scroll_transcript(1)", "Scroll down", id="chat.page_down", show=False),
        Binding("ctrl+end", "scroll_transcript(0)", "Latest", id="chat.latest", show=False),
    ]

    def __init__(
        self,
        runner: Runner,
        model_path: Path | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__()
        self.runner = runner
        self.model_path = model_path
        self.session = session or Session()
        self.input_kind = "action"
        self.generating = False
        self.ready = False
        self._saver = SessionSaver()
        self._views: list[TranscriptEntry] = []
        self._pending = ""
        self._reply_view: TranscriptEntry | None = None
        self._reply_base = ""
        self._reply_text = ""
        self._input_turn: Turn | None = None
        self._replaced: Turn | None = None
        self._continuing = False
        self.last_notice = ""

    @property
    def is_busy(self) -> bool:
        return self.generating

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": turn.role, "content": turn.text} for turn in self.session.turns]

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-title")
        yield Transcript(id="transcript")
        yield Input(placeholder="Loading model ...", id="prompt", disabled=True)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Runs only while a reply streams: an idle chat screen uses no CPU.
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self._flush, pause=True)
        self.session.start_with_greeting()
        self._render_transcript()
        self._update_title()
        if self.model_path is not None:
            self.load_model()
        elif getattr(self.runner, "loaded", True):
            self._became_ready()
        else:
            self._notice("No model is loaded: open one from the home screen.")
            self.query_one("#prompt", Input).placeholder = "No model loaded"

    def on_unmount(self) -> None:
        self._saver.close()

    # -- loading --------------------------------------------------------
    @work(exclusive=True, group="model", exit_on_error=False, description="load model")
    async def load_model(self) -> None:
        assert isinstance(self.runner, LlamaCppRunner) and self.model_path
        self._set_status(f"Loading {self.model_path.name} ...")
        try:
            await self.runner.load(
                self.model_path,
                self.app.config.load_for(self.model_path),
                on_progress=lambda stage, fraction: self.post_message(
                    ModelLoadProgress(stage, fraction)
                ),
            )
        except RunnerError as exc:
            self._set_status("No model loaded")
            self._notice(f"Could not load the model: {exc}")
            self.notify(str(exc), title="Model not loaded", severity="error", timeout=10)
            return
        self._became_ready()
        preset = self.app.config.overrides_for(self.model_path).sampler_preset
        if preset:
            self.app.config.sampler = self.app.config.sampler_for(self.model_path)
            self._notice(f"Sampler preset for this model: {preset}")
        reason = getattr(self.runner, "template_reason", "")
        template = getattr(getattr(self.runner, "template", None), "name", "")
        if template:
            self._notice(f"Prompt template: {template} ({reason})")

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A bug or an unexpected engine error must not leave the screen stuck."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.generating = False
        self._notice(f"Something went wrong ({event.worker.description}): {error}")
        self.notify(str(error), title="Error", severity="error", timeout=10)
        prompt = self.query_one("#prompt", Input)
        if self.ready:
            prompt.disabled = False
            prompt.focus()
        self._update_status()

    def on_model_load_progress(self, message: ModelLoadProgress) -> None:
        if self.ready:  # a late progress message must not hide the ready status line
            return
        self._set_status(f"Loading: {message.stage} ({message.fraction:.0%})")

    def _became_ready(self) -> None:
        self.ready = True
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        self._update_input()
        prompt.focus()
        self._update_title()
        self._update_status()

    # -- transcript -----------------------------------------------------
    def _label(self, role: str) -> str:
        mode = self.session.mode
        if role == "user":
            return "" if mode in ("story", "adventure") else "You"
        if role == "assistant":
            if mode == "chat":
                return self.session.character.strip() or "Model"
            return "Model" if mode == "instruct" else ""
        return ""

    def _make_view(self, turn: Turn) -> TranscriptEntry:
        """The transcript's entry for ``turn``; it becomes a widget only while among the newest."""
        view = TranscriptEntry(turn.role, turn.text, self._label(turn.role), _session_view)
        view.set_class(len(self._views) < self.session.hidden_turns, "out-of-context")
        return view

    def _add_view(self, turn: Turn, track: bool = True) -> TranscriptEntry:
        """Add ``turn`` at the end; ``track`` ties it to the session's turn list."""
        view = self._make_view(turn)
        if track:
            self._views.append(view)
        return self.query_one(Transcript).append(view)

    def _render_transcript(self) -> None:
        self._views = []
        for turn in self.session.turns:
            self._views.append(self._make_view(turn))
        self.query_one(Transcript).show(self._views)

    def _notice(self, text: str) -> None:
        self.last_notice = text
        self.query_one(Transcript).add_turn("notice", text)

    def _mark_hidden(self) -> None:
        hidden = self.session.hidden_turns
        for index, view in enumerate(self._views):
            view.set_class(index < hidden, "out-of-context")

    # -- saving ---------------------------------------------------------
    def _save(self) -> None:
        session = self.session
        if not session.turns and session.path is None:
            return
        info = getattr(self.runner, "info", None)
        path = self.model_path or getattr(info, "path", None)
        session.note_run(
            self.runner.model_name,
            str(path) if path else session.model_path,
            getattr(getattr(self.runner, "template", None), "name", "") or session.template,
            self.app.config.sampler.to_dict(),
        )
        future = asyncio.wrap_future(self._saver.save(session))
        future.add_done_callback(self._saved)

    def _saved(self, future: asyncio.Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            message = str(exc) if isinstance(exc, SessionError) else f"could not save: {exc}"
            self.notify(message, title="Session not saved", severity="error", timeout=10)

    # -- sending --------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        if self.generating or not self.ready:
            return
        text = event.value.strip()
        mode = self.session.mode
        if not text:
            if mode in ("story", "adventure") and (self.session.turns or self.session.memory):
                self.action_continue()
            return
        event.input.value = ""
        role = "action" if mode == "adventure" and self.input_kind == "action" else "user"
        turn = self.session.add(role, event.value if mode == "story" else text)
        self._add_view(turn)
        self._save()
        self._start(input_turn=turn)

    def _start(self, input_turn: Turn | None = None, continuing: bool = False) -> None:
        self._input_turn = input_turn
        self._continuing = continuing
        if continuing:
            self._reply_view = self._views[-1]
            self._reply_base = self.session.turns[-1].text
        else:
            self._reply_view = self._add_view(Turn("assistant", ""), track=False)
            self._reply_base = ""
        self._reply_text = ""
        self._pending = ""
        self.generating = True
        self.generate()

    @work(exclusive=True, group="generation", exit_on_error=False, description="generate")
    async def generate(self) -> None:
        self.generating = True
        self._flush_timer.resume()
        self._set_status("Thinking ...")
        failed: str | None = None
        try:
            assembly = await assemble(
                self.session, self.runner, self.app.config.sampler, self._continuing
            )
            if assembly.notice:
                self._notice(assembly.notice)
                self._mark_hidden()
            async for piece in self.runner.stream(assembly.request, assembly.sampler):
                self._pending += piece
                if not self._reply_text:
                    self._flush()  # the first words show at once; the rest at the flush rate
        except (RunnerError, ContextOverflowError, TemplateRenderError) as exc:
            failed = str(exc)
        finally:
            self.generating = False
            self._flush_timer.pause()
            self._flush()
        self._finish_reply(failed)

    def _finish_reply(self, failed: str | None) -> None:
        stats = self.runner.last_stats
        nothing_said = not self._reply_text.strip()
        view = self._reply_view
        self._reply_view = None
        if failed or nothing_said:
            self._drop_reply(view, give_input_back=bool(failed or stats.cancelled))
            if failed:
                self._notice(f"Generation failed: {failed}")
                self.notify(failed, title="Generation failed", severity="error", timeout=10)
            elif not stats.cancelled:
                self._notice("The model had nothing to add.")
        else:
            text = clean_reply(self.session.mode, self._reply_base + self._reply_text)
            if self._continuing:
                self.session.turns[-1].text = text
            else:
                self.session.add("assistant", text)
                self._views.append(view)
            view.set_text(text + (" [stopped]" if stats.cancelled else ""))
            self._replaced = None
            self._save()
        self.query_one("#prompt", Input).focus()
        self._update_status()

    def _drop_reply(self, view: TranscriptEntry | None, give_input_back: bool) -> None:
        """Nothing useful came back: undo what this generation started."""
        if self._continuing:
            if view is not None:
                view.set_text(self._reply_base)
            return
        if view is not None:
            view.remove()
        if self._replaced is not None:
            self.session.turns.append(self._replaced)
            self._add_view(self._replaced)
            self._replaced = None
        elif give_input_back and self._input_turn is not None and self.session.turns[-1:] == [
            self._input_turn
        ]:
            self.session.undo()
            self._views.pop().remove()
            prompt = self.query_one("#prompt", Input)
            prompt.value = self._input_turn.text
            prompt.cursor_position = len(prompt.value)
        self._save()

    def _flush(self) -> None:
        if not self._pending or self._reply_view is None:
            return
        self._reply_text += self._pending
        self._pending = ""
        self._reply_view.set_text(self._reply_base + self._reply_text)
        self.query_one(Transcript).follow()

    # -- actions --------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_input":
            return self.session.mode == "adventure"
        return True

    def _idle(self) -> bool:
        return self.ready and not self.generating

    def action_stop(self) -> None:
        if self.generating:
            self.runner.cancel()

    def action_regenerate(self) -> None:
        if not self._idle():
            return
        if self.session.last_reply is not None:
            self._replaced = self.session.undo()
            self._views.pop().remove()
        elif not self.session.turns:
            self.notify("Nothing to retry yet.", timeout=3)
            return
        self._start()

    def action_continue(self) -> None:
        if not self._idle():
            return
        session = self.session
        if session.last_reply is not None:
            self._start(continuing=True)
        elif session.turns or (session.mode in ("story", "adventure") and session.memory.strip()):
            self._start()
        else:
            self.notify("Nothing to continue yet.", timeout=3)

    def action_undo(self) -> None:
        if not self._idle():
            return
        turn = self.session.undo()
        if turn is None:
            return
        self._views.pop().remove()
        self._mark_hidden()
        if turn.role in USER_ROLES:
            prompt = self.query_one("#prompt", Input)
            prompt.value = turn.text.strip()
            prompt.cursor_position = len(prompt.value)
            if turn.role == "action":
                self.input_kind = "action"
                self._update_input()
        self._save()
        self._update_status()

    def action_mode(self) -> None:
        if self.generating:
            return
        options = [(mode, f"{mode:<10} {MODE_HELP[mode]}") for mode in MODES]
        self.app.push_screen(
            ChoiceDialog("Mode", options, self.session.mode), self._mode_chosen
        )

    def _mode_chosen(self, mode: str | None) -> None:
        if mode is None or mode == self.session.mode:
            return
        self.session.set_mode(mode)
        self.session.start_with_greeting()
        self._render_transcript()
        self._notice(f"Mode: {mode} ({MODE_HELP[mode]})")
        self.refresh_bindings()
        self._update_input()
        self._update_title()
        self._save()
        self._update_status()

    def action_toggle_input(self) -> None:
        if self.session.mode != "adventure":
            return
        self.input_kind = "story" if self.input_kind == "action" else "action"
        self._update_input()

    def action_memory(self) -> None:
        fields = [
            Field("memory", "Memory (always at the top of the context)", self.session.memory, 6),
            Field("authors_note", "Author's note (a few lines before the end)",
                  self.session.authors_note, 3),
        ]
        self.app.push_screen(FieldsDialog("Memory and Author's note", fields), self._edited)

    def action_setup(self) -> None:
        session = self.session
        fields = [
            Field("character", "Character name (chat)", session.character),
            Field("system_prompt", "Persona / system prompt (chat, instruct)",
                  session.system_prompt, 4),
            Field("greeting", "Greeting: the character's first line (chat)", session.greeting, 2),
            Field("game_preamble", "Game-mode preamble (adventure)", session.game_preamble),
        ]
        self.app.push_screen(FieldsDialog("Setup", fields), self._edited)

    def _edited(self, values: dict[str, object] | None) -> None:
        if not values:
            return
        for key, value in values.items():
            setattr(self.session, key, value)
        if not self.session.turns and self.session.mode == "chat" and self.session.greeting.strip():
            self.session.start_with_greeting()
            self._render_transcript()
        for view in self._views:
            view.set_label(self._label(view.role))
        self._update_title()
        self._save()

    def action_edit_turn(self) -> None:
        if not self._idle() or not self.session.turns:
            return
        options = []
        for index, turn in enumerate(self.session.turns):
            words = " ".join(turn.text.split())
            line = f"{index + 1:>3} {self._label(turn.role) or turn.role}: {words}"
            options.append((str(index), line if len(line) <= 68 else line[:67] + "…"))
        self.app.push_screen(
            ChoiceDialog("Edit which turn?", options, options[-1][0]), self._turn_picked
        )

    def _turn_picked(self, choice: str | None) -> None:
        if choice is None:
            return
        index = int(choice)
        turn = self.session.turns[index]
        field = Field("text", f"Turn {index + 1} ({self._label(turn.role) or turn.role})",
                      turn.text, 12)
        self.app.push_screen(
            FieldsDialog("Edit turn", [field]),
            lambda values: self._turn_edited(index, values),
        )

    def _turn_edited(self, index: int, values: dict[str, object] | None) -> None:
        if not values or index >= len(self.session.turns) or self.generating:
            return
        text = str(values["text"])
        self.session.edit(index, text)
        self._views[index].set_text(text)
        self._save()

    def action_new_chat(self) -> None:
        if self.generating:
            return
        old = self.session
        self.session = Session(
            mode=old.mode, system_prompt=old.system_prompt, character=old.character,
            greeting=old.greeting, memory=old.memory, authors_note=old.authors_note,
            game_preamble=old.game_preamble,
        )
        self.session.start_with_greeting()
        self._render_transcript()
        self._update_status()

    def action_scroll_transcript(self, direction: int) -> None:
        """The transcript never takes focus, so the prompt keeps the keys: scroll it from here."""
        transcript = self.query_one(Transcript)
        if direction < 0:
            transcript.scroll_page_up(animate=False)
        elif direction > 0:
            transcript.scroll_page_down(animate=False)
        else:
            transcript.scroll_end(animate=False)

    def action_back(self) -> None:
        if self.generating:
            self.runner.cancel()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    # -- status ---------------------------------------------------------
    def _update_title(self) -> None:
        name = self.runner.model_name or (self.model_path.name if self.model_path else "")
        parts = ["tui-llm", name, self.session.mode]
        if self.session.mode == "chat" and self.session.character.strip():
            parts.append(f"with {self.session.character.strip()}")
        self.query_one("#chat-title", Static).update(" · ".join(p for p in parts if p))

    def _update_input(self) -> None:
        prompt = self.query_one("#prompt", Input)
        mode = self.session.mode
        if mode == "adventure":
            story = self.input_kind == "story"
            prompt.border_title = "Story" if story else "Action >"
            prompt.placeholder = (
                "Write story text · Enter sends · Ctrl+T: action" if story else PLACEHOLDERS[mode]
            )
        else:
            prompt.border_title = mode.capitalize()
            prompt.placeholder = PLACEHOLDERS[mode]

    def _set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def _update_status(self) -> None:
        stats = self.runner.last_stats
        parts = [self.runner.model_name or "no model", self.session.mode]
        if self.runner.n_ctx:
            parts.append(f"ctx {stats.context_used}/{self.runner.n_ctx}")
        if stats.completion_tokens:
            parts.append(f"{stats.tokens_per_second:.1f} tok/s")
        if stats.cancelled:
            parts.append("stopped")
        if self.session.hidden_turns:
            parts.append(f"{self.session.hidden_turns} old turns out of context")
        self._set_status(" · ".join(parts))

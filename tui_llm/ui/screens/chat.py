"""Chat with a model in one of four modes: type, Enter sends, tokens stream in, Esc stops.

The screen is a view of one ``Conversation``: it turns keys into the
conversation's actions and its events into transcript changes. Streamed text
is appended to a buffer and flushed to the reply view at ~20 Hz.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui_llm.chat import conversation as talk
from tui_llm.chat.conversation import Conversation, ConversationBusy, NothingToDo
from tui_llm.chat.session_keeper import SessionKeeper
from tui_llm.chat.sessions import Session, SessionError, SessionLock, Turn, speaker_name
from tui_llm.engine.contract import GenerationStats, Runner, RunnerError
from tui_llm.machine.guard import load_refusal
from tui_llm.machine.plan import plan_for_file
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.messages import ModelLoadProgress
from tui_llm.ui.screens.chat_play import ChatPlayActions
from tui_llm.ui.screens.chat_setup import ChatSetupActions
from tui_llm.ui.widgets.chat_lines import input_look, progress_line, status_line, title_line
from tui_llm.ui.widgets.ordered_input import PromptInput
from tui_llm.ui.widgets.reply_draft import ReplyDraft, turn_display
from tui_llm.ui.widgets.session_turn import SessionTurnView, session_content
from tui_llm.ui.widgets.transcript import Transcript, TranscriptEntry

FLUSH_INTERVAL = 1 / 20
# Modes whose replies are drawn as Markdown; story and adventure stay prose.
MARKDOWN_MODES = ("chat", "instruct")


def _session_view(entry: TranscriptEntry) -> SessionTurnView:
    return SessionTurnView(entry.role, entry.text, entry.label or "", markdown=entry.has_class("markdown"))


class ChatScreen(ChatSetupActions, ChatPlayActions, Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop"),
        Binding("ctrl+r", "regenerate", "Retry", id="chat.regenerate"),
        Binding("ctrl+g", "continue", "Go on", id="chat.continue"),
        Binding("ctrl+z", "undo", "Undo", id="chat.undo"),
        Binding("alt+left", "browse(-1)", "Previous version of the reply", id="chat.previous", show=False),
        Binding("alt+right", "browse(1)", "Next version (past the last: a new one)", id="chat.next", show=False),
        # Plain arrows reach the app from any terminal (Alt+arrows not always): on an empty prompt only.
        Binding("left", "browse(-1, True)", "Previous version (prompt empty)", id="chat.previous_empty",
                show=False, priority=True),
        Binding("right", "browse(1, True)", "Next version (prompt empty)", id="chat.next_empty",
                show=False, priority=True),
        Binding("ctrl+o", "mode", "Mode", id="chat.mode"),
        Binding("ctrl+t", "toggle_input", "Act/Story", id="chat.toggle_input", show=False),
        Binding("f2", "memory", "Memory", id="chat.memory"),
        Binding("f3", "setup", "Setup", id="chat.setup", show=False),
        Binding("f4", "edit_turn", "Edit", id="chat.edit", show=False),
        Binding("f5", "toggle_thoughts", "Show/fold thoughts", id="chat.thoughts", show=False),
        Binding("f6", "play", "Card & lore", id="chat.play", show=False),
        Binding("f7", "preview_prompt", "Next prompt", id="chat.preview_prompt", show=False),
        Binding("f8", "token_probs", "Token odds", id="chat.token_probs", show=False),
        Binding("ctrl+n", "new_chat", "New", id="chat.new", show=False),
        Binding("ctrl+y", "copy_reply", "Copy reply", id="chat.copy", show=False),
        Binding("ctrl+s", "save_reply", "Save reply", id="chat.save_reply", show=False),
        Binding("ctrl+b", "back", "Back", id="chat.back", show=False),
        Binding("pageup", "scroll_transcript(-1)", "Scroll up", id="chat.page_up", show=False),
        Binding("pagedown", "scroll_transcript(1)", "Scroll down", id="chat.page_down", show=False),
        Binding("ctrl+end", "scroll_transcript(0)", "Latest", id="chat.latest", show=False),
    ]

    def __init__(
        self, runner: Runner, model_path: Path | None = None, session: Session | None = None,
        lock: SessionLock | None = None,
    ) -> None:
        """``lock``: the session file's lock, already taken; held until the screen goes."""
        super().__init__()
        self.runner = runner
        self.model_path = model_path
        self._saver = SessionKeeper(lock)
        self.conversation = Conversation(runner, session or Session(), sampler=self._sampler, save=self._save,
                                         thinking=lambda: self.app.config.overrides_for(runner.model_path).thinking or "")
        self.conversation.subscribe(self._on_event)
        self.input_kind = "action"
        self.ready = False
        self._loading = True
        self._figures: GenerationStats | None = None
        self._pieces, self._first_piece_at = 0, 0.0
        self._views: list[TranscriptEntry] = []
        self._reply_view: TranscriptEntry | None = None
        self._draft = ReplyDraft()
        self.show_thoughts = False
        self.last_notice = ""

    @property
    def session(self) -> Session:
        return self.conversation.session

    @property
    def generating(self) -> bool:
        return self.conversation.busy

    is_busy = generating

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": turn.role, "content": turn.text} for turn in self.session.turns]

    def _sampler(self):  # noqa: ANN202 - the app's current settings over the model's own, read at each reply
        info = self.runner.info
        return self.app.config.reply_sampler(self.runner.model_path, info.metadata if info else None).settings

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-title")
        yield Transcript(id="transcript")
        yield PromptInput(placeholder="Loading model ...", id="prompt", disabled=True)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Runs only while a reply streams: an idle chat screen uses no CPU.
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self._flush, pause=True)
        self._render_transcript()
        self._update_title()
        self.offer_scenarios()
        if self.model_path is not None or (
            not self.runner.loaded and not self.runner.capabilities.loads_files
        ):
            self.load_model()
        elif self.runner.loaded:
            self._became_ready()
        else:
            self._notice("No model is loaded: open one from the home screen.")
            self.query_one("#prompt", Input).placeholder = "No model loaded"

    def on_unmount(self) -> None:
        self._saver.close()

    # -- loading --------------------------------------------------------
    @work(exclusive=True, group="model", exit_on_error=False, description="load model")
    async def load_model(self) -> None:
        source = self.model_path
        self._set_status(f"Loading {source.name} ..." if source else "Connecting ...")
        plan = None
        if source is not None and self.runner.capabilities.loads_files:
            # Reads the file's header and, the first time, probes the machine: off the event loop.
            plan, refusal = await asyncio.to_thread(self._plan_and_judge, source)
            if refusal and not await self._load_anyway(refusal):
                return
        try:
            await self.runner.load(
                source, plan and plan.settings, plan and plan.template,
                on_progress=lambda stage, fraction: self.post_message(ModelLoadProgress(stage, fraction)),
            )
        except RunnerError as exc:
            if not self.runner.capabilities.loads_files:
                # A server may come back: each reply asks it again, and the typed text stays.
                self._notice(f"Could not reach the server: {exc}. Enter tries again.")
                self._became_ready()
                return
            self._loading = False
            self._set_status("No model loaded · Ctrl+B goes back")
            self.query_one("#prompt", Input).placeholder = "No model loaded"
            self._notice(f"Could not load the model: {exc}")
            self.notify(str(exc), title="Model not loaded", severity="error", timeout=10)
            return
        self._became_ready()
        preset = self.app.config.overrides_for(source).sampler_preset if source else None
        if preset:
            self.app.config.sampler = self.app.config.sampler_for(source)
            self._notice(f"Sampler preset for this model: {preset}")
        self._notice(f"Prompt template: {self.runner.template.name} ({self.runner.template_reason})")
        if plan is not None and plan.rope_note:
            self._notice(plan.rope_note)

    def _plan_and_judge(self, source: Path):  # noqa: ANN202 - a load plan and the fit guard's refusal
        hardware = self.app.machine.get()
        plan = plan_for_file(self.app.config, source, hardware)
        return plan, load_refusal(source, plan.settings, hardware)

    async def _load_anyway(self, refusal: str) -> bool:
        """Ask before loading a model the fit guard refused; Cancel goes back to where the user was."""
        self._set_status("Not loaded yet: the model may not fit")
        answer = await self.app.push_screen_wait(ChoiceDialog(
            f"{refusal}\nLoading it anyway may make this machine swap or the app be killed.",
            [("cancel", "Cancel"), ("load", "Load anyway")], "cancel",
        ))
        if answer == "load":
            return True
        self._loading = False
        self.notify(refusal, title="Model not loaded", severity="warning", timeout=10)
        if self.is_current and len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self._set_status("No model loaded · Ctrl+B goes back")
            self.query_one("#prompt", Input).placeholder = "No model loaded"
            self._notice(f"Not loaded: {refusal}")
        return False

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A bug or an unexpected engine error must not leave the screen stuck."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self._notice(f"Something went wrong ({event.worker.description}): {error}")
        self.notify(str(error), title="Error", severity="error", timeout=10)
        prompt = self.query_one("#prompt", Input)
        if self.ready:
            prompt.disabled = False
            prompt.focus()
        self._update_status()

    def on_model_load_progress(self, message: ModelLoadProgress) -> None:
        if not self._loading:  # a late progress message must not hide what followed the load
            return
        self._set_status(f"Loading: {message.stage} ({message.fraction:.0%})")

    def _became_ready(self) -> None:
        self.ready, self._loading = True, False
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        self._update_input()
        prompt.focus()
        self._update_title()
        self._update_status()

    # -- transcript -----------------------------------------------------
    def _label(self, turn: Turn) -> str:
        """How the transcript names a turn's speaker: a chat's reply by its name when written."""
        mode = self.session.mode
        if turn.role == "user":
            return "" if mode in ("story", "adventure") else "You"
        if turn.role == "assistant":
            if mode == "chat":
                return speaker_name(self.session, turn)
            return "Model" if mode == "instruct" else ""
        return ""

    def _make_view(self, turn: Turn) -> TranscriptEntry:
        """The transcript's entry for ``turn``; it becomes a widget only while among the newest."""
        text = turn_display(turn, self.show_thoughts)
        view = TranscriptEntry(turn.role, text, self._label(turn), _session_view, session_content)
        view.set_class(turn.role == "assistant" and self.session.mode in MARKDOWN_MODES, "markdown")
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

    def _give_back(self, text: str, role: str) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.value = text
        prompt.cursor_position = len(prompt.value)
        if role == "action":
            self.input_kind = "action"
            self._update_input()

    # -- the conversation's events ----------------------------------------
    def _on_event(self, event: talk.Event) -> None:
        match event:
            case talk.TurnAdded(turn=turn):
                self._add_view(turn)
            case talk.TurnRemoved():
                if self._views:
                    self._views.pop().remove()
            case talk.TurnChanged(index=index, turn=turn):
                self._views[index].set_text(turn_display(turn, self.show_thoughts))
            case talk.ReplyStarted(continuing=continuing, base=base):
                self._start_reply(continuing, base)
            case talk.ReplyThinking(piece=piece) | talk.ReplyText(piece=piece):
                first = self._draft.shown_nothing
                if isinstance(event, talk.ReplyThinking):
                    self._draft.add_thought(piece)
                else:
                    self._draft.add_text(piece)
                self._pieces += 1
                if first:
                    self._flush()  # the first words show at once; the rest at the flush rate
            case talk.ReplyEnded():
                self._end_reply(event)
            case talk.InputReturned(text=text, role=role):
                self._give_back(text, role)
            case talk.Notice(text=text):
                self._notice(text)
            case talk.ContextChanged():
                self._mark_hidden()
                self._figures = None  # they described a context that changed
            case talk.SessionReset():
                self._saver.release()
                self._figures = None
                self._render_transcript()
            case talk.SetupChanged():
                for view, turn in zip(self._views, self.session.turns):
                    view.set_label(self._label(turn))
                self._update_title()

    def _start_reply(self, continuing: bool, base: str) -> None:
        if continuing:
            self._reply_view = self._views[-1]
        else:
            self._reply_view = self._add_view(Turn("assistant", ""), track=False)
        self._draft = ReplyDraft(base)
        self._pieces = 0
        self._first_piece_at = 0.0
        self._flush_timer.resume()
        self._set_status("Thinking ...")

    def _end_reply(self, event: talk.ReplyEnded) -> None:
        self._flush_timer.pause()
        self._flush()
        view, self._reply_view = self._reply_view, None
        self._figures = event.stats if event.turn is not None else None
        if event.turn is None:
            if view is not None:
                if event.continuing:
                    view.set_text(turn_display(self.session.turns[-1], self.show_thoughts))
                else:
                    view.remove()
            if event.error:
                self._notice(f"Generation failed: {event.error}")
                self.notify(event.error, title="Generation failed", severity="error", timeout=10)
        elif view is not None:
            if not event.continuing:
                self._views.append(view)
            shown = turn_display(event.turn, self.show_thoughts)
            view.set_text(shown + (" [stopped]" if event.stats.cancelled else ""))
        self.query_one("#prompt", Input).focus()
        self._update_status()

    def _flush(self) -> None:
        if self._reply_view is None or not (self._draft.dirty or self._draft.thinking):
            return
        self._reply_view.set_text(self._draft.display(self.show_thoughts))
        self.query_one(Transcript).follow()
        self._show_progress()

    def _show_progress(self) -> None:
        """Live figures while a reply streams (the engine's own come when it ends)."""
        now = time.perf_counter()
        self._first_piece_at = self._first_piece_at or now
        self._set_status(progress_line(self.runner.model_name, self.session.mode, self._pieces,
                                       now - self._first_piece_at))

    def action_toggle_thoughts(self) -> None:
        """Show or fold the models' thoughts, in every reply."""
        self.show_thoughts = not self.show_thoughts
        for view, turn in zip(self._views, self.session.turns):
            view.set_text(turn_display(turn, self.show_thoughts))
        self._flush()

    # -- saving ---------------------------------------------------------
    def _save(self, session: Session) -> None:
        future = asyncio.wrap_future(self._saver.save(session))
        future.add_done_callback(self._saved)

    def _saved(self, future: asyncio.Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            message = str(exc) if isinstance(exc, SessionError) else f"could not save: {exc}"
            self.notify(message, title="Session not saved", severity="error", timeout=10)

    # -- actions --------------------------------------------------------
    @work(exclusive=True, group="generation", exit_on_error=False, description="generate")
    async def _generate(self, reply: talk.Reply) -> None:
        await reply

    def _begin(self, start, typed: str = "") -> None:  # noqa: ANN001 - a Conversation action
        """Start a reply now (the conversation is claimed at once); stream it in a worker.

        ``typed``: the prompt text that asked for it, put back if no reply can start now.
        """
        try:
            if not self.ready:
                raise ConversationBusy("no model yet")
            reply = start()
        except ConversationBusy:
            if typed.strip():
                prompt = self.query_one("#prompt", Input)
                prompt.value = typed + prompt.value  # as if Enter had not been pressed
                prompt.cursor_position = len(prompt.value)
            return
        except NothingToDo as exc:
            self.notify(str(exc), timeout=3)
            return
        if reply is not None:  # browsing to a version already written starts nothing
            self._generate(reply)

    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        value = event.value
        if not value.strip() and not self.conversation.goes_on_when_empty():
            return
        as_action = self.input_kind == "action"
        self._begin(lambda: self.conversation.send(value, as_action=as_action), typed=value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_input":
            return self.session.mode == "adventure"
        return True

    def _idle(self) -> bool:
        return self.ready and not self.generating

    def action_stop(self) -> None:
        self.conversation.stop()

    def action_regenerate(self) -> None:
        """After an edit, writes again from the edited turn; turns after it go only when confirmed."""
        if not self._idle():
            return
        if self.conversation.dropped_by_retry():
            self.offer_retry_from_edit()
        else:
            self._begin(self.conversation.regenerate)

    def action_browse(self, step: int, only_when_empty: bool = False) -> None:
        """Show another version of the last reply; past the last one, write a new one."""
        if only_when_empty and (self.query_one("#prompt", Input).value or self.session.last_reply is None):
            raise SkipAction()  # the arrow goes to the prompt as usual
        if self._idle():
            self._begin(lambda: self.conversation.browse(step))

    def action_continue(self) -> None:
        if self._idle():
            self._begin(self.conversation.go_on)

    def action_undo(self) -> None:
        if not self._idle():
            return
        self.conversation.undo()
        self._update_status()

    def action_scroll_transcript(self, direction: int) -> None:
        """The transcript never takes focus, so the prompt keeps the keys: scroll it from here."""
        self.query_one(Transcript).scroll_pages(direction)

    def action_back(self) -> None:
        self.conversation.stop()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    # -- status ---------------------------------------------------------
    def _update_title(self) -> None:
        name = self.runner.model_name or (self.model_path.name if self.model_path else "")
        self.query_one("#chat-title", Static).update(title_line(name, self.session))

    def _update_input(self) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.border_title, prompt.placeholder = input_look(self.session.mode, self.input_kind)

    def _set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def _update_status(self) -> None:
        self._set_status(status_line(self.runner.model_name, self.session, self.runner.n_ctx, self._figures))

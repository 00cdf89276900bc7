"""Chat with a model: type, Enter sends, tokens stream in, Esc stops."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui_llm.runner import LlamaCppRunner, Runner, RunnerError
from tui_llm.ui.messages import ModelLoadProgress
from tui_llm.ui.widgets.transcript import Transcript, TurnView

FLUSH_INTERVAL = 1 / 20


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop"),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new"),
        Binding("ctrl+b", "back", "Back", id="chat.back"),
    ]

    def __init__(self, runner: Runner, model_path: Path | None = None) -> None:
        super().__init__()
        self.runner = runner
        self.model_path = model_path
        self.messages: list[dict[str, str]] = []
        self.generating = False
        self.ready = model_path is None and getattr(runner, "loaded", True)
        self._pending = ""
        self._reply_view: TurnView | None = None
        self._user_view: TurnView | None = None
        self._reply_text = ""
        self._last_prompt = ""

    @property
    def is_busy(self) -> bool:
        return self.generating

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-title")
        yield Transcript(id="transcript")
        yield Input(placeholder="Loading model ...", id="prompt", disabled=True)
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(FLUSH_INTERVAL, self._flush)
        if self.model_path is not None:
            self.query_one("#chat-title", Static).update(f"tui-llm · {self.model_path.name}")
            self.load_model()
        else:
            self._became_ready()

    # -- loading --------------------------------------------------------
    @work(exclusive=True, group="model", exit_on_error=False, description="load model")
    async def load_model(self) -> None:
        assert isinstance(self.runner, LlamaCppRunner) and self.model_path
        self._set_status(f"Loading {self.model_path.name} ...")
        try:
            await self.runner.load(
                self.model_path,
                self.app.config.load,
                on_progress=lambda stage, fraction: self.post_message(
                    ModelLoadProgress(stage, fraction)
                ),
            )
        except RunnerError as exc:
            self._set_status("No model loaded")
            self.query_one(Transcript).add_turn("notice", f"Could not load the model: {exc}")
            self.notify(str(exc), title="Model not loaded", severity="error", timeout=10)
            return
        self._became_ready()
        reason = getattr(self.runner, "template_reason", "")
        template = getattr(getattr(self.runner, "template", None), "name", "")
        if template:
            self.query_one(Transcript).add_turn(
                "notice", f"Prompt template: {template} ({reason})"
            )

    def on_model_load_progress(self, message: ModelLoadProgress) -> None:
        self._set_status(f"Loading: {message.stage} ({message.fraction:.0%})")

    def _became_ready(self) -> None:
        self.ready = True
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        prompt.placeholder = "Type a message · Enter sends · Esc stops"
        prompt.focus()
        self.query_one("#chat-title", Static).update(f"tui-llm · {self.runner.model_name}")
        self._update_status()

    # -- sending --------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.generating or not self.ready:
            return
        event.input.value = ""
        self._last_prompt = text
        self.messages.append({"role": "user", "content": text})
        transcript = self.query_one(Transcript)
        self._user_view = transcript.add_turn("user", text)
        self._reply_view = transcript.add_turn("assistant", "")
        self._reply_text = ""
        self.generate()

    @work(exclusive=True, group="generation", exit_on_error=False, description="generate")
    async def generate(self) -> None:
        self.generating = True
        self._set_status("Thinking ...")
        failed: str | None = None
        try:
            async for piece in self.runner.stream(list(self.messages), self.app.config.sampler):
                self._pending += piece
        except RunnerError as exc:
            failed = str(exc)
        finally:
            self.generating = False
            self._flush()
        self._finish_reply(failed)

    def _finish_reply(self, failed: str | None) -> None:
        stats = self.runner.last_stats
        transcript = self.query_one(Transcript)
        nothing_said = not self._reply_text.strip()
        if failed or (stats.cancelled and nothing_said):
            # Nothing useful came back: undo the turn and give the prompt back.
            self.messages.pop()
            for view in (self._user_view, self._reply_view):
                if view is not None:
                    view.remove()
            prompt = self.query_one("#prompt", Input)
            prompt.value = self._last_prompt
            prompt.cursor_position = len(prompt.value)
            if failed:
                transcript.add_turn("notice", f"Generation failed: {failed}")
                self.notify(failed, title="Generation failed", severity="error", timeout=10)
        else:
            self.messages.append({"role": "assistant", "content": self._reply_text})
            if stats.cancelled and self._reply_view is not None:
                self._reply_view.set_text(self._reply_text + " [stopped]")
        self._reply_view = None
        self.query_one("#prompt", Input).focus()
        self._update_status()

    def _flush(self) -> None:
        if not self._pending or self._reply_view is None:
            return
        self._reply_text += self._pending
        self._pending = ""
        self._reply_view.set_text(self._reply_text)
        self.query_one(Transcript).follow()

    # -- actions --------------------------------------------------------
    def action_stop(self) -> None:
        if self.generating:
            self.runner.cancel()

    def action_new_chat(self) -> None:
        if self.generating:
            return
        self.messages.clear()
        self.query_one(Transcript).remove_children()
        self._update_status()

    def action_back(self) -> None:
        if self.generating:
            self.runner.cancel()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    # -- status ---------------------------------------------------------
    def _set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def _update_status(self) -> None:
        stats = self.runner.last_stats
        parts = [self.runner.model_name or "no model"]
        if self.runner.n_ctx:
            parts.append(f"ctx {stats.context_used}/{self.runner.n_ctx}")
        if stats.completion_tokens:
            parts.append(f"{stats.tokens_per_second:.1f} tok/s")
        if stats.cancelled:
            parts.append("stopped")
        self._set_status(" · ".join(parts))

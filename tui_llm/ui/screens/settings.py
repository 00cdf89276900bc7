"""Settings: sampler values and presets, load settings, this model's template; saved to config.toml.

Sampler changes go straight into ``app.config.sampler``, which the chat reads
at every send, so they apply to the next reply. Load settings apply when a
model is next loaded; rows that differ from the loaded model say "needs reload".
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static
from textual.worker import Worker, WorkerState

from tui_llm.engine import load_settings as load_fields
from tui_llm.engine import sampler as sampler_fields
from tui_llm.config import ConfigError, ModelOverrides, save_config
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.contract import THINKING_CHOICES
from tui_llm.engine.model_sampling import MODEL as MODEL_SOURCE, USER as USER_SOURCE, layered, sources_line
from tui_llm.engine.sampler import DEFAULT_PRESET, SamplerPreset, SamplerSettings, load_sampler_presets
from tui_llm.models.info import ModelInfo
from tui_llm.models.rope import ModelRope, choose
from tui_llm.prompts.templates import PromptTemplate, TemplateLibrary, detect_template, load_library
from tui_llm.ui.messages import ChoicesRead, TemplateDetected
from tui_llm.ui.widgets.ordered_input import OrderedInput
from tui_llm.ui.widgets.setting_row import SettingRow

SAMPLER, LOAD, MODEL = "sampler", "load", "model"
MODEL_FIELDS = {
    "n_ctx": ("Context size", "This model's context size; blank = the default above."),
    "n_gpu_layers": ("GPU layers", "This model's GPU layers; blank = the default above."),
    "rope_scaling": ("RoPE scaling", "auto, none, linear or yarn for this model; blank = the default above."),
    "rope_freq_base": ("RoPE base", "This model's RoPE frequency base (NTK); blank = the default above."),
    "rope_freq_scale": ("RoPE scale", "This model's RoPE frequency scale; blank = the default above."),
}


class SettingsForm(VerticalScroll):
    """A scrolling form where the arrow keys move between fields, not the scroll bar."""

    BINDINGS = [
        Binding("down", "app.focus_next", "Next field", show=False, id="settings.next"),
        Binding("up", "app.focus_previous", "Previous field", show=False, id="settings.previous"),
    ]


class SettingsScreen(Screen):
    DEFAULT_CSS = """
    SettingsScreen #settings-title { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    SettingsScreen #settings-form { height: 1fr; padding: 0 1; }
    SettingsScreen .settings-section { height: 1; margin-top: 1; text-style: bold; }
    SettingsScreen #settings-help { height: 2; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="settings.back"),
        Binding("ctrl+s", "save", "Save", id="settings.save"),
        Binding("ctrl+r", "reset", "Reset to preset", id="settings.reset"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.presets: dict[str, SamplerPreset] = {}
        self.library: TemplateLibrary | None = None
        self._replace_broken_armed = False

    # -- building -------------------------------------------------------------
    @property
    def model_path(self) -> Path | None:
        return self.app.runner.model_path or self.app.model_path

    @property
    def loaded_settings(self) -> LoadSettings | None:
        return self.app.runner.settings

    def compose(self) -> ComposeResult:
        config = self.app.config
        yield Static("Settings · Tab/arrows move · Ctrl+S saves · Esc back", id="settings-title")
        with SettingsForm(id="settings-form"):
            yield Static("Sampler · applies to the next reply", classes="settings-section")
            yield SettingRow(
                SAMPLER, "preset", "Preset", "Start from a named preset (Enter to choose).",
                Select([], prompt="(loading)", allow_blank=True, compact=True, id="sampler-preset"),
            )
            for f in fields(SamplerSettings):
                help = sampler_fields.FIELD_HELP[f.name]
                value = sampler_fields.format_value(f.name, getattr(config.sampler, f.name))
                yield SettingRow(SAMPLER, f.name, help.label, help.help, _input(SAMPLER, f.name, value))
            yield Static("Loading · applies when a model is next loaded", classes="settings-section")
            for f in fields(LoadSettings):
                help = load_fields.FIELD_HELP[f.name]
                value = load_fields.format_value(f.name, getattr(config.load, f.name))
                yield SettingRow(LOAD, f.name, help.label, help.help, _input(LOAD, f.name, value))
            if self.model_path is not None:
                overrides = config.overrides_for(self.model_path)
                yield Static(f"This model · {self.model_path.name}", classes="settings-section")
                yield SettingRow(
                    MODEL, "template", "Prompt template", "How messages are laid out for this model.",
                    Select([], prompt="auto (detect)", allow_blank=True, compact=True, id="model-template"),
                )
                yield SettingRow(
                    MODEL, "sampler_preset", "Sampler preset", "This model's own sampler preset.",
                    Select([], prompt="the settings above", allow_blank=True, compact=True, id="model-preset"),
                )
                yield SettingRow(
                    MODEL, "thinking", "Thinking",
                    "A reasoning model: think or not, and how hard, where its template allows.",
                    Select([(c, c) for c in THINKING_CHOICES], prompt="the model's default",
                           value=overrides.thinking or Select.NULL, allow_blank=True, compact=True,
                           id="model-thinking"),
                )
                for name, (label, help) in MODEL_FIELDS.items():
                    value = getattr(overrides, name)
                    text = "" if value is None else str(value)
                    yield SettingRow(MODEL, name, label, help, _input(MODEL, name, text))
        yield Static("", id="settings-help")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(f"#{SAMPLER}-temperature", Input).focus()
        self._mark_reloads()
        self.load_choices()

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings", description="read presets")
    def load_choices(self) -> None:
        presets, problems = load_sampler_presets()
        library = load_library()
        self.post_message(ChoicesRead(presets, library, problems + library.problems))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group in {"settings", "template"}:
            self.notify(f"{event.worker.description} failed: {event.worker.error}",
                        title="Settings", severity="error", timeout=10)

    def on_choices_read(self, message: ChoicesRead) -> None:
        presets, library, problems = message.presets, message.library, message.problems
        self.presets, self.library = presets, library
        config = self.app.config
        preset_select = self.query_one("#sampler-preset", Select)
        with self.prevent(Select.Changed):
            preset_select.set_options([(p.title, p.name) for p in presets.values()])
            if config.sampler_preset in presets:
                preset_select.value = config.sampler_preset
        if self.model_path is not None:
            overrides = config.overrides_for(self.model_path)
            template_select = self.query_one("#model-template", Select)
            model_preset = self.query_one("#model-preset", Select)
            with self.prevent(Select.Changed):
                template_select.set_options([(f"{t.label}", t.name) for t in library.chat()])
                if overrides.template in library.templates:
                    template_select.value = overrides.template
                model_preset.set_options([(p.title, p.name) for p in presets.values()])
                if overrides.sampler_preset in presets:
                    model_preset.value = overrides.sampler_preset
        self._mark_preset()
        for problem in problems:
            self.notify(problem, title="Presets", severity="warning", timeout=10)

    # -- editing ----------------------------------------------------------------
    def _row(self, group: str, name: str) -> SettingRow:
        return self.query_one(f"#row-{group}-{name}", SettingRow)

    def _rows(self, group: str) -> list[SettingRow]:
        return [row for row in self.query(SettingRow) if row.group == group and isinstance(row.editor, Input)]

    @on(Input.Changed)
    def edited(self, event: Input.Changed) -> None:
        row = next((a for a in event.input.ancestors if isinstance(a, SettingRow)), None)
        if row is None:
            return
        self._replace_broken_armed = False
        if row.group in (SAMPLER, LOAD):
            self._apply_group(row)
        else:
            self._apply_model_value(row)
        self._show_help(row)

    def _group_parts(self, group: str) -> tuple[Any, str]:
        """The module that parses the group's fields, and the config attribute it edits."""
        return (sampler_fields, "sampler") if group == SAMPLER else (load_fields, "load")

    def _apply_group(self, edited: SettingRow) -> None:
        """Re-read every row of the edited group; apply only if all of it is valid."""
        fields_module, attribute = self._group_parts(edited.group)
        values: dict[str, Any] = {}
        for row in self._rows(edited.group):
            try:
                values[row.field] = fields_module.parse_value(row.field, _text(row))
            except ValueError as exc:
                if row is edited:
                    edited.set_error(self._still_using(exc, edited.group, edited.field))
                    return
        try:
            settings = getattr(self.app.config, attribute).with_changes(**values)
        except (ValueError, TypeError) as exc:
            edited.set_error(self._still_using(exc, edited.group, edited.field))
            return
        for row in self._rows(edited.group):
            row.set_error("")
        setattr(self.app.config, attribute, settings)
        if edited.group == SAMPLER:
            self._mark_preset()
        else:
            self._mark_reloads()

    def _still_using(self, error: Exception, group: str, name: str) -> str:
        """The error, and the value that stays in use until the text is valid."""
        fields_module, attribute = self._group_parts(group)
        current = fields_module.format_value(name, getattr(getattr(self.app.config, attribute), name))
        return f"{error} (still using {current or 'none'})"

    def _apply_model_value(self, row: SettingRow) -> None:
        text = _text(row).strip()
        try:
            value = load_fields.parse_value(row.field, text) if text else None
            overrides = replace(self.app.config.overrides_for(self.model_path), **{row.field: value})
            LoadSettings().with_changes(**overrides.load_changes())
        except ValueError as exc:
            message = str(exc) if "must" in str(exc) else f"{row.label} must be a number or blank"
            row.set_error(message)
            return
        row.set_error("")
        self._set_overrides(overrides)
        self._mark_reloads()

    def _set_overrides(self, overrides: ModelOverrides) -> None:
        if self.model_path is not None:
            self.app.config.set_overrides(self.model_path, overrides)

    @on(Select.Changed, "#sampler-preset")
    def preset_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value in self.presets:
            self.app.config.sampler_preset = event.value
            self.action_reset()

    @on(Select.Changed, "#model-template")
    def template_chosen(self, event: Select.Changed) -> None:
        name = event.value if isinstance(event.value, str) else None
        overrides = replace(self.app.config.overrides_for(self.model_path), template=name)
        self._set_overrides(overrides)
        self._apply_template_now(name)

    @on(Select.Changed, "#model-thinking")
    def thinking_chosen(self, event: Select.Changed) -> None:
        value = event.value if isinstance(event.value, str) else None
        self._set_overrides(replace(self.app.config.overrides_for(self.model_path), thinking=value))

    @on(Select.Changed, "#model-preset")
    def model_preset_chosen(self, event: Select.Changed) -> None:
        name = event.value if isinstance(event.value, str) else None
        overrides = replace(self.app.config.overrides_for(self.model_path), sampler_preset=name)
        self._set_overrides(overrides)
        if name in self.presets:
            self.app.config.sampler_preset = name
            self.action_reset()

    def _apply_template_now(self, name: str | None) -> None:
        """A loaded model switches template at once: the next reply uses it."""
        info, library = self.app.runner.info, self.library
        if info is None or library is None:
            return
        if name:
            template = library.get(name).with_tokens(info.bos_token, info.eos_token)
            self._use_template(template, "chosen in settings")
        else:
            self._detect_template(info, library)

    @work(thread=True, exclusive=True, group="template", exit_on_error=False,
          description="detect the prompt template")
    def _detect_template(self, info: ModelInfo, library: TemplateLibrary) -> None:
        # Detection renders the model's own (untrusted) template: never on the event loop.
        template, reason = detect_template(info, library=library)
        self.post_message(TemplateDetected(template, reason))

    def on_template_detected(self, message: TemplateDetected) -> None:
        self._use_template(message.template, message.reason)

    def _use_template(self, template: PromptTemplate, reason: str) -> None:
        self.app.runner.set_template(template, reason)
        self.notify(f"Prompt template: {template.label} ({reason})", timeout=6)

    def action_reset(self) -> None:
        """Put the sampler back to the chosen preset's values."""
        preset = self.presets.get(self.app.config.sampler_preset)
        if preset is None:
            return
        self.app.config.sampler = preset.settings
        with self.prevent(Input.Changed):
            for row in self._rows(SAMPLER):
                row.editor.value = sampler_fields.format_value(row.field, getattr(preset.settings, row.field))
                row.set_error("")
        self._mark_preset()

    # -- status -------------------------------------------------------------------
    def _mark_preset(self) -> None:
        preset = self.presets.get(self.app.config.sampler_preset)
        row = self._row(SAMPLER, "preset")
        if preset is None:
            row.help = "Start from a named preset (Enter to choose)."
        elif preset.settings == self.app.config.sampler:
            row.help = preset.note
        else:
            row.help = f"{preset.title}, modified · Ctrl+R resets to it"
        config, info = self.app.config, self.app.runner.info
        name = config.overrides_for(self.model_path).sampler_preset or config.sampler_preset
        base = self.presets.get(name)
        sourced = layered(base.settings if base else SamplerSettings(), config.sampler,
                          info.metadata if info else None, name == DEFAULT_PRESET)
        if sourced.from_source(MODEL_SOURCE) or sourced.from_source(USER_SOURCE):
            row.help = f"{row.help} · {sources_line(sourced)}"
        row.set_error("")

    def _mark_reloads(self) -> None:
        loaded = self.loaded_settings
        if loaded is None:
            return
        wanted = self.app.config.load_for(self.model_path)
        # An "auto" field was planned for this machine at load: the value it loaded
        # with is what auto means, not a change waiting for a reload.
        changed = {name for name in load_fields.changed_fields(loaded, wanted)
                   if not (name in load_fields.AUTO_FIELDS and getattr(wanted, name) is None)}
        for row in self._rows(LOAD):
            row.set_reload(row.field in changed)
        self._explain_rope()
        if self.model_path is not None:
            overrides = self.app.config.overrides_for(self.model_path)
            for name in MODEL_FIELDS:
                overridden = getattr(overrides, name) is not None
                self._row(MODEL, name).set_reload(overridden and name in changed)

    def _explain_rope(self) -> None:
        """Past the loaded model's trained length, the context rows say which RoPE scaling it gets."""
        info = self.app.runner.info
        if info is None or not info.n_ctx_train:
            return
        wanted = self.app.config.load_for(self.model_path)
        choice = choose(wanted.n_ctx, info.n_ctx_train, ModelRope.from_metadata(info.architecture, info.metadata),
                        wanted.rope_scaling, wanted.rope_freq_base, wanted.rope_freq_scale)
        rows = [self._row(LOAD, "n_ctx")]
        if self.model_path is not None:
            rows.append(self._row(MODEL, "n_ctx"))
        for row in rows:
            default = (MODEL_FIELDS["n_ctx"][1] if row.group == MODEL
                       else load_fields.FIELD_HELP["n_ctx"].help)
            row.help = choice.note or default
            row.set_error(row.error)

    def on_descendant_focus(self, event: Any) -> None:
        row = next((a for a in event.widget.ancestors_with_self if isinstance(a, SettingRow)), None)
        if row is not None:
            self._show_help(row)

    def _show_help(self, row: SettingRow) -> None:
        self.query_one("#settings-help", Static).update(f"{row.label}: {row.note}")

    # -- actions --------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_save(self) -> None:
        self.save(replace_broken=self._replace_broken_armed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings-save", description="save settings")
    def save(self, replace_broken: bool) -> None:
        try:
            path = save_config(self.app.config, replace_broken=replace_broken)
        except ConfigError as exc:
            self._replace_broken_armed = True
            self.app.call_from_thread(
                self.notify, f"{exc}. Ctrl+S again keeps it as a .broken copy and saves.",
                title="Not saved", severity="warning", timeout=15,
            )
            return
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"Could not save: {exc}", title="Not saved", severity="error", timeout=15
            )
            return
        self._replace_broken_armed = False
        self.app.call_from_thread(self.notify, f"Saved to {path}", title="Settings", timeout=5)


def _input(group: str, name: str, value: str) -> Input:
    return OrderedInput(value, id=f"{group}-{name}", compact=True, select_on_focus=False)


def _text(row: SettingRow) -> str:
    editor = row.editor
    return editor.value if isinstance(editor, Input) else ""

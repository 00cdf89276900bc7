"""The chat screen's actions that open a form or act on the session as a whole.

Mode, Memory, Setup, editing a turn, copying or saving the last reply and
starting anew: each changes the conversation through its own actions, so the
screen only has to pick up its events.
"""

from __future__ import annotations

from textual import work

from tui_llm.chat.modes import MODE_HELP
from tui_llm.chat.scenarios import Scenario, load_scenarios
from tui_llm.chat.sessions import MODES, USER_ROLES, SessionError, save_reply
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.session_forms import (
    CARRY_OVER, carried_fields, memory_dialog, new_session_dialog, setup_dialog, turn_editor, turn_picker,
)


class ChatSetupActions:
    """Mixed into ``ChatScreen``, whose session, conversation and views these use."""

    def action_mode(self) -> None:
        if self.generating:
            return
        options = [(mode, f"{mode:<10} {MODE_HELP[mode]}") for mode in MODES]
        self.app.push_screen(
            ChoiceDialog("Mode", options, self.session.mode), self._mode_chosen
        )

    def _mode_chosen(self, mode: str | None) -> None:
        if mode is None or mode == self.session.mode or self.generating:
            return
        self.conversation.set_mode(mode)
        self._notice(f"Mode: {mode} ({MODE_HELP[mode]})")
        self.offer_scenarios()
        self.refresh_bindings()
        self._update_input()
        self._update_title()
        self._update_status()

    def action_toggle_input(self) -> None:
        if self.session.mode != "adventure":
            return
        self.input_kind = "story" if self.input_kind == "action" else "action"
        self._update_input()

    def action_memory(self) -> None:
        self.app.push_screen(memory_dialog(self.session), self._edited)

    def action_setup(self) -> None:
        self.app.push_screen(setup_dialog(self.session), self._edited)

    def _edited(self, values: dict[str, object] | None) -> None:
        if values:
            self.conversation.update_setup(**values)

    def action_edit_turn(self) -> None:
        if self._idle() and self.session.turns:
            self.app.push_screen(turn_picker(self.session, self._label), self._turn_picked)

    def _turn_picked(self, choice: str | None) -> None:
        if choice is not None:
            index = int(choice)
            self.app.push_screen(turn_editor(self.session, index, self._label),
                                 lambda values: self._turn_edited(index, values))

    def _turn_edited(self, index: int, values: dict[str, object] | None) -> None:
        if not values or index >= len(self.session.turns) or self.generating:
            return
        self.conversation.edit(index, str(values["text"]))
        if self.session.turns[index].role in USER_ROLES:
            self.offer_retry_from_edit()

    def offer_retry_from_edit(self) -> None:
        """Write the reply to the edited turn again; say first how many later turns that drops."""
        edited, dropped = self.conversation.edited, self.conversation.dropped_by_retry()
        if edited is None:
            return
        later = f", dropping the {dropped} turn{'s' if dropped != 1 else ''} after it" if dropped else ""
        options = [("retry", f"Write the reply to turn {edited + 1} again{later}"),
                   ("keep", "Keep the turns as they are (Ctrl+R offers this again)")]
        if dropped:
            options.insert(1, ("last", "Write only the last reply again"))
        self.app.push_screen(ChoiceDialog(f"Turn {edited + 1} edited", options, "retry"), self._retry_chosen)

    def _retry_chosen(self, choice: str | None) -> None:
        if choice == "retry" and self._idle():
            self._begin(self.conversation.regenerate)
        elif choice == "last" and self._idle():
            self._begin(lambda: self.conversation.regenerate(from_edit=False))
    def action_copy_reply(self) -> None:
        reply = self.session.last_reply
        if reply is not None:
            self.app.copy_to_clipboard(reply.text)
            self.notify(f"Copied the last reply ({len(reply.text)} characters).", timeout=3)

    @work(thread=True, exit_on_error=False, group="save-reply", description="save the reply")
    def action_save_reply(self) -> None:
        reply = self.session.last_reply
        if reply is not None:
            try:
                said = f"Saved the last reply to {save_reply(reply.text, self.session)}"
            except SessionError as exc:
                said = str(exc)
            self.app.call_from_thread(self.notify, said, timeout=8)

    def action_new_chat(self) -> None:
        if not self.generating:
            self.app.push_screen(new_session_dialog(), self._new_chosen)

    def _new_chosen(self, values: dict[str, object] | None) -> None:
        if values is None or self.generating:
            return
        self.conversation.new_session(keep=carried_fields(values))
        kept = [CARRY_OVER[key][0] for key, ticked in values.items() if ticked]
        self._notice(f"New session, carrying over: {', '.join(kept)}" if kept else "New session")
        self._update_title()
        self._update_status()
        self.offer_scenarios()

    @work(thread=True, exit_on_error=False, group="scenarios", description="read the scenarios")
    def offer_scenarios(self) -> None:
        """An empty adventure opens with a choice of start scenarios (Esc: an empty one)."""
        if self.session.mode != "adventure" or self.session.turns:
            return
        scenarios, problems = load_scenarios()
        self.app.call_from_thread(self._pick_scenario, scenarios, problems)

    def _pick_scenario(self, scenarios: list[Scenario], problems: list[str]) -> None:
        for problem in problems:
            self._notice(problem)
        if not scenarios or self.session.turns or self.session.mode != "adventure":
            return
        options = [("own", "Your own start: an empty adventure")] + [
            (str(index), f"{scenario.title}{' (yours)' if scenario.origin == 'user' else ''}")
            for index, scenario in enumerate(scenarios)
        ]
        self.app.push_screen(ChoiceDialog("Start the adventure from a scenario?", options, "0"),
                             lambda choice: self._scenario_chosen(scenarios, choice))

    def _scenario_chosen(self, scenarios: list[Scenario], choice: str | None) -> None:
        if choice in (None, "own") or self.generating or self.session.turns:
            return
        scenario = scenarios[int(choice)]
        self.conversation.start_scenario(scenario)
        self._notice(f"Scenario: {scenario.title}")

"""The chat screen's play actions: cards, lorebooks, the note's place, the next prompt, token odds.

Files are read on a thread; what they change goes through the conversation's
own actions, so the transcript and the saved session follow.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

from textual import work

from tui_llm.chat.cards import Card, CardError, apply_card, import_card, list_cards, load_card
from tui_llm.chat.conversation import SETUP_FIELDS
from tui_llm.chat.context import ContextOverflowError
from tui_llm.chat.lore import LoreError, load_lorebook
from tui_llm.chat.play import PlayError, parse_note_place
from tui_llm.chat.preview import next_prompt
from tui_llm.engine.contract import RunnerError
from tui_llm.prompts.sandbox import TemplateRenderError
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import Field, FieldsDialog
from tui_llm.ui.dialogs.prompt_view import PromptView
from tui_llm.ui.dialogs.token_view import TokenView

IMPORT, LORE, NOTE, FORGET_LORE = "import", "lore", "note", "forget-lore"


class ChatPlayActions:
    """Mixed into ``ChatScreen``, whose session, conversation and notices these use."""

    # -- the menu ----------------------------------------------------------
    def action_play(self) -> None:
        if self.generating:
            return
        self._play_menu()

    @work(thread=True, exclusive=True, exit_on_error=False, group="play", description="list cards")
    def _play_menu(self) -> None:
        cards = list_cards()
        options = [(IMPORT, "Import a character card (PNG or JSON) from a file ...")]
        options += [(f"card:{path}", f"Play {path.name}") for path in cards]
        options.append((LORE, "Attach a lorebook (World Info JSON) ..."))
        books = self.session.play.lorebooks
        if books:
            options.append((FORGET_LORE, f"Detach the lorebooks ({', '.join(b.name for b in books)})"))
        options.append((NOTE, f"Author's note place and lore budget (now: {self._note_place()})"))
        self.app.call_from_thread(
            self.app.push_screen, ChoiceDialog("Character card and lore", options), self._play_chosen
        )

    def _note_place(self) -> str:
        play = self.session.play
        return f"{play.note_depth} messages from the end" if play.note_position == "depth" else play.note_position

    def _play_chosen(self, choice: str | None) -> None:
        if choice is None or self.generating:
            return
        if choice == IMPORT:
            self.app.push_screen(_path_dialog("Import a character card", "Card file (PNG or JSON)"),
                                 lambda values: values and self._read_card(values["path"], True))
        elif choice.startswith("card:"):
            self._read_card(choice.removeprefix("card:"), False)
        elif choice == LORE:
            self.app.push_screen(_path_dialog("Attach a lorebook", "Lorebook file (World Info JSON)"),
                                 lambda values: values and self._read_lore(values["path"]))
        elif choice == FORGET_LORE:
            self.conversation.update_setup(play=self.session.play.changed(lorebooks=()))
            self._notice("Lorebooks detached.")
        else:
            play = self.session.play
            self.app.push_screen(FieldsDialog("Author's note and lore", [
                Field("place", "Author's note: top, bottom, latest, or N messages from the end",
                      str(play.note_depth) if play.note_position == "depth" else play.note_position),
                Field("budget", "Lore budget in tokens (0: a quarter of the prompt)", str(play.lore_budget)),
            ]), self._note_set)

    # -- cards -------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="play", description="read a card")
    def _read_card(self, text: str, copy: bool) -> None:
        path = Path(text.strip()).expanduser()
        try:
            path, card = import_card(path) if copy else (path, load_card(path))
        except CardError as exc:
            self.app.call_from_thread(self._notice, str(exc))
            return
        self.app.call_from_thread(self._offer_greetings, card, path.name)

    def _offer_greetings(self, card: Card, name: str) -> None:
        greetings = card.greetings
        if len(greetings) <= 1:
            self._play_card(card, name, 0)
            return
        options = [(str(n), " ".join(g.split())[:70]) for n, g in enumerate(greetings)]
        self.app.push_screen(
            ChoiceDialog(f"How does {card.name} greet you?", options),
            lambda choice: choice is not None and self._play_card(card, name, int(choice)),
        )

    def _play_card(self, card: Card, name: str, greeting: int) -> None:
        if self.generating:
            return
        scratch = deepcopy(self.session)
        scratch.turns = []
        apply_card(scratch, card, greeting, name)
        self.conversation.update_setup(
            character=scratch.character, system_prompt=scratch.system_prompt,
            greeting=scratch.greeting, play=scratch.play,
        )
        self.conversation.set_mode("chat")
        if not any(turn.role != "assistant" for turn in self.session.turns):
            self.conversation.new_session(keep=SETUP_FIELDS)  # only an old greeting so far: open with the card's
        self._notice(f"Playing {card.name} ({name}).")
        self._update_title()
        self._update_input()
        self._update_status()

    # -- lore and the note ---------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="play", description="read a lorebook")
    def _read_lore(self, text: str) -> None:
        try:
            book = load_lorebook(Path(text.strip()))
        except LoreError as exc:
            self.app.call_from_thread(self._notice, str(exc))
            return
        self.app.call_from_thread(self._lore_read, book)

    def _lore_read(self, book) -> None:  # noqa: ANN001 - a Lorebook
        self.conversation.update_setup(play=self.session.play.with_lorebook(book))
        self._notice(f"Lorebook {book.name!r} attached ({len(book.entries)} entries).")

    def _note_set(self, values: dict[str, object] | None) -> None:
        if not values:
            return
        try:
            position, depth = parse_note_place(str(values["place"]))
            budget = int(str(values["budget"]).strip() or 0)
            play = self.session.play.changed(note_position=position, note_depth=depth, lore_budget=budget)
        except (PlayError, ValueError) as exc:
            self._notice(f"Not changed: {exc}")
            return
        self.conversation.update_setup(play=play)
        self._notice(f"Author's note: {self._note_place()}; lore budget "
                     f"{play.lore_budget or 'a quarter of the prompt'}.")

    # -- the next prompt -------------------------------------------------------
    def action_preview_prompt(self) -> None:
        if not self._idle():
            self.notify("The preview needs a loaded model and no reply being written.", timeout=4)
            return
        self._show_preview(self.query_one("#prompt").value, self.input_kind == "action")

    @work(exclusive=True, exit_on_error=False, group="play", description="build the next prompt")
    async def _show_preview(self, text: str, as_action: bool) -> None:
        try:
            preview = await next_prompt(self.conversation, text, as_action)
        except (ContextOverflowError, RunnerError, TemplateRenderError) as exc:
            self._notice(f"No preview: {exc}")
            return
        self.app.push_screen(PromptView(preview))

    # -- the last reply's tokens ---------------------------------------------
    def action_token_probs(self) -> None:
        probs = self.conversation.runner.last_tokens
        if self.generating or not probs.tokens:
            self.notify("The reply is still being written." if self.generating else probs.unavailable,
                        title="No token probabilities", timeout=6)
            return
        self.app.push_screen(TokenView(list(probs.tokens)))


def _path_dialog(title: str, label: str) -> FieldsDialog:
    return FieldsDialog(title, [Field("path", label, "")])

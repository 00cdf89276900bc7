"""The saved-sessions screen at 80x24: what each line says, and renaming in one burst."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from helpers import FakeRunner, burst, wait_until
from tui_llm.app_factory import make_app
from tui_llm.chat.sessions import Session, load_session, save_session
from tui_llm.config import AppConfig
from tui_llm.models.info import short_model_name
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.sessions import SessionsScreen


def test_short_model_names():
    assert short_model_name("/models/foo/bar-Q4_K_M.gguf") == "bar-Q4_K_M"
    assert short_model_name("C:\\models\\Tiny.GGUF") == "Tiny"
    assert short_model_name("meta-llama/Llama-3.2-1B-Instruct") == "Llama-3.2-1B-Instruct"
    assert short_model_name("SmolLM2-135M-Instruct.Q4_1") == "SmolLM2-135M-Instruct.Q4_1"
    assert short_model_name("") == ""


def saved(title: str, mode: str, model: str) -> Session:
    session = Session(title=title, mode=mode)
    session.add("user", "Once upon a time")
    session.note_run(model, "", "chatml", {})
    save_session(session)
    return session


async def open_sessions(pilot, app) -> SessionsScreen:
    app.push_screen(SessionsScreen())
    await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
    return app.screen


def shown_lines(app) -> list[str]:
    """The list's rows; each must fit the width the list has at 80 columns."""
    menu = app.screen.query_one(OptionList)
    lines = [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]
    width = menu.scrollable_content_region.width
    assert width >= 74 and all(len(line) <= 74 for line in lines)
    return lines


async def test_each_line_shows_title_mode_short_model_and_when():
    fable = saved("The fox and the crow, a fable told at length", "chat", "/models/foo/bar-Q4_K_M.gguf")
    story = saved("Night train", "story", "SmolLM2-135M-Instruct.Q4_1")
    app = make_app(config=AppConfig(), runner=FakeRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sessions(pilot, app)
        lines = shown_lines(app)
        assert len(lines) == 2
        by_title = {summary.title: line for summary, line in zip(screen.summaries, lines)}
        night = by_title["Night train"]
        assert "story" in night and "SmolLM2-135M-In…" in night
        assert story.updated[:10] in night and story.updated[11:16] in night  # the whole time fits
        fox = by_title[fable.title]
        assert fox.startswith("The fox and the crow, a fable…")
        assert "chat" in fox and "bar-Q4_K_M" in fox and "/models" not in fox
        assert fable.updated[11:16] in fox


async def test_rename_starts_from_the_title_and_enter_saves_what_was_typed_behind_r():
    session = saved("Night train", "story", "tiny")
    app = make_app(config=AppConfig(), runner=FakeRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sessions(pilot, app)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog) and app.focused is not None)
        field = app.focused
        assert isinstance(field, Input)
        assert field.value == "Night train" and field.cursor_position == len("Night train")
        assert field.selection.is_empty
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        # One burst: r opens the form, the text goes on the end of the title, Enter saves.
        burst(app, "r", " to Paris", "enter")
        await wait_until(pilot, lambda: load_session(session.path).title == "Night train to Paris")
        await wait_until(pilot, lambda: app.screen is screen and screen.loaded
                         and screen.summaries[0].title == "Night train to Paris")

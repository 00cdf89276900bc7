"""Replies drawn as Markdown in chat and instruct modes; story prose stays prose, yours set apart."""

from __future__ import annotations

import asyncio

import pytest
from textual.content import Content

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.widgets import transcript as transcript_module
from tui_llm.ui.widgets.markdown_text import MarkdownText
from tui_llm.ui.widgets.transcript import Transcript
from helpers import FakeRunner, wait_until

REPLY = (
    "# Doubling\n"
    "Here is **strong** text, *emphasis* and `inline_code` too.\n"
    "\n"
    "```python\n"
    "def double(x):\n"
    "    return x * 2  # *not* emphasis, [not] markup\n"
    "```\n"
    "- first item\n"
    "- second item\n"
    "  - nested item\n"
    "1. numbered\n"
    "> quoted"
)
# The reply in the pieces a model could send: the fence opens and closes across pieces.
PIECES = ["# Doub", "ling\nHere is **str", "ong** text, *emphasis* and `inline_", "code` too.\n\n`",
          "``py", "thon\ndef double(x):\n    return x", " * 2  # *not* emph",
          "asis, [not] markup\n``", "`\n- first item\n- sec", "ond item\n  - nested item\n1. num",
          "bered\n> quoted"]
assert "".join(PIECES) == REPLY


class PiecesRunner(FakeRunner):
    """Scripted (UI only): sends a reply in the given pieces, and can hold after one of them."""

    def __init__(self, pieces: list[str], hold_after: int = -1) -> None:
        super().__init__()
        self.pieces = pieces
        self.hold_after = hold_after
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def stream(self, request, sampler=None, cancel=None):
        self.requests.append(request)
        for index, piece in enumerate(self.pieces):
            self.last_stats.completion_tokens += 1
            yield piece
            await asyncio.sleep(0)
            if index == self.hold_after:
                self.held.set()
                await self.release.wait()
        self.last_stats.finish_reason = "stop"


def lines(app) -> list[list[tuple[str, object]]]:
    """The screen as rows of (text, rich style) segments, blanks dropped."""
    rows = []
    for strip in app.screen._compositor.render_strips():
        row = [(segment.text, segment.style) for segment in strip if segment.text.strip()]
        if row:
            rows.append(row)
    return rows


def looks(app) -> list[list[tuple[str, tuple]]]:
    """The screen's rows as (text, what the style shows): colours and text styles."""
    return [[(text, (style.color, style.bgcolor, style.bold, style.italic, style.underline, style.strike))
             for text, style in row] for row in lines(app)]


def row_text(row) -> str:
    return "".join(text for text, _ in row).strip()


def find_row(app, start: str):
    return next(row for row in lines(app) if row_text(row).startswith(start))


def style_of(row, text: str):
    return next(style for piece, style in row if piece.strip() == text)


async def open_chat(pilot, app) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


# -- the renderer --------------------------------------------------------------
def test_rendering_a_reply_as_it_grows_gives_what_rendering_it_whole_gives():
    growing = MarkdownText()
    source = ""
    for piece in PIECES + ["\n"] + [ch for ch in "```\nopen fence\n**x**\n```\ndone"]:
        source += piece
        assert growing.render(source, "Model: ", "bold") == MarkdownText().render(source, "Model: ", "bold")


@pytest.mark.parametrize("width", [12, 40, 80])
def test_drawing_line_by_line_with_kept_strips_gives_what_drawing_the_whole_gives(width):
    from textual.style import Style
    from textual.visual import RenderOptions

    from tui_llm.ui.widgets.lines_visual import LinesVisual, StripCache

    looks = {".md--strong": Style(bold=True), ".md--code": Style(italic=True)}
    options = RenderOptions(lambda name: looks.get(name, Style.parse(name) if name[:1] != "." else Style()), {})
    renderer, cache = MarkdownText(), StripCache()
    source = ""
    for piece in PIECES:
        source += piece
        lines = renderer.lines(source, "Model: ", "bold")
        visual = LinesVisual(lines, cache)
        whole = Content("\n").join(lines)
        assert visual.get_height({}, width) == whole.get_height({}, width)
        drawn = visual.render_strips(width, None, Style(), options)
        assert [strip.text for strip in drawn] == [strip.text for strip in whole.render_strips(width, None, Style(), options)]
        assert drawn == whole.render_strips(width, None, Style(), options)
    assert len(cache.strips) == len(lines)


def test_a_reply_that_is_rewritten_is_rendered_afresh():
    text = MarkdownText()
    text.render("```\ncode\n")
    assert text.render("plain **bold**").plain == "plain bold"


def test_tabs_are_expanded_and_a_very_long_line_is_drawn_plain():
    from tui_llm.ui.widgets.markdown_text import LONG_LINE

    assert MarkdownText().render("- a\tb\n```\n\tcode\n```").plain == "• a b\n▎     code"
    long_line = "**a** " * (LONG_LINE // 6 + 1)
    drawn = MarkdownText().render(long_line)
    assert drawn.plain == long_line and not drawn.spans


def test_markup_stays_literal_and_control_characters_are_made_visible():
    drawn = MarkdownText().render("[bold red]hi[/] \x1b[2Jgone \x07 **[b]x[/b]**")
    assert drawn.plain == "[bold red]hi[/] gone ␇ [b]x[/b]"
    assert all(str(span.style).startswith(".md--") for span in drawn.spans)


# -- on the chat screen ----------------------------------------------------------
async def test_a_streamed_markdown_reply_shows_code_lists_and_emphasis():
    runner = PiecesRunner(PIECES, hold_after=5)
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press(*"Show me", "enter")
        # Mid-fence: the open code block is already drawn as code.
        await wait_until(pilot, lambda: runner.held.is_set())
        await wait_until(pilot, lambda: any(row_text(r).endswith("return x") for r in lines(app)))
        open_code = next(r for r in lines(app) if row_text(r).endswith("return x"))
        runner.release.set()
        await wait_until(pilot, lambda: not screen.generating)
        await pilot.pause()

        texts = [row_text(row) for row in lines(app)]
        assert "Doubling" in texts and "# Doubling" not in texts
        assert "Here is strong text, emphasis and inline_code too." in texts
        assert "▎ python" in texts and "▎ def double(x):" in texts
        code_row = next(r for r in lines(app) if "return" in row_text(r))
        # Code keeps its indentation and its asterisks and brackets, as written.
        assert "".join(text for text, _ in code_row).strip(" ") \
            == "▎     return x * 2  # *not* emphasis, [not] markup"
        assert not any("```" in text for text in texts)
        assert ["• first item", "• second item", "◦ nested item", "1. numbered", "▌ quoted"] == \
            [t for t in texts if t[:1] in "•◦1▌" and "Show me" not in t]

        prose = find_row(app, "Here is")
        assert style_of(prose, "strong").bold and not style_of(prose, "Here is").bold
        assert style_of(prose, "emphasis").italic
        assert style_of(prose, "inline_code").color != style_of(prose, "Here is").color
        code_style = next(style for text, style in code_row if "return" in text)
        assert code_style.color == style_of(open_code, "return x").color != style_of(prose, "Here is").color
        assert style_of(find_row(app, "Doubling"), "Doubling").bold

        # Copy gives the reply as the model wrote it, Markdown and all; the mouse, what is drawn.
        await pilot.press("ctrl+y")
        assert app.clipboard == REPLY
        reply_view = screen._views[-1].view
        reply_view.text_select_all()
        await pilot.pause()
        selected = screen.get_selected_text() or ""
        assert selected.startswith("Model:\nDoubling\nHere is strong text") and "▎ def double(x):" in selected
        assert selected.rstrip().endswith("▌ quoted")


async def test_markup_and_control_characters_in_a_reply_stay_literal_and_visible():
    runner = FakeRunner(["Try [bold]this[/bold] and \x1b]0;pwned\x07 **[red]x[/red]** \x08done"])
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press(*"Hi", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen.session.turns) == 2)
        await pilot.pause()
        row = find_row(app, "Model:")
        assert row_text(row) == "Model: Try [bold]this[/bold] and  [red]x[/red] ␈done"
        assert style_of(row, "[red]x[/red]").bold
        drawn = "".join(text for r in lines(app) for text, _ in r)
        assert "\x1b" not in drawn and "\x07" not in drawn and "\x08" not in drawn


async def test_story_prose_is_not_markdown_and_your_passages_look_different(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    runner = FakeRunner(["The fox said **nothing** and ran."])
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chat(pilot, app)
        screen.conversation.set_mode("story")
        await pilot.press(*"Once upon a time", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen.session.turns) == 2)
        await pilot.pause()
        yours, theirs = find_row(app, "Once upon"), find_row(app, "The fox")
        assert row_text(theirs) == "The fox said **nothing** and ran."
        your_style, model_style = yours[0][1], theirs[0][1]
        assert your_style.italic and not model_style.italic
        assert (your_style.color, your_style.bgcolor) == (model_style.color, model_style.bgcolor)


@pytest.mark.parametrize("mode", ["instruct", "story"])
async def test_older_turns_folded_into_the_history_are_drawn_as_their_widgets_were(monkeypatch, mode):
    runner = FakeRunner([REPLY])
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 60)) as pilot:
        screen = await open_chat(pilot, app)
        if mode != screen.session.mode:
            screen.conversation.set_mode(mode)
        await pilot.press(*"A fox", "enter")
        await wait_until(pilot, lambda: not screen.generating and len(screen.session.turns) == 2)
        transcript = screen.query_one(Transcript)
        await pilot.pause()
        as_widgets = looks(app)
        monkeypatch.setattr(transcript_module, "TAIL_KEEP", 0)
        transcript.show(transcript.entries)
        await pilot.pause()
        assert transcript.view_count == 0
        assert looks(app) == as_widgets
        assert any(row_text(row) == ("▎ def double(x):" if mode == "instruct" else "```python")
                   for row in as_widgets)


def test_a_markdown_reply_renders_to_content():
    assert isinstance(MarkdownText().render("**x**"), Content)

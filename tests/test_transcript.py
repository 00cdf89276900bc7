"""The transcript widget: newest turns as widgets, older ones folded into a line-drawn history."""

from __future__ import annotations

import asyncio

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult

from tui_llm.ui.widgets import transcript as transcript_module
from tui_llm.ui.widgets.transcript import (
    TAIL_KEEP,
    TAIL_MAX,
    Transcript,
    TranscriptEntry,
    TurnView,
)
from tui_llm.ui.widgets.line_wrap import wrap_line, wrap_text


class TranscriptApp(App):
    def compose(self) -> ComposeResult:
        yield Transcript()


def entries(count: int, words: int = 6) -> list[TranscriptEntry]:
    return [
        TranscriptEntry("user" if n % 2 == 0 else "assistant", f"turn {n} " + "word " * (words + n % 7))
        for n in range(count)
    ]


def screen_lines(app) -> list[str]:
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


async def shows(pilot, text: str, timeout: float = 5.0) -> bool:
    """Whether ``text`` is on screen once the app has settled (polls, up to ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in screen_text(pilot.app):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await pilot.pause(0.02)
    return True


# -- wrapping ------------------------------------------------------------------
def test_wrap_line_breaks_at_spaces_and_fits_the_width():
    line = "the keeper climbed the stairs to light the lamp before the storm"
    spans = wrap_line(line, 20)
    pieces = [line[start:end] for start, end in spans]
    assert all(cell_len(piece) <= 20 for piece in pieces)
    assert " ".join(piece.strip() for piece in pieces) == line
    assert len(spans) > 1


def test_wrap_cuts_words_longer_than_the_width_and_keeps_empty_lines():
    spans = wrap_text("a " + "x" * 25 + "\n\nend", 10)
    text = "a " + "x" * 25 + "\n\nend"
    pieces = [text[start:end] for start, end in spans]
    assert pieces == ["a ", "x" * 10, "x" * 10, "x" * 5, "", "end"]


def test_wrap_counts_wide_characters_as_two_cells():
    line = "灯台" * 10  # 20 characters, 40 cells
    pieces = [line[start:end] for start, end in wrap_line(line, 9)]
    assert all(cell_len(piece) <= 9 for piece in pieces)
    assert "".join(pieces) == line


# -- the widget ----------------------------------------------------------------
async def test_a_long_transcript_builds_widgets_only_for_the_newest_turns():
    app = TranscriptApp()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        items = entries(2000)
        transcript.show(items)
        await pilot.pause()
        views = list(transcript.query(TurnView))
        assert len(views) == TAIL_KEEP
        assert [view.text for view in views] == [item.text for item in items[-TAIL_KEEP:]]
        assert transcript.entries == items
        # At the bottom: the last turn is on screen.
        assert await shows(pilot, "turn 1999")
        transcript.scroll_home(animate=False)
        assert await shows(pilot, "turn 0 word")
        assert "turn 1999" not in screen_text(app)


async def test_history_draws_the_same_lines_as_the_widgets(monkeypatch):
    items = entries(12, words=20) + [TranscriptEntry("notice", "Prompt template: chatml")]
    app = TranscriptApp()
    async with app.run_test(size=(60, 80)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(items)
        await pilot.pause()
        as_widgets = screen_lines(app)
        monkeypatch.setattr(transcript_module, "TAIL_KEEP", 0)
        transcript.show(items)
        await pilot.pause()
        assert not transcript.query(TurnView)
        assert screen_lines(app) == as_widgets


async def test_appending_past_the_limit_folds_old_turns_and_keeps_their_order():
    app = TranscriptApp()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        added = [transcript.append(item) for item in entries(TAIL_MAX + 5)]
        await pilot.pause()
        assert len(transcript.query(TurnView)) <= TAIL_MAX
        assert transcript.entries == added
        assert added[0].view is None and added[-1].view is not None
        assert await shows(pilot, "turn 64")


async def test_entries_in_the_history_can_still_be_edited_marked_and_removed(monkeypatch):
    monkeypatch.setattr(transcript_module, "TAIL_KEEP", 2)
    app = TranscriptApp()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        items = entries(6)
        transcript.show(items)
        transcript.scroll_home(animate=False)
        await pilot.pause()
        first = items[0]
        assert first.view is None
        first.set_text("rewritten first turn")
        assert await shows(pilot, "rewritten first turn")

        history = transcript.history
        normal = list(history.render_line(0))[1].style.color
        first.set_class(True, "out-of-context")
        assert first.has_class("out-of-context")
        dimmed = list(history.render_line(0))[1].style.color
        assert dimmed != normal

        items[1].remove()
        items[-1].remove()
        await pilot.pause()
        assert transcript.entries == [items[0], *items[2:-1]]
        assert len(transcript.query(TurnView)) == 1


async def test_changes_to_a_turn_shown_as_a_widget_reach_the_widget():
    app = TranscriptApp()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        entry = transcript.append(TranscriptEntry("assistant", "Hel"))
        entry.set_text("Hello there")
        entry.set_class(True, "out-of-context")
        await pilot.pause()
        assert entry.view.text == "Hello there"
        assert entry.view.has_class("out-of-context")
        assert await shows(pilot, "Model: Hello there")


async def test_add_turn_returns_the_view_and_follow_keeps_the_end_in_sight():
    app = TranscriptApp()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        notice = transcript.add_turn("notice", "Model loaded")
        assert isinstance(notice, TurnView) and notice.role == "notice"
        reply = transcript.add_turn("assistant", "")
        for n in range(40):
            reply.set_text(reply.text + f"line {n}\n")
            transcript.follow()
            await pilot.pause()
        assert transcript.scroll_y == transcript.max_scroll_y > 0
        assert await shows(pilot, "line 39")


@pytest.mark.parametrize("role,label,expected", [
    ("user", None, "You: hi"),
    ("assistant", "Bob", "Bob: hi"),
    ("assistant", "", "hi"),
    ("action", "", "> hi"),
    ("notice", None, "hi"),
])
def test_entry_content_has_the_same_prefix_as_the_views(role, label, expected):
    text, bold, _ = TranscriptEntry(role, "hi", label).content()
    assert text == expected
    assert text[:bold] == expected[: len(expected) - 2]


async def test_a_growing_reply_always_has_the_height_of_its_text():
    app = TranscriptApp()
    async with app.run_test(size=(40, 30)) as pilot:
        transcript = app.query_one(Transcript)
        reply = transcript.add_turn("assistant", "")
        text = ""
        for n in range(30):
            text += f"w{n} "
            reply.set_text(text)
            await pilot.pause()
            # "Model: " plus the words, wrapped to 38 cells (padding one each side).
            assert reply.size.height == len(wrap_text("Model: " + text, 38))
        assert await shows(pilot, "w29")


def test_in_a_story_your_own_prose_looks_apart_from_the_models():
    from tui_llm.ui.widgets.session_turn import turn_text

    def styles(text) -> set[str]:
        return {str(span.style) for span in text.spans}

    assert "italic" in styles(turn_text("user", "I open the door.", ""))
    assert "italic" not in styles(turn_text("assistant", "It creaks.", ""))
    assert "italic" not in styles(turn_text("user", "Hi", "You"))

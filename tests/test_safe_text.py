"""Model and server text is drawn without the escape sequences a terminal would act on."""

from __future__ import annotations

import pytest

from tui_llm.safe_text import visible

HOSTILE = {
    "clear screen": ("a\x1b[2Jb", "ab"),
    "cursor home and colour": ("\x1b[H\x1b[1;31mred\x1b[0m", "red"),
    "title with BEL": ("x\x1b]0;owned\x07y", "xy"),
    "title with ST": ("x\x1b]2;owned\x1b\\y", "xy"),
    "C1 CSI": ("a\x9b2Jb", "ab"),
    "DCS": ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),
    "two-byte escape": ("a\x1bcb", "ab"),
    "bell and backspace": ("ding\x07\x08", "ding\u2407\u2408"),
    "carriage return": ("safe\rEVIL", "safe\u240dEVIL"),
    "split sequence": ("a\x1b", "a\u241b"),
    "lone C1": ("a\x85b", "a\ufffdb"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_control_sequences_are_removed_or_shown(name):
    text, expected = HOSTILE[name]
    assert visible(text) == expected


def test_ordinary_text_is_untouched():
    text = "Line one\n\tindented — ünïcödé 漢字 🙂\r\nend"
    assert visible(text) == text.replace("\r\n", "\n")
    plain = "nothing to do here\n"
    assert visible(plain) is plain


def test_nothing_a_terminal_acts_on_survives():
    every = "".join(chr(c) for c in range(0x00, 0xA0)) * 3
    assert not any(ord(c) < 0x20 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in visible(every))


def test_the_transcript_draws_no_escape_sequence():
    from tui_llm.ui.widgets.transcript import TranscriptEntry, turn_text

    hostile = "hi\x1b[2J\x1b]0;owned\x07 there\x1b"
    assert turn_text("assistant", hostile).plain == "Model: hi there\u241b"
    assert turn_text("action", hostile).plain == "> hi there\u241b"
    assert TranscriptEntry("assistant", hostile).content()[0] == "Model: hi there\u241b"

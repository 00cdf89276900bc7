"""Text from a model or a server, made safe to draw on a terminal.

Escape sequences (``ESC[2J`` clears the screen, ``ESC]0;...BEL`` retitles the
terminal) are removed whole; any other control character is shown as its
Unicode "control picture" (``␛``, ``␇``...), so nothing reaches the terminal
that it would act on. Newlines and tabs stay. Text arriving in pieces is safe
piece by piece: a sequence cut in two loses its ESC to a visible ``␛``.
"""

from __future__ import annotations

import re

# ESC or its one-byte C1 form, then: CSI parameters and a final byte; an OSC,
# DCS, SOS, PM or APC string up to its terminator; or one more character.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x7e]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def visible(text: str) -> str:
    """``text`` with escape sequences removed and other control characters made visible."""
    if not _CONTROL.search(text):
        return text
    text = _SEQUENCE.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub(_picture, text)

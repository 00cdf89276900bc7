"""A reply's Markdown as styled text, fit for a reply that grows 20 times a second.

Each line is drawn from itself plus one piece of state (inside a fenced code
block or not), so a line, once complete, is rendered once and kept; only the
line still being written is rendered again on each update. A model's line
breaks are kept as written (paragraph lines are not joined).

The source is made visible first (``safe_text``), and styles are spans naming
the view's component classes (``.md--code``...), never markup parsed from the
reply, so ``[bold]`` in a reply stays literal.
"""

from __future__ import annotations

import re

from textual.content import Content, Span

from tui_llm.safe_text import visible

# How each style looks, for any widget that draws these spans (they resolve by component class).
_CSS = {
    "md--strong": "text-style: bold;",
    "md--emphasis": "text-style: italic;",
    "md--strike": "text-style: strike;",
    "md--inline-code": "color: $text-accent; background: $boost;",
    "md--code": "color: $text-accent;",
    "md--gutter": "color: $text-muted;",
    "md--fence": "color: $text-muted; text-style: italic;",
    "md--heading": "text-style: bold; color: $text-primary;",
    "md--heading-1": "text-style: bold underline; color: $text-primary;",
    "md--bullet": "text-style: bold; color: $text-primary;",
    "md--quote": "text-style: italic; color: $text-muted;",
    "md--rule": "color: $text-muted;",
}
GUTTER = "▎ "
BULLETS = ("•", "◦", "▪")
RULE = "─" * 24

STYLES = tuple(_CSS)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(.*)$")
_NUMBER = re.compile(r"^([ \t]*)(\d{1,9}[.)])[ \t]+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?(.*)$")
_BLOCK_START = re.compile(r"^\s*(?:`{3}|~{3}|#{1,6}\s|[-*+]\s|\d{1,9}[.)]\s|>)")
# Emphasis spans at most SPAN characters, and lines over LONG_LINE are drawn plain:
# a line full of unmatched markers then costs little, though the line being written
# is parsed again on every update.
SPAN = 160
LONG_LINE = 3000
_INLINE = re.compile(
    r"(?P<ticks>`+)(?P<code>.{1,%(n)d}?)(?P=ticks)"
    r"|\*\*(?P<strong>[^\s*](?:.{0,%(n)d}?[^\s*])?)\*\*"
    r"|(?<!\w)__(?P<strong2>[^\s_](?:.{0,%(n)d}?[^\s_])?)__(?!\w)"
    r"|(?<![\w*])\*(?P<em>[^\s*](?:.{0,%(n)d}?[^\s*])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<em2>[^\s_](?:.{0,%(n)d}?[^\s_])?)_(?![\w_])"
    r"|~~(?P<strike>[^\s~](?:.{0,%(n)d}?[^\s~])?)~~" % {"n": SPAN}
)
_MARKER = re.compile(r"[*_`~]")
_NESTED = (("strong", "md--strong"), ("strong2", "md--strong"), ("em", "md--emphasis"),
           ("em2", "md--emphasis"), ("strike", "md--strike"))


def markdown_css(widget: str) -> str:
    """CSS for ``widget``'s Markdown component classes."""
    return "".join(f"\n{widget} > .{name} {{ {rules} }}" for name, rules in _CSS.items()) + "\n"


def starts_with_block(source: str) -> bool:
    """Whether the reply opens with a heading, list, quote or code: then a label stands on its own line."""
    return bool(_BLOCK_START.match(source))


class _Line:
    """One rendered line: its text and spans, offsets from the line's start."""

    __slots__ = ("text", "spans")

    def __init__(self) -> None:
        self.text = ""
        self.spans: list[Span] = []

    def add(self, text: str, *styles: str) -> None:
        if not text:
            return
        start = len(self.text)
        self.text += text
        for style in styles:
            self.spans.append(Span(start, len(self.text), "." + style))

    def inline(self, text: str, *styles: str) -> None:
        """``text`` with its emphasis, strong, strike-through and `code` spans."""
        if len(text) > LONG_LINE or not _MARKER.search(text):
            self.add(text, *styles)
            return
        position = 0
        for match in _INLINE.finditer(text):
            self.add(text[position:match.start()], *styles)
            position = match.end()
            if match.group("ticks") is not None:
                code = match.group("code")
                if len(code) > 2 and code[0] == code[-1] == " ":
                    code = code[1:-1]
                self.add(code, *styles, "md--inline-code")
                continue
            for group, style in _NESTED:
                inner = match.group(group)
                if inner is not None:
                    start = len(self.text)
                    self.inline(inner, *styles)
                    if len(self.text) > start:
                        self.spans.append(Span(start, len(self.text), "." + style))
                    break
        self.add(text[position:], *styles)


def render_line(line: str, fence: str) -> tuple[_Line | None, str]:
    """A source line (no newline, no tab) inside ``fence`` ('' outside code): what it shows, and the fence after.

    None: the line shows nothing (a closing fence, or an opening one without a language).
    """
    out = _Line()
    opening = _FENCE.match(line)
    if fence:
        stripped = line.strip()
        if opening and stripped[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                and stripped == opening.group(1):
            return None, ""
        out.add(GUTTER, "md--gutter")
        out.add(line, "md--code")
        return out, fence
    if opening:
        language = opening.group(2)
        if not language:
            return None, opening.group(1)
        out.add(GUTTER, "md--gutter")
        out.add(language, "md--fence")
        return out, opening.group(1)
    if heading := _HEADING.match(line):
        level = len(heading.group(1))
        out.inline(heading.group(2), "md--heading-1" if level == 1 else "md--heading")
    elif _RULE.match(line):
        out.add(RULE, "md--rule")
    elif bullet := _BULLET.match(line):
        indent = bullet.group(1)
        out.add(indent)
        out.add(BULLETS[min(len(indent) // 2, len(BULLETS) - 1)] + " ", "md--bullet")
        out.inline(bullet.group(2))
    elif number := _NUMBER.match(line):
        out.add(number.group(1))
        out.add(number.group(2) + " ", "md--bullet")
        out.inline(number.group(3))
    elif quote := _QUOTE.match(line):
        out.add("▌ ", "md--gutter")
        out.inline(quote.group(1), "md--quote")
    else:
        out.inline(line)
    return out, ""


class MarkdownText:
    """Renders a growing reply; only the lines added since the last call are parsed.

    ``lines`` gives one ``Content`` per line drawn; every line but the one still
    being written is the same object from call to call, so what is drawn of it
    can be kept too (``LinesVisual``).
    """

    def __init__(self) -> None:
        self._head: tuple[str, str] | None = None
        self._source = ""
        self._fence = ""
        self._lines: list[Content] = []

    def _reset(self, head: str, head_style: str) -> None:
        self._head, self._source, self._fence = (head, head_style), "", ""
        self._lines = []
        if head.endswith("\n"):
            self._lines.append(self._content(head[:-1], [Span(0, len(head) - 1, head_style)]))

    def _line(self, line: _Line | None) -> Content | None:
        """The line as content, after the speaker's label when it is the first."""
        if line is None:
            return None
        head, head_style = self._head or ("", "")
        if self._lines or not head or head.endswith("\n"):
            return self._content(line.text, line.spans)
        offset = len(head)
        spans = [Span(0, offset, head_style)] if head_style else []
        spans += [Span(offset + start, offset + end, style) for start, end, style in line.spans]
        return self._content(head + line.text, spans)

    @staticmethod
    def _content(text: str, spans: list[Span]) -> Content:
        return Content(text, spans, strip_control_codes=False)

    def lines(self, source: str, head: str = "", head_style: str = "") -> list[Content]:
        """``source`` as Markdown after ``head`` (a speaker's label, drawn in ``head_style``), line by line."""
        source = visible(source).expandtabs(4)
        if (head, head_style) != self._head or not source.startswith(self._source):
            self._reset(head, head_style)
        complete = source.rfind("\n") + 1
        if complete > len(self._source):
            for line in source[len(self._source):complete - 1].split("\n"):
                rendered, self._fence = render_line(line, self._fence)
                content = self._line(rendered)
                if content is not None:
                    self._lines.append(content)
            self._source = source[:complete]
        rest = source[complete:]
        last = self._line(render_line(rest, self._fence)[0]) if rest else None
        if last is None and not self._lines and head:
            last = self._content(head, [Span(0, len(head), head_style)] if head_style else [])
        return self._lines + [last] if last is not None else list(self._lines)

    def render(self, source: str, head: str = "", head_style: str = "") -> Content:
        """The same, as one ``Content``."""
        lines = self.lines(source, head, head_style)
        spans: list[Span] = []
        offset = 0
        for line in lines:
            spans += [Span(offset + start, offset + end, style) for start, end, style in line.spans]
            offset += len(line.plain) + 1
        return self._content("\n".join(line.plain for line in lines), spans)

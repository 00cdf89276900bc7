"""Text drawn line by line, keeping what was drawn of lines that do not change.

A streaming reply is redrawn about 20 times a second and only its last line
changes. ``Content`` re-wraps and re-renders every line each time; this visual
renders each line ``Content`` once per width and style and keeps the strips, so
an update costs the lines that changed, not the whole reply.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual


class StripCache:
    """What was drawn of each line, for one width and look; owned by the widget that draws them."""

    def __init__(self) -> None:
        self.key: tuple[object, ...] | None = None
        self.strips: dict[int, tuple[Content, int, list[Strip]]] = {}


class LinesVisual(Visual):
    """Lines of content, each drawn (wrapped) on its own, as ``Content("\\n").join(lines)`` would be."""

    def __init__(self, lines: list[Content], cache: StripCache) -> None:
        self.lines = lines
        self.cache = cache

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in self.lines)

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        if options.selection is not None or not width:
            return Content("\n").join(self.lines).render_strips(width, height, style, options)
        get_rule = options.rules.get
        key = (width, style, get_rule("text_align", "left"), get_rule("text_overflow", "fold"),
               get_rule("text_wrap", "wrap"), get_rule("line_pad", 0), options.post_style)
        cache = self.cache
        old = cache.strips if cache.key == key else {}
        kept: dict[int, tuple[Content, int, list[Strip]]] = {}
        strips: list[Strip] = []
        for row, line in enumerate(self.lines):
            found = old.get(id(line))
            if found is None or found[0] is not line or found[1] != row:
                found = (line, row, _on_row(line.render_strips(width, None, style, options), row))
            kept[id(line)] = found
            strips.extend(found[2])
            if height is not None and len(strips) >= height:
                break
        cache.key, cache.strips = key, kept
        return strips[:height] if height is not None else strips

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((line.get_optimal_width(rules, container_width) for line in self.lines), default=0)

    def get_minimal_width(self, rules: RulesMap) -> int:
        return max((line.get_minimal_width(rules) for line in self.lines), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return sum(line.get_height(rules, width) for line in self.lines)


def _on_row(strips: list[Strip], row: int) -> list[Strip]:
    """Strips of a line drawn alone, told they are ``row`` lines down (the offsets text selection reads)."""
    if not row:
        return strips
    moved = []
    for strip in strips:
        segments = []
        for segment in strip:
            style = segment.style
            offset = style.meta.get("offset") if style is not None and style._meta else None
            if offset is not None:
                style = style + RichStyle.from_meta({"offset": (offset[0], row)})
            segments.append(Segment(segment.text, style, segment.control))
        moved.append(Strip(segments, strip.cell_length))
    return moved

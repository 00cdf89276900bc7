"""A reply's reasoning, told apart from its answer while it streams.

Each reasoning model marks its thinking its own way; the styles below are the
ones the chat templates shipped with llama.cpp use. A template that opens the
thought in its generation prompt (the prompt ends with the opening marker)
makes the stream start inside the thought. gpt-oss ("harmony") writes
channels: ``analysis`` is thinking, ``final`` is the answer, and
``<|return|>`` or ``<|call|>`` end the reply. Reasoning that a server sends
apart from the text arrives as ``Thought`` pieces and needs no markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from tui_llm.engine.contract import THINKING_CHOICES, Thought

THOUGHT = "thought"
ANSWER = "answer"


@dataclass(frozen=True)
class ReasoningStyle:
    name: str
    open: str
    close: str
    # an answer may be wrapped too (Apriel's [BEGIN FINAL RESPONSE] ... [END FINAL RESPONSE])
    answer_end: str = ""


THINK = ReasoningStyle("think", "<think>", "</think>")
STYLES = (
    ReasoningStyle("seed", "<seed:think>", "</seed:think>"),
    ReasoningStyle("cohere", "<|START_THINKING|>", "<|END_THINKING|>"),
    ReasoningStyle("mistral", "[THINK]", "[/THINK]"),
    ReasoningStyle("gemma", "<|channel>thought", "<channel|>"),
    ReasoningStyle("apriel", "Here are my reasoning steps:", "[BEGIN FINAL RESPONSE]",
                   "[END FINAL RESPONSE]"),
    THINK,
)
HARMONY_STOPS = ("<|return|>", "<|call|>")
_HARMONY_MARKERS = ("<|channel|>", "<|message|>", "<|end|>", "<|start|>", *HARMONY_STOPS)
_HARMONY_PROBE = "<|channel|>"


@dataclass(frozen=True)
class ReasoningFormat:
    """How one model marks its reasoning, and whether its prompt opens the thought."""

    style: ReasoningStyle | None  # None: harmony channels
    starts_inside: bool = False  # harmony: the stream goes on with an answer already begun

    @property
    def stops(self) -> tuple[str, ...]:
        return HARMONY_STOPS if self.style is None else ()

    def parser(self) -> "ReasoningParser":
        if self.style is None:
            return HarmonyParser(in_final=self.starts_inside)
        return MarkerParser(self.style, self.starts_inside)


def detect_format(template_source: str, prompt: str | None = None) -> ReasoningFormat:
    """The format a template's markers say; ``prompt`` (the rendered one) tells if it opens a thought."""
    if _HARMONY_PROBE in template_source and "analysis" in template_source:
        return ReasoningFormat(None)
    style = next((s for s in STYLES if s.open in template_source and s.close in template_source),
                 THINK)
    starts_inside = bool(prompt) and _opens_thought(prompt or "", style)
    return ReasoningFormat(style, starts_inside)


def _opens_thought(prompt: str, style: ReasoningStyle) -> bool:
    at = prompt.rfind(style.open)
    return at >= 0 and style.close not in prompt[at:] and not prompt[at + len(style.open):].strip()


class ReasoningParser:
    """Feed text pieces; get back (kind, text) parts, kind THOUGHT or ANSWER."""

    done = False  # the model's own end marker was seen: the reply is over
    # The thought was opened where this parser could not see it (a server's prompt) and
    # only its end came: what was given out as answer before it, and is thought.
    late_thought: str | None = None

    def feed(self, piece: str) -> list[tuple[str, str]]:
        if isinstance(piece, Thought):
            return [(THOUGHT, str(piece))] if piece else []
        return self._feed(str(piece))

    def _feed(self, piece: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def finish(self) -> list[tuple[str, str]]:
        """What was held back in case it began a marker."""
        return []


def _held_back(text: str, markers: Iterable[str]) -> int:
    """How many characters at the end of ``text`` could begin one of ``markers``."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


class MarkerParser(ReasoningParser):
    def __init__(self, style: ReasoningStyle, starts_inside: bool = False) -> None:
        self.style = style
        self.inside = starts_inside
        self.thought_seen = starts_inside
        self._pending = ""
        self._answer_started = False
        self._answer = ""

    def _markers(self) -> tuple[str, ...]:
        if self.inside:
            return (self.style.close,)
        markers = [self.style.answer_end] if self.style.answer_end else []
        if not self.thought_seen:
            markers += [self.style.open, self.style.close]
        return tuple(markers)

    def _feed(self, piece: str) -> list[tuple[str, str]]:
        text = self._pending + piece
        self._pending = ""
        parts: list[tuple[str, str]] = []
        while text and not self.done:
            markers = self._markers()
            found = [(text.find(m), m) for m in markers if m and m in text]
            if not found:
                keep = _held_back(text, markers)
                self._emit(parts, text[: len(text) - keep])
                self._pending = text[len(text) - keep:]
                break
            at, marker = min(found)
            self._emit(parts, text[:at])
            text = text[at + len(marker):]
            if marker == self.style.answer_end and not self.inside:
                self.done = True
            elif self.inside:
                self.inside = False
            elif marker == self.style.close:
                self.late_thought, self._answer = self._answer, ""
                self.thought_seen, self._answer_started = True, False
            else:
                self.inside = self.thought_seen = True
        return parts

    def _emit(self, parts: list[tuple[str, str]], text: str) -> None:
        if not text:
            return
        if self.inside:
            parts.append((THOUGHT, text))
            return
        if not self._answer_started:
            text = text.lstrip() if self.thought_seen else text
            if not text:
                return
            self._answer_started = True
        self._answer += text
        parts.append((ANSWER, text))

    def finish(self) -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = []
        self._emit(parts, self._pending)
        self._pending = ""
        return parts


class HarmonyParser(ReasoningParser):
    """gpt-oss channels: ``<|channel|>NAME<|message|>text<|end|>``, answer in ``final``."""

    def __init__(self, in_final: bool = False) -> None:
        self._pending = ""
        self._channel = "final" if in_final else ""
        # the generation prompt ends with "<|start|>assistant"; a continued answer is in "final"
        self._in_header = not in_final
        self._header = ""

    def _feed(self, piece: str) -> list[tuple[str, str]]:
        text = self._pending + piece
        self._pending = ""
        parts: list[tuple[str, str]] = []
        while text and not self.done:
            found = [(text.find(m), m) for m in _HARMONY_MARKERS if m in text]
            if not found:
                keep = _held_back(text, _HARMONY_MARKERS)
                self._text(parts, text[: len(text) - keep])
                self._pending = text[len(text) - keep:]
                break
            at, marker = min(found)
            self._text(parts, text[:at])
            text = text[at + len(marker):]
            if marker in HARMONY_STOPS:
                self.done = True
            elif marker in ("<|start|>", "<|channel|>"):
                self._in_header, self._header = True, ""
            elif marker == "<|message|>":
                words = self._header.split()
                self._channel = words[0] if words else "final"
                self._in_header = False
            elif marker == "<|end|>":
                self._in_header, self._header = True, ""
        return parts

    def _text(self, parts: list[tuple[str, str]], text: str) -> None:
        if not text:
            return
        if self._in_header:
            self._header += text
            return
        parts.append((ANSWER if self._channel == "final" else THOUGHT, text))

    def finish(self) -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = []
        self._text(parts, self._pending)
        self._pending = ""
        return parts


def split_reasoning(text: str, fmt: ReasoningFormat = ReasoningFormat(THINK)) -> tuple[str, str]:
    """A whole reply as (thought, answer)."""
    parser = fmt.parser()
    parts = parser.feed(text) + parser.finish()
    thought = "".join(t for kind, t in parts if kind == THOUGHT)
    answer = "".join(t for kind, t in parts if kind == ANSWER)
    return thought, answer


_NO_THINK = re.compile(r"/no_think\b")


def no_think_convention(template_source: str) -> bool:
    """The template knows the ``/no_think`` switch in the system prompt (Qwen3, SmolLM3)."""
    return bool(_NO_THINK.search(template_source))


def thinking_variables(template_source: str | None, thinking: str) -> dict[str, object]:
    """The template variables that say ``thinking`` to templates that read them.

    ``None``: the template is not known here (a server renders it), so both go.
    """
    if not thinking:
        return {}
    if thinking not in THINKING_CHOICES:
        raise ValueError(f"thinking must be one of {', '.join(THINKING_CHOICES)}, not {thinking!r}")
    variables: dict[str, object] = {}
    if template_source is None or "enable_thinking" in template_source:
        variables["enable_thinking"] = thinking != "off"
    if (template_source is None or "reasoning_effort" in template_source) and thinking in (
        "low", "medium", "high"
    ):
        variables["reasoning_effort"] = thinking
    return variables


def with_no_think(messages: list[dict[str, str]], template_source: str, thinking: str) -> list[dict[str, str]]:
    """``/no_think`` in the system prompt, for templates that follow that switch and have no variable."""
    if thinking != "off" or "enable_thinking" in template_source or not no_think_convention(
        template_source
    ):
        return messages
    messages = [dict(m) for m in messages]
    if messages and messages[0]["role"] == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n/no_think".lstrip()
    else:
        messages.insert(0, {"role": "system", "content": "/no_think"})
    return messages

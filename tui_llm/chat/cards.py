"""Character cards: Tavern V1/V2/V3 cards from PNG or JSON, and the cards folder.

A PNG card keeps base64 JSON in a text chunk: ``ccv3`` (V3, preferred) or
``chara`` (V2). A JSON card is the same object, or V1 fields at the top.
Imported cards are copied into ``cards/`` in the data dir to be picked again.
``{{char}}``/``<BOT>`` and ``{{user}}``/``<USER>`` are replaced (any case).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_llm import locations
from tui_llm.chat.card_png import PngError, is_png, text_chunks
from tui_llm.chat.lore import LoreError, Lorebook, parse_book

if TYPE_CHECKING:
    from tui_llm.chat.sessions import Session

MAX_CARD_FILE = 64 * 1024 * 1024
MAX_JSON = 16 * 1024 * 1024
MAX_DEPTH = 64
CARD_SUFFIXES = (".png", ".json")


class CardError(ValueError):
    """A card that cannot be read, worded for the user."""


@dataclass(frozen=True)
class Card:
    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    alternate_greetings: tuple[str, ...] = ()
    mes_example: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    book: Lorebook | None = None
    spec: str = "v1"

    @property
    def greetings(self) -> tuple[str, ...]:
        return tuple(g for g in (self.first_mes, *self.alternate_greetings) if g.strip())


# -- reading ---------------------------------------------------------------
def load_card(path: Path) -> Card:
    """Read a card file; every problem becomes one CardError naming the file."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_CARD_FILE:
            raise CardError(f"{path}: {size} bytes; cards over "
                            f"{MAX_CARD_FILE // (1024 * 1024)} MiB are refused")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CardError(f"{path}: no such card file") from exc
    except IsADirectoryError as exc:
        raise CardError(f"{path}: is a folder, not a card") from exc
    except OSError as exc:
        raise CardError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return parse_card(data)
    except CardError as exc:
        raise CardError(f"{path}: {exc}") from exc


def parse_card(data: bytes) -> Card:
    if is_png(data):
        try:
            chunks = text_chunks(data, ("ccv3", "chara"))
        except PngError as exc:
            raise CardError(str(exc)) from exc
        keyword = "ccv3" if "ccv3" in chunks else "chara" if "chara" in chunks else ""
        if not keyword:
            raise CardError("this PNG holds no character card (no 'chara' or 'ccv3' text)")
        try:
            raw = base64.b64decode("".join(chunks[keyword].split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CardError(f"the '{keyword}' text is not valid base64 ({exc})") from exc
    else:
        raw = data
    if len(raw) > MAX_JSON:
        raise CardError(f"the card's JSON is over {MAX_JSON // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError("the card is neither a PNG nor UTF-8 JSON") from exc
    return card_from_json(parse_json(text))


def parse_json(text: str) -> Any:
    """JSON nested at most ``MAX_DEPTH`` deep (the parser itself stops far deeper ones)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"the card is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise CardError(f"the card's JSON nests deeper than {MAX_DEPTH} levels") from exc
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > MAX_DEPTH:
            raise CardError(f"the card's JSON nests deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def card_from_json(obj: Any) -> Card:
    if not isinstance(obj, dict):
        raise CardError("the card's JSON is not an object")
    spec = obj.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise CardError(f"a {spec} card without its 'data' object")
        version = "v3" if spec == "chara_card_v3" else "v2"
    elif spec is None and "name" in obj:
        data, version = obj, "v1"
    else:
        raise CardError(f"not a character card (spec {spec!r})")
    values = {name: _text(data, name) for name in (
        "name", "description", "personality", "scenario", "first_mes", "mes_example",
        "system_prompt", "post_history_instructions",
    )}
    if not values["name"].strip():
        raise CardError("the card has no character name")
    greetings = data.get("alternate_greetings", [])
    if not isinstance(greetings, list) or not all(isinstance(g, str) for g in greetings):
        raise CardError("'alternate_greetings' is not a list of text")
    book = None
    if isinstance(data.get("character_book"), dict):
        try:
            book = parse_book(data["character_book"], f"{values['name']}'s lore")
        except LoreError as exc:
            raise CardError(f"the card's character_book: {exc}") from exc
    return Card(alternate_greetings=tuple(greetings), book=book, spec=version, **values)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CardError(f"the card's '{name}' is not text")
    return value


# -- macros ----------------------------------------------------------------
def substitute(text: str, char: str, user: str) -> str:
    """``{{char}}``, ``<BOT>``, ``{{user}}`` and ``<USER>`` in any case."""
    text = re.sub(r"\{\{char\}\}|<bot>", lambda _m: char, text, flags=re.I)
    return re.sub(r"\{\{user\}\}|<user>", lambda _m: user, text, flags=re.I)


def examples_text(mes_example: str) -> str:
    """Example dialogue with its ``<START>`` separators as plain headings."""
    blocks = [b.strip() for b in re.split(r"<START>", mes_example, flags=re.I) if b.strip()]
    return "\n\n".join(f"[Example dialogue]\n{block}" for block in blocks)


# -- onto a session --------------------------------------------------------
def apply_card(session: "Session", card: Card, greeting: int = 0, card_file: str = "") -> None:
    """Make the session play this character: chat mode, its persona, scenario, greeting and lore.

    ``greeting`` picks the first message (0) or an alternate greeting (1...).
    A session that has started keeps its turns; only a fresh one opens with the greeting.
    """
    greetings = card.greetings
    if greetings and not 0 <= greeting < len(greetings):
        raise CardError(f"{card.name} has {len(greetings)} greetings; choose 0 to {len(greetings) - 1}")
    user = session.play.user_name or "User"

    def fill(text: str) -> str:
        return substitute(text, card.name, user).strip()

    play = session.play.changed(
        card=card_file, description=fill(card.description), personality=fill(card.personality),
        scenario=fill(card.scenario), examples=fill(examples_text(card.mes_example)),
        post_history=fill(card.post_history_instructions),
        greetings=tuple(fill(g) for g in greetings),
    )
    if card.book is not None and card.book.entries:
        play = play.with_lorebook(card.book)
    session.play = play
    session.set_mode("chat")
    session.character = card.name
    session.system_prompt = fill(
        re.sub(r"\{\{original\}\}", lambda _m: session.system_prompt, card.system_prompt, flags=re.I)
    )
    session.greeting = play.greetings[greeting] if greetings else ""
    session.start_with_greeting()


# -- the cards folder ------------------------------------------------------
def cards_dir() -> Path:
    return locations.data_dir() / "cards"


def import_card(path: Path) -> tuple[Path, Card]:
    """Check the card, then copy it into the cards folder; returns the copy and the card."""
    card = load_card(path)
    source = Path(path).expanduser()
    folder = cards_dir()
    target = folder / source.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (target.exists() and target.resolve() == source.resolve()):
            target = _free_name(folder, source)
            shutil.copyfile(source, target)
    except OSError as exc:
        raise CardError(f"could not copy the card into {folder}: {exc.strerror or exc}") from exc
    return target, card


def _free_name(folder: Path, source: Path) -> Path:
    target, number = folder / source.name, 2
    while target.exists():
        target = folder / f"{source.stem}-{number}{source.suffix}"
        number += 1
    return target


def list_cards() -> list[Path]:
    folder = cards_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in CARD_SUFFIXES and p.is_file())

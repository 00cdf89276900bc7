"""Character cards and lorebooks written by the tests themselves: PNG chunks built by hand."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def text_chunk(keyword: str, text: str) -> bytes:
    return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))


def itxt_chunk(keyword: str, text: str, compressed: bool = True) -> bytes:
    data = zlib.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    return chunk(b"iTXt", keyword.encode("latin-1") + b"\0" + bytes([int(compressed), 0])
                 + b"\0\0" + data)


def png(*chunks: bytes) -> bytes:
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pixels = chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    return SIGNATURE + header + b"".join(chunks) + pixels + chunk(b"IEND", b"")


def b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode("utf-8")).decode("ascii")


def card_data(name: str = "Mira", **extra: Any) -> dict[str, Any]:
    data = {
        "name": name,
        "description": "{{char}} is a lighthouse keeper who talks to {{user}} about ships.",
        "personality": "calm, dry humour",
        "scenario": "A stormy night at <BOT>'s lighthouse; <USER> knocks on the door.",
        "first_mes": "Come in out of the rain, {{User}}.",
        "alternate_greetings": ["You again, {{user}}? Tea's on.", "{{CHAR}} waves from the stairs."],
        "mes_example": "<START>\n{{user}}: Any ships?\n{{char}}: Only ghosts tonight.",
        "system_prompt": "Write {{char}}'s next reply in a fictional chat. {{original}}",
        "post_history_instructions": "Stay in {{char}}'s voice.",
        "tags": [],
    }
    data.update(extra)
    return data


def v2(name: str = "Mira", **extra: Any) -> dict[str, Any]:
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": card_data(name, **extra)}


def v3(name: str = "Mira", **extra: Any) -> dict[str, Any]:
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": card_data(name, **extra)}


def write_png_card(path: Path, *chunks: bytes) -> Path:
    path.write_bytes(png(*chunks))
    return path


def book(entries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A character_book (V2 spec shape)."""
    return {"name": "book", "scan_depth": 2, "entries": entries, **extra}


def world_info(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A SillyTavern World Info export: entries keyed by uid."""
    return {"entries": {str(uid): {"uid": uid, **entry} for uid, entry in enumerate(entries)}}


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path

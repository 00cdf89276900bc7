"""The text chunks of a PNG file, read with hard limits (character cards hide their JSON there).

Only what a card needs is read: ``tEXt``, ``zTXt`` and ``iTXt`` chunks, by
keyword. Every size is checked before it is trusted, compressed text is
inflated in bounded steps, and a file that ends early is refused.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNKS = 65536  # big images come in many 8 KiB IDAT chunks
MAX_TEXT_CHUNK = 16 * 1024 * 1024
MAX_INFLATED = 16 * 1024 * 1024
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


class PngError(ValueError):
    """The file is not a PNG we can read, worded for the user."""


def is_png(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


def text_chunks(data: bytes, wanted: tuple[str, ...]) -> dict[str, str]:
    """The text of the chunks whose keyword is in ``wanted`` (lower case), first one wins."""
    if not is_png(data):
        raise PngError("not a PNG file")
    found: dict[str, str] = {}
    at, count = len(SIGNATURE), 0
    while True:
        if at == len(data):
            raise PngError("the PNG file ends before its IEND chunk (truncated?)")
        if at + 8 > len(data):
            raise PngError("the PNG file is truncated inside a chunk header")
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        count += 1
        if count > MAX_CHUNKS:
            raise PngError(f"the PNG file has more than {MAX_CHUNKS} chunks")
        body_end = at + 8 + length
        if body_end + 4 > len(data):
            raise PngError(f"the PNG file is truncated inside a {_name(kind)} chunk")
        if kind in TEXT_TYPES:
            if length > MAX_TEXT_CHUNK:
                raise PngError(
                    f"a {_name(kind)} chunk is {length} bytes; text chunks over "
                    f"{MAX_TEXT_CHUNK // (1024 * 1024)} MiB are refused"
                )
            body = data[at + 8:body_end]
            (crc,) = struct.unpack(">I", data[body_end:body_end + 4])
            if zlib.crc32(kind + body) != crc:
                raise PngError(f"a {_name(kind)} chunk is damaged (CRC mismatch)")
            keyword, text = _text(kind, body)
            if keyword.lower() in wanted and keyword.lower() not in found:
                found[keyword.lower()] = text
        elif kind == b"IEND":
            return found
        at = body_end + 4


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


def _text(kind: bytes, body: bytes) -> tuple[str, str]:
    keyword, sep, rest = body.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        raise PngError(f"a {_name(kind)} chunk has no valid keyword")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise PngError("a zTXt chunk uses an unknown compression method")
        return name, inflate(rest[1:]).decode("latin-1")
    if len(rest) < 2:
        raise PngError("an iTXt chunk is cut short")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, sep1, rest = rest.partition(b"\0")
    _translated, sep2, text = rest.partition(b"\0")
    if not (sep1 and sep2):
        raise PngError("an iTXt chunk is cut short")
    if compressed:
        if method != 0:
            raise PngError("an iTXt chunk uses an unknown compression method")
        text = inflate(text)
    try:
        return name, text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PngError("an iTXt chunk is not UTF-8 text") from exc


def inflate(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """zlib data inflated to at most ``limit`` bytes; more is refused, not produced."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise PngError(f"compressed text is damaged ({exc})") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PngError(f"compressed text inflates past {limit // (1024 * 1024)} MiB")
    if not inflater.eof:
        raise PngError("compressed text is cut short")
    return out

"""Character cards: V1/V2/V3 from PNG and JSON, macros, the cards folder, and hostile files."""

from __future__ import annotations

import base64
import json
import sys
import zlib

import pytest

from card_files import (
    b64, book, card_data, chunk, itxt_chunk, png, text_chunk, v2, v3, write_json, write_png_card,
)
from measured import run_measured
from tui_llm.chat.cards import CardError, apply_card, cards_dir, import_card, list_cards, load_card, substitute
from tui_llm.chat.modes import build_request
from tui_llm.chat.sessions import Session, load_session, save_session

MB = 1024**2


def test_a_v2_png_card_is_read_from_its_chara_chunk(tmp_path):
    card = load_card(write_png_card(tmp_path / "mira.png", text_chunk("chara", b64(v2()))))
    assert card.spec == "v2" and card.name == "Mira"
    assert card.personality == "calm, dry humour"
    assert card.greetings == (
        "Come in out of the rain, {{User}}.", "You again, {{user}}? Tea's on.",
        "{{CHAR}} waves from the stairs.",
    )


def test_a_v3_chunk_is_preferred_over_v2_and_may_be_compressed_itxt(tmp_path):
    path = write_png_card(tmp_path / "both.png", text_chunk("chara", b64(v2("Old"))),
                          itxt_chunk("ccv3", b64(v3("New"))))
    card = load_card(path)
    assert (card.spec, card.name) == ("v3", "New")


def test_json_cards_v2_and_v1_fields_at_the_top(tmp_path):
    assert load_card(write_json(tmp_path / "v2.json", v2("Ana"))).name == "Ana"
    v1 = load_card(write_json(tmp_path / "v1.json", card_data("Bo")))
    assert (v1.spec, v1.name, v1.scenario[:7]) == ("v1", "Bo", "A storm")


def test_macros_are_replaced_in_any_case_and_angle_forms():
    text = "{{char}} {{CHAR}} <BOT> <bot> / {{user}} {{User}} <USER>"
    assert substitute(text, "Mira", "Sam") == "Mira Mira Mira Mira / Sam Sam Sam"


def test_a_card_maps_onto_a_chat_session_and_its_prompt(tmp_path):
    card = load_card(write_json(tmp_path / "mira.json", v2(character_book=book(
        [{"keys": ["harbour"], "content": "The harbour froze.", "name": "harbour"}]))))
    session = Session(mode="instruct", system_prompt="Be vivid.")
    session.play = session.play.changed(user_name="Sam")
    apply_card(session, card, greeting=1, card_file="mira.json")
    assert session.mode == "chat" and session.character == "Mira"
    assert session.system_prompt == "Write Mira's next reply in a fictional chat. Be vivid."
    assert [t.text for t in session.turns] == ["You again, Sam? Tea's on."]
    assert [b.name for b in session.play.lorebooks] == ["book"]
    session.add("user", "Any news?")
    system, greeting, user = build_request(session, 0)
    assert system["role"] == "system"
    for part in ("Mira is a lighthouse keeper who talks to Sam about ships.",
                 "Mira's personality: calm, dry humour",
                 "Scenario: A stormy night at Mira's lighthouse; Sam knocks on the door.",
                 "[Example dialogue]\nSam: Any ships?\nMira: Only ghosts tonight."):
        assert part in system["content"]
    assert "{{" not in system["content"] and "<START>" not in system["content"]
    assert system["content"].endswith("Mira: Only ghosts tonight.")
    assert user == {"role": "user", "content": "Any news?\n\nStay in Mira's voice."}
    assert greeting["role"] == "assistant"


def test_the_card_travels_with_the_session_file(tmp_path):
    session = Session()
    apply_card(session, load_card(write_json(tmp_path / "c.json", v2())), card_file="c.json")
    again = load_session(save_session(session, tmp_path / "s.json"))
    assert again.play == session.play and again.character == "Mira"
    assert build_request(again, 0) == build_request(session, 0)


def test_a_greeting_out_of_range_is_a_clear_error(tmp_path):
    card = load_card(write_json(tmp_path / "c.json", v2()))
    with pytest.raises(CardError, match="Mira has 3 greetings; choose 0 to 2"):
        apply_card(Session(), card, greeting=3)


def test_imported_cards_are_copied_into_the_cards_folder_and_listed(tmp_path, isolated_home):
    source = write_png_card(tmp_path / "mira.png", text_chunk("chara", b64(v2())))
    first, card = import_card(source)
    second, _ = import_card(source)
    assert card.name == "Mira"
    assert first.parent == cards_dir() and cards_dir().is_relative_to(isolated_home)
    assert first.read_bytes() == source.read_bytes() and first != second
    assert list_cards() == sorted([first, second])
    assert import_card(first)[0] == first  # picking a listed card again does not copy it
    with pytest.raises(CardError):
        import_card(write_json(tmp_path / "bad.json", {"spec": "nope"}))
    assert len(list_cards()) == 2


# -- hostile and broken cards --------------------------------------------------
def deflate_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9)
    block = b"A" * MB
    return b"".join(packer.compress(block) for _ in range(size // MB)) + packer.flush()


@pytest.mark.parametrize("name, body, words", [
    ("bad-base64.png", lambda: png(text_chunk("chara", "@@ not base64 !!")), "not valid base64"),
    ("deep.png", lambda: png(text_chunk("chara", base64.b64encode(
        b"[" * 200_000 + b"]" * 200_000).decode())), "nests deeper than 64"),
    ("truncated.png", lambda: png(text_chunk("chara", b64(v2())))[:120], "truncated"),
    ("huge-length.png", lambda: png()[:33] + b"\x7f\xff\xff\xfftEXt" + b"x" * 64, "truncated"),
    ("huge-chunk.png", lambda: png(chunk(b"tEXt", b"chara\0" + b"A" * (17 * MB))), "refused"),
    ("bomb.png", lambda: png(chunk(b"iTXt", b"ccv3\0\1\0\0\0" + deflate_bomb(200 * MB))),
     "inflates past 16 MiB"),
    ("many-chunks.png", lambda: png(*[chunk(b"tIME", b"1234567")] * 70_000), "more than 65536 chunks"),
    ("bad-crc.png", lambda: png(chunk(b"tEXt", b"chara\0abc", crc=1)), "CRC"),
    ("no-card.png", lambda: png(text_chunk("Comment", "hello")), "holds no character card"),
    ("not-json.json", lambda: b"{name: Mira", "not valid JSON"),
    ("escaped-quotes.json", lambda: b'"' + b'\\"' * 3_000_000, "not valid JSON"),
    ("deep-in-a-field.json", lambda: json.dumps(v2(extensions={"x": 0})).replace(
        '{"x": 0}', "[" * 70 + "]" * 70).encode(), "nests deeper than 64"),
    ("not-a-card.json", lambda: json.dumps({"spec": "x"}).encode(), "not a character card"),
    ("nameless.json", lambda: json.dumps(v2("")).encode(), "no character name"),
    ("bad-field.json", lambda: json.dumps(v2(description=["x"])).encode(), "'description' is not text"),
])
def test_a_hostile_card_is_one_clear_error(tmp_path, name, body, words):
    path = tmp_path / name
    path.write_bytes(body())
    with pytest.raises(CardError) as caught:
        load_card(path)
    assert words in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("body", [
    lambda: png(chunk(b"iTXt", b"ccv3\0\1\0\0\0" + deflate_bomb(512 * MB))),
    lambda: png(text_chunk("chara", base64.b64encode(b"[" * 3_000_000).decode())),
])
def test_the_cli_refuses_a_hostile_card_in_one_line_within_bounded_memory(tmp_path, model_path, body):
    path = tmp_path / "hostile.png"
    path.write_bytes(body())
    run = run_measured([sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path),
                        "--card", str(path), "--prompt", "hi"], timeout=120)
    assert run.rc == 2, run.err[-2000:]
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tui-llm: {path}: ")
    assert run.peak_rss < 400 * MB


def test_a_missing_card_file_is_named(tmp_path):
    with pytest.raises(CardError, match="no such card file"):
        load_card(tmp_path / "none.png")
    with pytest.raises(CardError, match="is a folder"):
        load_card(tmp_path)


def test_a_big_image_in_many_data_chunks_still_reads(tmp_path):
    data = [chunk(b"IDAT", b"\0" * 8192)] * 3000
    card = load_card(write_png_card(tmp_path / "big.png", *data, text_chunk("chara", b64(v2()))))
    assert card.name == "Mira"

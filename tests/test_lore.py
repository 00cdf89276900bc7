"""Lorebooks: what triggers an entry, where it goes, and the lore budget on the real model."""

from __future__ import annotations

import asyncio

import pytest

from card_files import book, world_info, write_json
from tui_llm.chat.context import ContextOverflowError, assemble
from tui_llm.chat.lore import LoreError, load_lorebook, parse_book, triggered
from tui_llm.chat.modes import build_request
from tui_llm.chat.play import PlayError, parse_note_place
from tui_llm.chat.sessions import Session
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings

SHORT = SamplerSettings(temperature=0.0, max_tokens=16, seed=1)


def names(entries):
    return [entry.name for entry in entries]


def test_entries_trigger_on_their_keys_in_the_scanned_messages_and_constants_always():
    lore = parse_book(book([
        {"keys": ["harbour"], "content": "H", "name": "harbour", "insertion_order": 1},
        {"keys": ["ghost"], "content": "G", "name": "ghost"},
        {"keys": [], "content": "W", "name": "winter", "constant": True},
        {"keys": ["harbour"], "content": "X", "name": "off", "enabled": False},
    ]))
    assert names(triggered([lore], ["Hello", "The HARBOUR is calm."])) == ["winter", "harbour"]
    assert names(triggered([lore], ["a ghost story", "b", "c"])) == ["winter"]  # scan depth 2
    assert names(triggered([lore], ["nothing here"])) == ["winter"]


def test_secondary_keys_case_and_whole_words_as_sillytavern():
    wi = parse_book(world_info([
        {"key": ["ship"], "keysecondary": ["ghost"], "selective": True, "selectiveLogic": 0,
         "content": "and-any", "comment": "and-any"},
        {"key": ["ship"], "keysecondary": ["ghost"], "selective": True, "selectiveLogic": 2,
         "content": "not-any", "comment": "not-any"},
        {"key": ["ship", "boat"], "keysecondary": ["ghost", "night"], "selective": True,
         "selectiveLogic": 3, "content": "and-all", "comment": "and-all"},
        {"key": ["Mira"], "caseSensitive": True, "content": "case", "comment": "case"},
        {"key": ["cat"], "matchWholeWords": True, "content": "word", "comment": "word"},
        {"key": ["ship"], "disable": True, "content": "off", "comment": "off"},
    ]))
    assert set(names(triggered([wi], ["a ship"]))) == {"not-any"}
    assert set(names(triggered([wi], ["a ghost ship at night"]))) == {"and-any", "and-all"}
    assert names(triggered([wi], ["mira and the category"])) == []
    assert set(names(triggered([wi], ["Mira and the cat."]))) == {"case", "word"}


def test_lore_positions_in_a_chat_prompt():
    session = Session(mode="chat", character="Mira", memory="MEMORY")
    session.play = session.play.with_lorebook(parse_book(world_info([
        {"key": ["k"], "content": "BEFORE {{char}}", "position": 0, "order": 1},
        {"key": ["k"], "content": "AFTER2", "position": 1, "order": 2},
        {"key": ["k"], "content": "AFTER1", "position": 1, "order": 1},
        {"key": ["k"], "content": "DEEP", "position": 4, "depth": 2},
    ])))
    session.play = session.play.changed(description="DESC")
    for text in ("hello", "sure", "k please"):
        session.add("user" if text != "sure" else "assistant", text)
    lore = triggered(session.play.lorebooks, [t.text for t in session.turns])
    system, first, second, last = build_request(session, 0, lore)
    assert system["content"] == "You are Mira. Stay in character.\n\nBEFORE Mira\n\nDESC\n\nAFTER1\nAFTER2\n\nMEMORY"
    assert second["content"] == "DEEP\n\nsure" and last["content"] == "k please"


def test_authors_note_top_bottom_depth_and_latest():
    session = Session(mode="chat", authors_note="NOTE")
    for role, text in (("user", "u1"), ("assistant", "a1"), ("user", "u2")):
        session.add(role, text)

    def contents(where):
        position, depth = parse_note_place(where)
        session.play = session.play.changed(note_position=position, note_depth=depth)
        return [m["content"] for m in build_request(session, 0)]

    note = "[Author's note: NOTE]"
    assert contents("latest") == ["u1", "a1", f"{note}\n\nu2"]
    assert contents("top") == [note, "u1", "a1", "u2"]
    assert contents("bottom") == ["u1", "a1", f"u2\n\n{note}"]
    assert contents("2") == ["u1", f"{note}\n\na1", "u2"]
    assert contents("depth 9") == [f"{note}\n\nu1", "a1", "u2"]
    story = Session(mode="story", authors_note="NOTE", memory="MEM")
    story.add("user", "one\ntwo\nthree")
    story.play = story.play.changed(note_position="depth", note_depth=1)
    assert build_request(story, 0) == f"MEM\n\none\ntwo\n{note}\nthree"
    with pytest.raises(PlayError, match="top, bottom, latest or at a depth"):
        parse_note_place("middle")


def test_lorebook_files_with_problems_are_one_clear_error(tmp_path):
    good = load_lorebook(write_json(tmp_path / "world.json", world_info([{"key": "sea", "content": "S"}])))
    assert good.name == "world" and good.entries[0].keys == ("sea",)
    for body, words in (({"x": 1}, "no 'entries'"), ({"entries": [{"keys": ["a"]}]}, "no text content"),
                        ({"entries": [{"keys": [1], "content": ""}]}, "keys are not a list of text")):
        with pytest.raises(LoreError, match=words):
            load_lorebook(write_json(tmp_path / "bad.json", body))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(LoreError, match="not valid JSON"):
        load_lorebook(tmp_path / "broken.json")


# -- on the real model -------------------------------------------------------
@pytest.fixture(scope="module")
def runner(model_path):
    runner = LlamaCppRunner()
    asyncio.run(runner.load(model_path, LoadSettings(n_ctx=512)))
    yield runner
    asyncio.run(runner.close())


FACT = "The old harbour of Port Vell froze solid in the winter of 1890, and ships waited outside."


def lore_session(entries: int, budget: int = 0) -> Session:
    session = Session(mode="chat", character="Mira", memory="The secret word is PLUM.")
    session.play = session.play.with_lorebook(parse_book(world_info([
        {"key": ["harbour"], "content": f"{n}: {FACT}", "comment": f"fact {n}", "order": n}
        for n in range(entries)
    ]))).changed(lore_budget=budget)
    return session


async def test_lore_is_sent_only_when_keyed_and_the_budget_is_reported(runner):
    session = lore_session(6, budget=60)
    session.add("user", "Hello there.")
    quiet = await assemble(session, runner, SHORT)
    assert quiet.lore == () and FACT not in str(quiet.request) and not quiet.notice
    session.add("assistant", "Hello.")
    session.add("user", "Tell me about the harbour.")
    keyed = await assemble(session, runner, SHORT)
    sent = sum(FACT in m["content"] for m in keyed.request)
    assert 0 < len(keyed.lore) < 6 and sent == 1
    assert str(keyed.request).count(FACT) == len(keyed.lore)
    assert keyed.lore[0] == "fact 5"  # higher order is kept first
    assert set(keyed.lore) | set(keyed.lore_left_out) == {f"fact {n}" for n in range(6)}
    assert "Lore left out" in keyed.notice and "fact 0" in keyed.notice
    assert "budget of 60 tokens" in keyed.notice


async def test_lore_goes_before_memory_and_the_system_prompt_when_the_context_is_short(runner):
    session = lore_session(40, budget=100_000)
    session.add("user", "Tell me about the harbour.")
    assembly = await assemble(session, runner, SamplerSettings(max_tokens=128))
    assert assembly.lore == () and len(assembly.lore_left_out) == 40
    assert "The secret word is PLUM." in assembly.request[0]["content"]
    assert "Lore left out (40 entries" in assembly.notice
    assert assembly.prompt_tokens <= assembly.budget


async def test_a_card_too_large_for_the_context_is_a_clear_error(runner):
    session = Session(mode="chat", character="Mira")
    session.play = session.play.changed(description=FACT * 40)
    session.add("user", "Hi.")
    with pytest.raises(ContextOverflowError, match="character card"):
        await assemble(session, runner, SHORT)

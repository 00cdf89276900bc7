"""Session files: atomic saves, reading back, the sessions folder, export."""

from __future__ import annotations

import json

import pytest

from tui_llm import locations
from tui_llm.chat.sessions import (
    Session,
    SessionError,
    SessionSaver,
    delete_session,
    export_markdown,
    list_sessions,
    load_session,
    rename_session,
    save_session,
    to_markdown,
)


def adventure() -> Session:
    session = Session(mode="adventure", memory="A cold cave.", authors_note="Be grim.",
                      game_preamble=True)
    session.add("user", "You wake up.")
    session.add("action", "light the torch")
    session.add("assistant", "The torch flares.")
    session.note_run("Tiny", "/models/tiny.gguf", "chatml", {"temperature": 0.7})
    return session


def test_a_saved_session_reads_back_whole():
    session = adventure()
    path = save_session(session)
    assert path.parent == locations.sessions_dir()
    assert path.name.endswith("-adventure.json")
    back = load_session(path)
    assert back.to_dict() == session.to_dict()
    assert back.turns[1].role == "action"
    assert back.sampler == {"temperature": 0.7}
    assert back.model == "Tiny" and back.template == "chatml"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_saving_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "s.json"
    session = adventure()
    save_session(session, path)
    inode_before = path.stat().st_ino
    session.add("action", "go north")
    save_session(session)
    assert path.stat().st_ino != inode_before  # a new file renamed over the old one
    assert len(load_session(path).turns) == 4


def test_background_saver_writes_in_order(tmp_path):
    saver = SessionSaver()
    session = Session(mode="story", path=tmp_path / "story.json")
    for n in range(30):
        session.add("user", f"part {n}")
        saver.save(session)
    saver.close()
    assert len(load_session(tmp_path / "story.json").turns) == 30


def test_a_corrupt_file_is_reported_and_kept(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tui-llm-session", "turns": [', encoding="utf-8")
    before = broken.read_bytes()
    with pytest.raises(SessionError, match="broken JSON at line 1.*kept as it is"):
        load_session(broken)
    assert broken.read_bytes() == before


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"hello": 1}, "not a tui-llm session file"),
        ({"format": "tui-llm-session", "version": 99, "mode": "chat"}, "version 99"),
        ({"format": "tui-llm-session", "version": 1, "mode": "poetry"}, "unknown mode"),
        ({"format": "tui-llm-session", "version": 1, "mode": "chat",
          "turns": [{"role": "wizard", "text": "x"}]}, "turn 1 is malformed"),
        ({"format": "tui-llm-session", "version": 1, "mode": "chat", "memory": 5}, "'memory'"),
    ],
)
def test_wrong_content_is_a_clear_error(tmp_path, data, problem):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SessionError, match=problem):
        load_session(path)


def test_list_shows_good_and_broken_sessions_newest_first():
    older = adventure()
    older.title = "Older"
    save_session(older)
    newer = Session(mode="chat", character="Bob")
    newer.add("user", "Hi Bob, how is the weather today?")
    newer_path = save_session(newer)
    data = json.loads(newer_path.read_text())
    data["updated"] = "2999-01-01T00:00:00+00:00"
    newer_path.write_text(json.dumps(data))
    broken = locations.sessions_dir() / "zz-broken.json"
    broken.write_text("not json")
    summaries = list_sessions()
    assert [s.title for s in summaries if s.ok] == ["Hi Bob, how is the weather today?", "Older"]
    bad = [s for s in summaries if not s.ok]
    assert len(bad) == 1 and bad[0].path == broken and "broken JSON" in bad[0].problem
    assert broken.read_text() == "not json"


def test_rename_delete_and_missing_files():
    path = save_session(adventure())
    assert rename_session(path, "  The   Cave ").title == "The Cave"
    assert load_session(path).title == "The Cave"
    with pytest.raises(SessionError, match="cannot be empty"):
        rename_session(path, "   ")
    delete_session(path)
    assert not path.exists()
    delete_session(path)  # already gone: nothing to do
    with pytest.raises(SessionError, match="no such session file"):
        load_session(path)


def test_export_to_markdown():
    session = adventure()
    save_session(session)
    text = to_markdown(session)
    assert text.startswith("# You wake up.\n")
    assert "Mode: adventure · Model: Tiny · Template: chatml" in text
    assert "**Memory:**\n\n> A cold cave." in text
    assert "> **light the torch**" in text
    target = export_markdown(session)
    assert target.read_text(encoding="utf-8") == text
    assert target.suffix == ".md" and target.stem == session.path.stem


def test_chat_export_names_the_speakers():
    session = Session(mode="chat", character="Bob", greeting="Hello there.")
    session.start_with_greeting()
    session.add("user", "Hi")
    assert "**Bob:**\n\nHello there.\n\n**You:**\n\nHi" in to_markdown(session)


def test_undo_and_edit():
    session = Session(mode="instruct")
    session.add("user", "one")
    session.add("assistant", "two")
    session.context_start = 1
    session.edit(0, "uno")
    assert session.turns[0].text == "uno"
    assert session.undo().text == "two"
    assert session.context_start == 0  # never past the last turn
    with pytest.raises(SessionError):
        session.edit(5, "x")
    assert session.undo().text == "uno" and session.undo() is None


def test_unknown_mode_and_role_are_refused():
    with pytest.raises(SessionError, match="unknown mode"):
        Session(mode="poetry")
    with pytest.raises(SessionError, match="unknown turn role"):
        Session().add("narrator", "x")


def test_a_save_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SessionError, match="could not save the session"):
        save_session(adventure(), blocker / "inside.json")

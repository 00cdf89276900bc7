"""The prompt preview and ``tui-llm chat --card/--lore/--show-prompt``, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from card_files import b64, book, text_chunk, v2, world_info, write_json, write_png_card
from tui_llm.chat.conversation import Conversation
from tui_llm.chat.preview import next_prompt
from tui_llm.chat.sessions import Session, load_session
from tui_llm.engine.llama import LlamaCppRunner
from tui_llm.engine.load_settings import LoadSettings
from tui_llm.engine.sampler import SamplerSettings

# Runs the CLI with the engine's prompt written to a file as llama.cpp is asked to read it.
SPY = r"""
import sys
from tui_llm.engine import llama
real = llama.LlamaCppRunner._generate_sync
def spy(self, prompt, *args, **kwargs):
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write(prompt)
    return real(self, prompt, *args, **kwargs)
llama.LlamaCppRunner._generate_sync = spy
from tui_llm.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def run_cli(*args, env_home, spy_to=None):
    env = {**os.environ, "TUI_LLM_HOME": str(env_home)}
    command = [sys.executable, "-c", SPY, str(spy_to), *args] if spy_to else [sys.executable, "-m", "tui_llm", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def card(tmp_path):
    return write_png_card(tmp_path / "mira.png", text_chunk("chara", b64(v2(character_book=book([
        {"keys": ["harbour"], "content": "The harbour froze in 1890.", "name": "harbour"},
        {"keys": [], "constant": True, "content": "It is winter.", "name": "season"},
    ])))))


@pytest.fixture
def lorebook(tmp_path):
    return write_json(tmp_path / "sea.json", world_info([
        {"key": ["ghost"], "content": "Ghost ships sail by {{user}}.", "comment": "ghosts",
         "position": 4, "depth": 1},
        {"key": ["dragon"], "content": "Dragons nest north.", "comment": "dragons"},
    ]))


def test_show_prompt_json_equals_what_the_engine_reads(tmp_path, model_path, isolated_home, card, lorebook):
    play = ["--model", str(model_path), "--card", str(card), "--card-greeting", "2",
            "--lore", str(lorebook), "--authors-note", "Be brief.", "--authors-note-at", "1",
            "--user-name", "Sam", "--seed", "3", "--max-tokens", "12",
            "--prompt", "Any ghost ships near the harbour?"]
    shown = run_cli("chat", *play, "--show-prompt", "--json", env_home=isolated_home)
    assert shown.returncode == 0, shown.stderr
    preview = json.loads(shown.stdout)
    assert sorted(preview["lore"]) == ["ghosts", "harbour", "season"]
    assert preview["sampler"]["max_tokens"] == 12 and preview["sampler"]["seed"] == 3
    assert preview["template"]
    prompt = preview["prompt"]
    for part in ("Mira is a lighthouse keeper who talks to Sam", "It is winter.",
                 "The harbour froze in 1890.", "Ghost ships sail by Sam.", "Mira waves from the stairs.",
                 "[Author's note: Be brief.]", "Stay in Mira's voice."):
        assert part in prompt
    assert "Dragons" not in prompt and "{{" not in prompt

    engine_read = tmp_path / "engine-prompt.txt"
    replied = run_cli("chat", *play, env_home=isolated_home, spy_to=engine_read)
    assert replied.returncode == 0, replied.stderr
    assert engine_read.read_text(encoding="utf-8") == prompt

    plain = run_cli("chat", *play, "--show-prompt", env_home=isolated_home)
    assert plain.returncode == 0 and plain.stdout == prompt


def test_a_card_session_continues_and_its_preview_shows_the_history(tmp_path, model_path, isolated_home, card):
    session = tmp_path / "mira-session.json"
    first = run_cli("chat", "--model", str(model_path), "--card", str(card), "--session", str(session),
                    "--prompt", "Good evening.", "--max-tokens", "8", "--seed", "1", env_home=isolated_home)
    assert first.returncode == 0, first.stderr
    saved = load_session(session)
    assert saved.character == "Mira" and saved.play.card == "mira.png"
    assert [t.role for t in saved.turns] == ["assistant", "user", "assistant"]
    shown = run_cli("chat", "--model", str(model_path), "--session", str(session), "--show-prompt",
                    "--prompt", "And the harbour?", env_home=isolated_home)
    assert shown.returncode == 0, shown.stderr
    assert "Good evening." in shown.stdout and saved.turns[2].text.strip() in shown.stdout
    assert "The harbour froze in 1890." in shown.stdout
    assert load_session(session).turns == saved.turns  # the preview saved nothing


@pytest.mark.parametrize("extra, words", [
    (["--card", "missing.png"], "no such card file"),
    (["--lore", "missing.json"], "no such lorebook file"),
    (["--authors-note-at", "middle"], "top, bottom, latest or at a depth"),
    (["--card-greeting", "7", "--card", "CARD"], "choose 0 to 2"),
])
def test_bad_play_options_are_one_line_and_exit_2(tmp_path, model_path, isolated_home, card, extra, words):
    extra = [str(card) if item == "CARD" else str(tmp_path / item) if item.startswith("missing") else item
             for item in extra]
    done = run_cli("chat", "--model", str(model_path), "--prompt", "hi", *extra, env_home=isolated_home)
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


class RecordingRunner(LlamaCppRunner):
    """The real runner; it only notes the prompt each generation reads."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str] = []

    def _generate_sync(self, prompt, *args, **kwargs):
        self.prompts.append(prompt)
        return super()._generate_sync(prompt, *args, **kwargs)


async def test_the_preview_of_going_on_equals_the_continued_reply_prompt(model_path):
    runner = RecordingRunner()
    await runner.load(model_path, LoadSettings(n_ctx=512))
    try:
        session = Session(mode="chat", character="Mira", greeting="Hello, traveller.")
        conversation = Conversation(runner, session, lambda: SamplerSettings(max_tokens=6, seed=2))
        before = await next_prompt(conversation, "Where am I?")
        await conversation.send("Where am I?")
        assert runner.prompts[-1] == before.prompt
        reply = session.turns[-1].text
        going_on = await next_prompt(conversation)
        await conversation.go_on()
        assert runner.prompts[-1] == going_on.prompt
        assert going_on.prompt.endswith(f"<|im_start|>assistant\n{reply}")
    finally:
        await runner.close()

"""``tui-llm chat``: the scriptable path, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args, env_home, stdin=None):
    env = {**os.environ, "TUI_LLM_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "tui_llm", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=300,
    )


def test_chat_prints_one_reply_and_exits_zero(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "Name a colour.",
                   "--max-tokens", "16", "--seed", "7", env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert len(done.stdout.split()) <= 20
    assert "Traceback" not in done.stderr


def test_chat_past_the_trained_context_says_which_rope_scaling_it_uses(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "Name a colour.", "--ctx", "16384",
                   "--rope-scaling", "yarn", "--max-tokens", "8", "--seed", "7", env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "YaRN RoPE scaling (scale 0.5), as chosen. Quality may drop" in done.stderr
    bad = run_cli("chat", "--model", str(model_path), "--prompt", "hi", "--rope-freq-base", "-1",
                  env_home=isolated_home)
    assert bad.returncode == 2 and "rope_freq_base must be between 0" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_chat_reads_the_prompt_from_stdin(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "-", "--max-tokens", "8",
                   env_home=isolated_home, stdin="Say yes.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_chat_with_a_missing_model_is_a_clear_error(tmp_path, isolated_home):
    done = run_cli("chat", "--model", str(tmp_path / "none.gguf"), "--prompt", "hi",
                   env_home=isolated_home)
    assert done.returncode == 2
    assert "No such model file" in done.stderr
    assert "Traceback" not in done.stderr


def test_chat_with_a_non_gguf_file_is_a_clear_error(tmp_path, isolated_home):
    bogus = tmp_path / "x.gguf"
    bogus.write_text("hello")
    done = run_cli("chat", "--model", str(bogus), "--prompt", "hi", env_home=isolated_home)
    assert done.returncode == 2
    assert "not a GGUF model" in done.stderr


def test_help_lists_the_subcommands(isolated_home):
    done = run_cli("--help", env_home=isolated_home)
    assert done.returncode == 0
    assert "chat" in done.stdout and "--model" in done.stdout and "--starter" in done.stdout


def test_a_closed_pipe_is_not_a_traceback(isolated_home):
    env = {**os.environ, "TUI_LLM_HOME": str(isolated_home)}
    shell = f"'{sys.executable}' -m tui_llm catalog --json | head -c 10"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


def test_a_second_call_with_the_same_session_continues_the_story(model_path, isolated_home, tmp_path):
    from tui_llm.chat.sessions import load_session

    story = tmp_path / "tale.json"
    first = run_cli("chat", "--model", str(model_path), "--mode", "story", "--session", str(story),
                    "--memory", "A tale of the sea.", "--prompt", "Once upon a time, a sailor",
                    "--max-tokens", "8", "--seed", "3", env_home=isolated_home)
    assert first.returncode == 0, first.stderr
    after_one = load_session(story)
    assert after_one.mode == "story" and after_one.memory == "A tale of the sea."
    assert [t.role for t in after_one.turns] == ["user", "assistant"]
    assert after_one.turns[1].text.strip() == first.stdout.strip()
    assert after_one.model_path == str(model_path.resolve())
    assert after_one.sampler["max_tokens"] == 8 and after_one.sampler["seed"] == 3

    second = run_cli("chat", "--model", str(model_path), "--session", str(story),
                     "--prompt", "Then the storm came", "--max-tokens", "8",
                     env_home=isolated_home)
    assert second.returncode == 0, second.stderr
    after_two = load_session(story)
    assert after_two.mode == "story"  # taken from the file
    assert after_two.turns[:2] == after_one.turns
    assert [t.text for t in after_two.turns[2:3]] == ["Then the storm came"]
    assert after_two.turns[3].text.strip() == second.stdout.strip()


def test_adventure_actions_are_saved_as_actions(model_path, isolated_home, tmp_path):
    from tui_llm.chat.sessions import load_session

    game = tmp_path / "game.json"
    done = run_cli("chat", "--model", str(model_path), "--mode", "adventure", "--session", str(game),
                   "--game-preamble", "--prompt", "open the door", "--max-tokens", "8",
                   env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    session = load_session(game)
    assert session.game_preamble
    assert session.turns[0].role == "action" and session.turns[0].text == "open the door"
    assert "\n> " not in session.turns[-1].text


def test_a_corrupt_session_file_is_reported_and_kept(model_path, isolated_home, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tui-llm-session", "turns": [')
    done = run_cli("chat", "--model", str(model_path), "--session", str(broken), "--prompt", "hi",
                   env_home=isolated_home)
    assert done.returncode == 2
    assert "broken JSON" in done.stderr and "Traceback" not in done.stderr
    assert broken.read_text() == '{"format": "tui-llm-session", "turns": ['


def test_killed_mid_generation_loses_no_earlier_turn(model_path, isolated_home, tmp_path):
    import json
    import signal
    import time

    from tui_llm.chat.sessions import load_session

    story = tmp_path / "long.json"
    first = run_cli("chat", "--model", str(model_path), "--mode", "story", "--session", str(story),
                    "--prompt", "The lighthouse keeper woke", "--max-tokens", "8",
                    env_home=isolated_home)
    assert first.returncode == 0, first.stderr
    before = load_session(story)
    env = {**os.environ, "TUI_LLM_HOME": str(isolated_home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--session",
         str(story), "--prompt", "and climbed the stairs", "--max-tokens", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        received = b""
        deadline = time.monotonic() + 120
        while len(received) < 10 and time.monotonic() < deadline:
            received += process.stdout.read(1)  # the reply is streaming
        assert len(received) >= 10
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    json.loads(story.read_text())  # still a whole file
    session = load_session(story)
    assert session.turns[:2] == before.turns
    assert [t.role for t in session.turns] == ["user", "assistant", "user"]
    assert session.turns[2].text == "and climbed the stairs"


def test_a_model_without_its_own_template_gets_the_preset_its_name_names(model_path, isolated_home, tmp_path):
    from testmodel import untemplated_copy

    from tui_llm.chat.sessions import load_session
    from tui_llm.models.gguf import read_gguf

    gemma = untemplated_copy(tmp_path / "gemma-2-2b-it-Q4_K_M.gguf")
    assert read_gguf(gemma).chat_template is None
    chat = tmp_path / "chat.json"
    done = run_cli("chat", "--model", str(gemma), "--session", str(chat), "--prompt", "Say hi.",
                   "--max-tokens", "4", "--seed", "1", env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert load_session(chat).template == "gemma"


def test_random_means_random_between_launches_and_a_seed_repeats(model_path, isolated_home):
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[sampler]\ntemperature = 1.5\nmin_p = 0.0\n", encoding="utf-8")
    ask = ("chat", "--model", str(model_path), "--prompt", "Invent a name for a ship.",
           "--max-tokens", "24")
    unseeded = [run_cli(*ask, env_home=isolated_home) for _ in range(3)]
    assert all(done.returncode == 0 for done in unseeded), unseeded[0].stderr
    assert len({done.stdout for done in unseeded}) > 1, "three launches gave the same reply"
    seeded = [run_cli(*ask, "--seed", "42", env_home=isolated_home) for _ in range(2)]
    assert seeded[0].returncode == 0, seeded[0].stderr
    assert seeded[0].stdout == seeded[1].stdout and seeded[0].stdout.strip()


def test_threads_option_is_checked(model_path, isolated_home):
    done = run_cli("chat", "--model", str(model_path), "--prompt", "hi", "--threads", "0",
                   env_home=isolated_home)
    assert done.returncode == 2
    assert "thread" in done.stderr and "Traceback" not in done.stderr


def test_a_second_writer_of_one_session_is_refused_and_nothing_is_lost(model_path, isolated_home, tmp_path):
    session = tmp_path / "story.json"
    ask = ("chat", "--model", str(model_path), "--session", str(session), "--max-tokens", "8",
           "--seed", "1")
    first = run_cli(*ask, "--prompt", "One.", env_home=isolated_home)
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from tui_llm.chat.sessions import SessionLock\n"
         "with SessionLock(Path(sys.argv[1])):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(60)\n", str(session)],
        env={**os.environ, "TUI_LLM_HOME": str(isolated_home)}, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = run_cli(*ask, "--prompt", "Two.", env_home=isolated_home)
        assert second.returncode == 2
        assert f"in use by another tui-llm, pid {holder.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        holder.kill()
        holder.wait()
    third = run_cli(*ask, "--prompt", "Three.", env_home=isolated_home)
    assert third.returncode == 0, third.stderr
    import json

    texts = [t["text"] for t in json.loads(session.read_text(encoding="utf-8"))["turns"] if t["role"] == "user"]
    assert texts == ["One.", "Three."]


def test_a_session_longer_than_the_template_limit_continues(model_path, isolated_home, tmp_path):
    from test_conversation import history_past_the_template_limit

    from tui_llm.chat.sessions import load_session, save_session

    session = history_past_the_template_limit()
    path = save_session(session, tmp_path / "long.json")
    turns_before = len(session.turns)
    done = run_cli("chat", "--model", str(model_path), "--session", str(path), "--ctx", "512",
                   "--prompt", "What is the secret word?", "--max-tokens", "8",
                   env_home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "oldest turns" in done.stderr and "no longer sent to the model" in done.stderr
    after = load_session(path)
    assert after.turns[:turns_before] == session.turns
    assert [t.text for t in after.turns[turns_before:turns_before + 1]] == ["What is the secret word?"]

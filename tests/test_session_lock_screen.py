"""The TUI holds the lock of the session it shows, against real ``tui-llm chat`` processes.

The engine plays no part in who may write a session file, so the app runs
the scripted FakeRunner; the other writer is a real CLI process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tui_llm.app_factory import make_app
from tui_llm.chat.sessions import Session, SessionError, SessionLock, load_session, save_session
from tui_llm.config import AppConfig
from tui_llm.engine.sampler import SamplerSettings
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.dialogs.fields import FieldsDialog
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.sessions import SessionsScreen
from helpers import FakeRunner, wait_until


def config() -> AppConfig:
    return AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=16))


def saved_session(text: str = "Hello there.") -> Session:
    session = Session(mode="instruct", title="Locked one")
    session.add("user", text)
    session.add("assistant", "Hi.")
    save_session(session)
    return session


def cli(*args: str, home, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui_llm", *args], env={**os.environ, "TUI_LLM_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options,
    )


def lock_free(path) -> bool:
    try:
        with SessionLock(path):
            return True
    except SessionError:
        return False


def holder_of(path) -> str:
    lock_file = SessionLock(path)._lock_file
    return lock_file.read_text(encoding="utf-8").strip() if lock_file.exists() else ""


def notices(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def open_from_list(pilot, app) -> None:
    app.push_screen(SessionsScreen())
    await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
    await pilot.press("enter")


async def test_a_session_a_cli_process_is_writing_is_not_opened(model_path, isolated_home):
    session = saved_session()
    # `--prompt -` waits for stdin while it holds the session's lock.
    writer = cli("chat", "--model", str(model_path), "--session", str(session.path), "--prompt", "-",
                 "--max-tokens", "4", home=isolated_home, stdin=subprocess.PIPE)
    app = make_app(config=config(), runner=FakeRunner(["Mine."]))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: holder_of(session.path) == str(writer.pid))
            await open_from_list(pilot, app)
            await wait_until(pilot, lambda: "Session not opened" in " ".join(
                str(n.title) for n in app._notifications))
            assert f"in use by another tui-llm, pid {writer.pid}" in notices(app)
            assert isinstance(app.screen, SessionsScreen)
            assert not any(isinstance(screen, ChatScreen) for screen in app.screen_stack)

            out, err = await asyncio.to_thread(writer.communicate, "Go on.", 300)
            assert writer.returncode == 0, err
            await pilot.press("enter")  # free now: it opens, with the CLI's exchange in it
            await wait_until(pilot, lambda: isinstance(app.screen, (ChoiceDialog, ChatScreen)))
            if isinstance(app.screen, ChoiceDialog):  # offered the CLI's model: keep the one loaded
                await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
            assert [t.text for t in app.screen.session.turns][:3] == ["Hello there.", "Hi.", "Go on."]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


async def test_a_cli_process_cannot_write_the_session_the_tui_shows(model_path, isolated_home):
    session = saved_session()
    app = make_app(config=config(), runner=FakeRunner(["Mine."]))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_from_list(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        assert holder_of(session.path) == str(os.getpid())

        def second_writer() -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_path), "--session",
                 str(session.path), "--prompt", "Theirs.", "--max-tokens", "4"],
                env={**os.environ, "TUI_LLM_HOME": str(isolated_home)},
                capture_output=True, text=True, timeout=300,
            )

        refused = await asyncio.to_thread(second_writer)
        assert refused.returncode == 2
        assert f"in use by another tui-llm, pid {os.getpid()}" in refused.stderr
        assert "Traceback" not in refused.stderr
        await pilot.press(*"Ours.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(load_session(session.path).turns) == 4)
        assert [t.text for t in load_session(session.path).turns][2:] == ["Ours.", "Mine."]

        await pilot.press("ctrl+n")  # another session (nothing carried over): this one is let go
        await wait_until(pilot, lambda: isinstance(app.screen, FieldsDialog))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: lock_free(session.path))
        assert chat.session.path is None
        await pilot.press(*"Fresh.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.session.path is not None and not chat.generating
                         and chat.session.path.exists())
        fresh = chat.session.path
        await wait_until(pilot, lambda: not lock_free(fresh))  # the new file is held from its first save
        await pilot.press("ctrl+b")  # leaving the screen lets go
        await wait_until(pilot, lambda: not isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: lock_free(fresh))


async def test_quitting_the_app_lets_go_of_the_session(isolated_home):
    session = saved_session()
    app = make_app(config=config(), runner=FakeRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_from_list(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert not lock_free(session.path)
    assert lock_free(session.path)


async def test_a_session_this_app_already_holds_is_not_opened_twice(isolated_home):
    session = saved_session()
    app = make_app(config=config(), runner=FakeRunner())
    async with app.run_test(size=(80, 24)) as pilot:
        with SessionLock(session.path):
            await open_from_list(pilot, app)
            await wait_until(pilot, lambda: "already open in this tui-llm" in notices(app))
        assert isinstance(app.screen, SessionsScreen)

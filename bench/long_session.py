"""Open a saved session of 2,000 turns in the chat screen, then scroll it.

Writes a session file (alternating user / model turns of 1 to 12 lines),
then, in the headless app at 80x24 with the test model already loaded:
- "time to interactive": from reading the file (``load_session``) and pushing
  the chat screen, until the screen is up and a key typed into the prompt has
  been handled and repainted;
- scrolling the transcript a page at a time from the bottom to the very top
  (each step timed until repainted), and jumping to the top and back.

Target: time to interactive < 1 s.

Usage: python bench/long_session.py [--turns 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from _common import Figure, footer, header, median, percentile, show, test_model, use_temporary_home

WORDS = ("the keeper climbed stairs lamp sea night ship storm bottle message light rock "
         "gulls wind tide letter glass waves harbour shore").split()


def make_session(turns: int):
    from tui_llm.chat.sessions import Session

    chooser = random.Random(3)
    session = Session(mode="chat")
    for index in range(turns):
        lines = [" ".join(chooser.choices(WORDS, k=chooser.randint(4, 14))).capitalize() + "."
                 for _ in range(chooser.randint(1, 12 if index % 2 else 3))]
        session.add("assistant" if index % 2 else "user", "\n".join(lines))
    return session


async def repainted(widget) -> None:
    """Wait until ``widget`` has processed its messages and the screen has been refreshed."""
    done = asyncio.Event()
    widget.call_after_refresh(done.set)
    await done.wait()


async def scrolled(widget) -> None:
    """Scrolls are applied after the next refresh: wait for that, then for the repaint."""
    await repainted(widget)
    await repainted(widget)


async def main_async(args: argparse.Namespace) -> None:
    from textual import events
    from textual.widgets import Input

    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.chat.sessions import load_session, save_session
    from tui_llm.ui.screens.chat import ChatScreen
    from tui_llm.ui.widgets.transcript import Transcript

    path = save_session(make_session(args.turns))
    print(f"   session file: {args.turns} turns, {path.stat().st_size / 1024:.0f} KiB")
    runner = LlamaCppRunner()
    settings = LoadSettings(n_ctx=2048)
    await runner.load(test_model(), settings)
    app = make_app(config=AppConfig(load=settings), runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        session = load_session(path)
        loaded = time.perf_counter()
        screen = ChatScreen(runner, None, session)
        app.push_screen(screen)
        while not (screen.is_mounted and getattr(screen, "ready", False)):
            await asyncio.sleep(0.001)
        prompt = screen.query_one("#prompt", Input)
        await repainted(prompt)
        shown = time.perf_counter()
        app._driver.send_message(events.Key("x", "x"))
        while prompt.value != "x":
            await asyncio.sleep(0.001)
        await repainted(prompt)
        interactive = time.perf_counter()

        transcript = screen.query_one(Transcript)
        steps: list[float] = []
        top = None
        for _ in range(100_000):
            if transcript.scroll_y <= 0:
                top = time.perf_counter()
                break
            step = time.perf_counter()
            transcript.scroll_page_up(animate=False)
            await scrolled(transcript)
            steps.append(time.perf_counter() - step)
        to_top = (top or time.perf_counter()) - interactive
        first_turn = session.turns[0].text[:24]
        top_text_ok = first_turn in _visible_text(screen)
        jump = time.perf_counter()
        transcript.scroll_end(animate=False)
        await scrolled(transcript)
        to_end = time.perf_counter() - jump
        jump = time.perf_counter()
        transcript.scroll_home(animate=False)
        await scrolled(transcript)
        to_home = time.perf_counter() - jump
        home_ok = first_turn in _visible_text(screen)

    print(f"   the first turn is on screen after paging up: {top_text_ok}; after jumping home: {home_ok}")
    show([
        Figure("read the session file", loaded - start, "s"),
        Figure("push chat screen -> first paint", shown - loaded, "s"),
        Figure("time to interactive (file -> key handled)", interactive - start, "s", "< 1",
               interactive - start < 1),
        Figure(f"page up x{len(steps)}: per step p50", median(steps) * 1000, "ms"),
        Figure(f"page up x{len(steps)}: per step p95", percentile(steps, 0.95) * 1000, "ms", "< 50",
               percentile(steps, 0.95) < 0.05),
        Figure(f"page up x{len(steps)}: per step max", max(steps, default=0) * 1000, "ms"),
        Figure(f"page up x{len(steps)}: steps over 50 ms", float(sum(s > 0.05 for s in steps)), ""),
        Figure("bottom -> top, a page at a time", to_top, "s"),
        Figure("jump to the end", to_end * 1000, "ms"),
        Figure("jump to the top", to_home * 1000, "ms"),
    ])


def _visible_text(screen) -> str:
    return "\n".join(
        "".join(segment.text for segment in strip) for strip in screen._compositor.render_strips()
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    use_temporary_home()
    header("long_session: open and scroll a saved session",
           f"python bench/long_session.py --turns {args.turns}")
    asyncio.run(main_async(args))
    footer()


if __name__ == "__main__":
    main()

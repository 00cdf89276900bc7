"""Does the app stay responsive while a reply streams, and does it show every token?

The real app runs headless at 80x24 (``App.run_test``) on the chat screen.
A thread plays the terminal's input thread: it sends key presses ("x") to the
app while a reply streams, one at a time, 40-120 ms apart, and times each one
from the send to
- "handled": the prompt Input's value has the new character, and
- "repainted": the refresh after that change has been done
  (headless, so the last step, writing escape codes to a terminal, is not timed).

Part 1, real engine: the chat screen streams from ``LlamaCppRunner`` on the
test model at full speed (the reply is restarted when it ends).
Part 2, SCRIPTED RUNNER (UI throughput only, not an engine figure): a runner
that emits numbered tokens from its own thread at 100, 300 and 1000 tokens/s,
to check that the screen shows every token, how late, and how often it
redraws (updates are batched, not one layout refresh per token).

Targets: key press -> effect p95 < 50 ms; every token shown at 100+ tokens/s.

Usage: python bench/ui_latency.py [--keys 40] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from typing import AsyncIterator

from _common import (
    STORY_PROMPT,
    Figure,
    ReplyWatch,
    footer,
    header,
    median,
    percentile,
    show,
    submit,
    test_model,
    use_temporary_home,
)
from helpers import FakeRunner

from tui_llm.engine.contract import GenerationStats


class KeyProbe:
    """Sends keys from a thread, as a terminal driver does, and times their effect."""

    def __init__(self, app, prompt) -> None:
        self.app = app
        self.prompt = prompt
        self.handled: list[float] = []
        self.painted: list[float] = []
        self.sent_at = 0.0
        self.waiting = False
        self.arrived = threading.Event()
        app.screen.watch(prompt, "value", self._changed, init=False)

    def _changed(self) -> None:
        if not self.waiting:
            return
        handled = time.perf_counter() - self.sent_at
        self.prompt.call_after_refresh(self._painted, handled)

    def _painted(self, handled: float) -> None:
        if not self.waiting:
            return
        self.waiting = False
        self.handled.append(handled)
        self.painted.append(time.perf_counter() - self.sent_at)
        self.arrived.set()

    def send(self, count: int, keep_going: threading.Event) -> None:
        from textual import events

        chooser = random.Random(7)
        for _ in range(count):
            if not keep_going.is_set():
                return
            time.sleep(chooser.uniform(0.04, 0.12))
            self.arrived.clear()
            self.sent_at = time.perf_counter()
            self.waiting = True
            self.app._driver.send_message(events.Key("x", "x"))
            if not self.arrived.wait(5):
                print("   a key press had no effect within 5 s")
                self.waiting = False


async def probe_keys(app, screen, count: int, restart) -> tuple[list[float], list[float]]:
    """Press ``count`` keys while ``restart`` keeps a reply streaming."""
    from textual.widgets import Input

    prompt = screen.query_one("#prompt", Input)
    probe = KeyProbe(app, prompt)
    keep_going = threading.Event()
    keep_going.set()
    sender = threading.Thread(target=probe.send, args=(count, keep_going), daemon=True)
    sender.start()
    while sender.is_alive():
        if not screen.generating:
            await restart()
        await asyncio.sleep(0.02)
    keep_going.clear()
    prompt.value = ""
    return probe.handled, probe.painted


class ScriptedRunner(FakeRunner):
    """SCRIPTED, for UI throughput only: numbered tokens from a thread at a fixed rate."""

    def __init__(self) -> None:
        super().__init__(n_ctx=0, model_name="scripted")
        self.rate = 100.0
        self.seconds = 3.0
        self.produced: list[tuple[float, str]] = []

    async def stream(self, request, sampler=None, cancel=None) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._cancel = stop = cancel or threading.Event()
        self.produced = []
        count = int(self.rate * self.seconds)

        def produce() -> None:
            start = time.perf_counter()
            for index in range(count):
                if stop.is_set():
                    break
                delay = start + index / self.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                piece = f" t{index}"
                self.produced.append((time.perf_counter(), piece))
                loop.call_soon_threadsafe(queue.put_nowait, piece)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        started = time.perf_counter()
        threading.Thread(target=produce, daemon=True).start()
        tokens = 0
        while (piece := await queue.get()) is not None:
            tokens += 1
            yield piece
        elapsed = time.perf_counter() - started
        self.last_stats = GenerationStats(completion_tokens=tokens, elapsed=elapsed,
                                          time_to_first_token=1 / self.rate)


async def part_real(args) -> list[Figure]:
    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.sampler import SamplerSettings

    runner = LlamaCppRunner()
    settings = LoadSettings(n_ctx=2048)
    await runner.load(test_model(), settings)
    config = AppConfig(sampler=SamplerSettings(temperature=0.0, max_tokens=600, seed=1), load=settings)
    app = make_app(config=config, runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        while not getattr(app.screen, "ready", False):
            await pilot.pause(0.05)
        screen = app.screen
        idle_handled, idle_painted = await probe_keys(app, screen, 15, restart=_nothing)
        await submit(screen, STORY_PROMPT)
        rates: list[float] = []

        async def restart() -> None:
            if runner.last_stats.tokens_per_second:
                rates.append(runner.last_stats.tokens_per_second)
            screen.action_regenerate()
            while not screen.generating:
                await asyncio.sleep(0.005)

        handled, painted = await probe_keys(app, screen, args.keys, restart)
        screen.action_stop()
        while screen.generating:
            await asyncio.sleep(0.02)
        if runner.last_stats.tokens_per_second:
            rates.append(runner.last_stats.tokens_per_second)
    print(f"   real engine: {len(painted)} key presses while streaming at "
          f"{median(rates):.1f} tok/s (runner's own figure, median of {len(rates)} replies)")
    return [
        Figure("idle app: key -> repainted p50", median(idle_painted) * 1000, "ms"),
        Figure("idle app: key -> repainted p95", percentile(idle_painted, 0.95) * 1000, "ms"),
        Figure("streaming (real engine): key -> handled p50", median(handled) * 1000, "ms"),
        Figure("streaming (real engine): key -> handled p95", percentile(handled, 0.95) * 1000, "ms"),
        Figure("streaming (real engine): key -> repainted p50", median(painted) * 1000, "ms"),
        Figure("streaming (real engine): key -> repainted p95", percentile(painted, 0.95) * 1000,
               "ms", "< 50", percentile(painted, 0.95) < 0.050),
    ]


async def _nothing() -> None:
    return None


async def part_scripted(args) -> list[Figure]:
    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig

    runner = ScriptedRunner()
    runner.seconds = args.seconds
    watch = ReplyWatch()
    figures: list[Figure] = []
    app = make_app(config=AppConfig(), runner=runner, start="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        while not getattr(app.screen, "ready", False):
            await pilot.pause(0.05)
        screen = app.screen
        for rate in (100, 300, 1000):
            runner.rate = rate
            watch.updates.clear()
            await submit(screen, "go")
            handled, painted = await probe_keys(app, screen, int(args.seconds * 8), _nothing)
            while screen.generating:
                await asyncio.sleep(0.02)
            await pilot.pause()
            shown = screen._views[-1].text if screen._views else ""
            expected = "".join(piece for _, piece in runner.produced).strip()
            every = shown.strip() == expected
            lags = display_lags(runner.produced, watch.updates)
            streaming = [u for u in watch.updates if u[1]]
            span = streaming[-1][0] - streaming[0][0] if len(streaming) > 1 else 0.0
            updates_per_s = (len(streaming) - 1) / span if span else 0.0
            label = f"SCRIPTED {rate} tok/s"
            print(f"   {label}: {len(runner.produced)} tokens produced, every one shown in order: {every}; "
                  f"{len(streaming)} screen updates ({len(runner.produced) / max(len(streaming), 1):.1f} tokens each)")
            figures += [
                Figure(f"{label}: every token shown", float(every), "yes=1", "1", every),
                Figure(f"{label}: token -> on screen p50", median(lags) * 1000, "ms"),
                Figure(f"{label}: token -> on screen p95", percentile(lags, 0.95) * 1000, "ms", "< 100",
                       percentile(lags, 0.95) < 0.1),
                Figure(f"{label}: reply updates per second", updates_per_s, "/s"),
                Figure(f"{label}: key -> repainted p95", percentile(painted, 0.95) * 1000, "ms", "< 50",
                       percentile(painted, 0.95) < 0.050),
            ]
            screen.action_new_chat()
            await pilot.pause()
    return figures


def display_lags(produced: list[tuple[float, str]], updates: list[tuple[float, str]]) -> list[float]:
    """For each token: seconds from its production to the first reply update that includes it."""
    lags: list[float] = []
    position = 0
    update_index = 0
    for made_at, piece in produced:
        position += len(piece)
        while update_index < len(updates) and len(updates[update_index][1]) < position:
            update_index += 1
        if update_index == len(updates):
            break
        lags.append(updates[update_index][0] - made_at)
    return lags


async def main_async(args) -> None:
    figures = await part_real(args)
    figures += await part_scripted(args)
    show(figures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    use_temporary_home()
    header("ui_latency: key presses and token display while the chat screen streams",
           f"python bench/ui_latency.py --keys {args.keys} --seconds {args.seconds}")
    asyncio.run(main_async(args))
    footer()


if __name__ == "__main__":
    main()

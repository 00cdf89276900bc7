"""What drawing a streamed reply as Markdown costs, beside drawing it as plain text.

A reply view in a transcript at 80x24 (headless, ``App.run_test``) is given a
reply that grows the way the chat screen's 20 Hz flush grows it, and each
update is timed until it is painted. The same reply is drawn as plain text
(the view story mode uses) and as Markdown (chat and instruct modes). Times are
the app thread's own CPU time (``time.thread_time``), so other work on a shared
machine inflates them much less than wall-clock times. It also counts how many
updates laid the screen out again instead of only repainting the view: the
streaming path repaints unless the reply grew a line (Markdown replies have
more, shorter lines, so this count is about the text, not the drawing).

Target: Markdown costs no more than 1.5x plain per update.

Usage: python bench/markdown_stream.py [--tokens 4000] [--per-update 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import Figure, footer, header, median, percentile, show, use_temporary_home

# Roughly what a model writes in instruct mode: prose, lists, code.
PARAGRAPH = ("The keeper climbed the **stairs** to light the lamp, as he had done for "
             "*forty years*, and the `lamp` caught at once.\n")
BLOCK = (PARAGRAPH + "\n- the wick was trimmed\n- the glass was clean\n  - inside and out\n\n"
         "```python\ndef light(lamp):\n    lamp.wick.trim()\n    return lamp.on()  # [at dusk]\n```\n\n")


def pieces(tokens: int) -> list[str]:
    source = ""
    while len(source.split()) < tokens:
        source += BLOCK
    words = source.split(" ")
    return [word + " " for word in words[:tokens]]


async def stream(markdown: bool, tokens: int, per_update: int) -> tuple[list[float], int, int]:
    """(CPU seconds per update, updates, layouts) for one reply streamed into one view."""
    from textual.app import App

    from tui_llm.ui.widgets.session_turn import SessionTurnView, session_content
    from tui_llm.ui.widgets.transcript import Transcript, TranscriptEntry

    layouts = 0
    original_same_height = SessionTurnView._same_height

    def counting_same_height(view) -> bool:  # noqa: ANN001
        nonlocal layouts
        same = original_same_height(view)
        layouts += not same
        return same

    class Bench(App):
        def compose(self):  # noqa: ANN202
            yield Transcript()

    def view(entry: TranscriptEntry) -> SessionTurnView:
        return SessionTurnView(entry.role, entry.text, entry.label or "", markdown=entry.has_class("markdown"))

    times: list[float] = []
    words = pieces(tokens)
    app = Bench()
    async with app.run_test(size=(80, 24)) as pilot:
        SessionTurnView._same_height = counting_same_height  # type: ignore[method-assign]
        try:
            transcript = app.query_one(Transcript)
            entry = TranscriptEntry("assistant", "", "Model", view, session_content)
            entry.set_class(markdown, "markdown")
            transcript.append(entry)
            await pilot.pause()
            text = ""
            for start in range(0, len(words), per_update):
                text += "".join(words[start:start + per_update])
                began = time.thread_time()
                entry.set_text(text)
                transcript.follow()
                await pilot.pause()
                times.append(time.thread_time() - began)
        finally:
            SessionTurnView._same_height = original_same_height  # type: ignore[method-assign]
    return times, len(times), layouts


async def main_async(args) -> None:
    figures: list[Figure] = []
    results = {}
    for markdown in (False, True):
        results[markdown] = await stream(markdown, args.tokens, args.per_update)
    for markdown, (times, updates, layouts) in results.items():
        label = "markdown" if markdown else "plain"
        figures += [
            Figure(f"{label}: CPU per update p50", median(times) * 1000, "ms"),
            Figure(f"{label}: CPU per update p95", percentile(times, 0.95) * 1000, "ms"),
            Figure(f"{label}: updates that laid out the screen", layouts, f"of {updates}"),
        ]
    plain, marked = results[False], results[True]
    ratio = median(marked[0]) / median(plain[0])
    figures.append(Figure("markdown / plain, CPU per update (p50)", ratio, "x", "<= 1.5", ratio <= 1.5))
    show(figures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--per-update", type=int, default=3)
    args = parser.parse_args()
    use_temporary_home()
    header("markdown_stream: drawing a streamed reply as Markdown vs plain text",
           f"python bench/markdown_stream.py --tokens {args.tokens} --per-update {args.per_update}")
    asyncio.run(main_async(args))
    footer()


if __name__ == "__main__":
    main()

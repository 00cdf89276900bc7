"""``tui-llm chat`` options for playing a character: card, lorebooks, note placement, preview."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_llm.chat.conversation import Conversation
    from tui_llm.chat.sessions import Session


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--card", type=Path, default=None, metavar="FILE",
                        help="play a character card (Tavern V1/V2/V3, PNG or JSON): chat mode, "
                        "its persona, scenario, greeting and lore")
    parser.add_argument("--card-greeting", type=int, default=0, metavar="N",
                        help="with --card: 0 for its first message, 1... for an alternate greeting")
    parser.add_argument("--user-name", default=None, metavar="NAME",
                        help="your name in the story: what {{user}} becomes (default User)")
    parser.add_argument("--lore", type=Path, action="append", default=[], metavar="FILE",
                        help="attach a lorebook (SillyTavern World Info JSON); repeatable; "
                        "the session keeps it")
    parser.add_argument("--lore-budget", type=int, default=None, metavar="TOKENS",
                        help="the most tokens of lore sent (default: a quarter of the prompt)")
    parser.add_argument("--authors-note-at", default=None, metavar="WHERE",
                        help="where the Author's note goes: top, bottom, latest (the default: "
                        "in your latest message) or N messages from the end")
    parser.add_argument("--show-prompt", action="store_true",
                        help="print the exact prompt the model would read (with --json: also "
                        "the sampler, template and lore entries used) and exit without generating")


def apply_play_arguments(args: argparse.Namespace, session: "Session") -> None:
    """Card, lore and note options onto the session; bad input raises a ValueError subclass."""
    from tui_llm.chat.cards import apply_card, load_card
    from tui_llm.chat.lore import load_lorebook
    from tui_llm.chat.play import parse_note_place

    if args.user_name is not None:
        session.play = session.play.changed(user_name=args.user_name.strip() or "User")
    if args.card is not None:
        apply_card(session, load_card(args.card), args.card_greeting, args.card.name)
    for path in args.lore:
        session.play = session.play.with_lorebook(load_lorebook(path))
    if args.lore_budget is not None:
        session.play = session.play.changed(lore_budget=args.lore_budget)
    if args.authors_note_at is not None:
        position, depth = parse_note_place(args.authors_note_at)
        session.play = session.play.changed(note_position=position, note_depth=depth)


async def show_prompt(conversation: "Conversation", prompt: str, as_action: bool, as_json: bool) -> None:
    from tui_llm.chat.preview import next_prompt

    preview = await next_prompt(conversation, prompt, as_action)
    if preview.notice:
        print(f"tui-llm: {preview.notice}", file=sys.stderr)
    if as_json:
        print(json.dumps(preview.to_dict(), ensure_ascii=False))
        return
    sys.stdout.write(preview.prompt)
    if sys.stdout.isatty() and not preview.prompt.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()

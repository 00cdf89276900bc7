"""``tui-llm chat``: one reply to stdout, for scripts, pipes and SSH."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

NAME = "chat"
HELP = "send one prompt to a model and print the reply"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="GGUF model file")
    parser.add_argument("--prompt", required=True, help="the message to send ('-' reads stdin)")
    parser.add_argument("--max-tokens", type=int, default=None, help="reply length limit")
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed for repeatable replies")
    parser.add_argument("--system", default=None, help="a system prompt")


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.config import load_config
    from tui_llm.runner import LlamaCppRunner, RunnerError

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    sampler = config.sampler
    try:
        if args.max_tokens is not None:
            sampler = sampler.with_changes(max_tokens=args.max_tokens)
        if args.seed is not None:
            sampler = sampler.with_changes(seed=args.seed)
        load = config.load.with_changes(n_ctx=args.ctx) if args.ctx else config.load
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": prompt})

    async def reply() -> None:
        runner = LlamaCppRunner()
        try:
            await runner.load(args.model.expanduser(), load)
            async for piece in runner.stream(messages, sampler):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        finally:
            await runner.close()

    try:
        asyncio.run(reply())
    except RunnerError as exc:
        raise UserError(str(exc)) from exc
    return 0

"""``tui-llm chat``: one reply to stdout, for scripts, pipes and SSH.

With ``--session FILE`` the turn is appended to that session (created if
missing) and saved, so the next call continues the same chat or story.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui_llm.commands._load_args import add_rope_arguments, rope_changes
from tui_llm.commands._play_args import add_play_arguments, apply_play_arguments, show_prompt

if TYPE_CHECKING:
    from tui_llm.chat.conversation import ReplyEnded
    from tui_llm.chat.sessions import Session
    from tui_llm.config import AppConfig
    from tui_llm.engine.contract import ProgressCallback, Runner
    from tui_llm.engine.model_sampling import SourcedSampler
    from tui_llm.engine.token_probs import TokenProbs

from tui_llm.engine.contract import THINKING_CHOICES

NAME = "chat"
HELP = "send one prompt to a model and print the reply"
MODE_CHOICES = ("chat", "instruct", "story", "adventure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="GGUF model file (with --endpoint: which of the server's models)")
    parser.add_argument("--endpoint", default=None, metavar="URL",
                        help="use an OpenAI-compatible server: its URL or an [endpoints] name "
                        "from config.toml")
    parser.add_argument(
        "--prompt", default=None,
        help="the message, story text or action to send ('-' reads stdin; in story and "
        "adventure mode an empty prompt asks the model to go on)",
    )
    parser.add_argument("--regenerate", action="store_true",
                        help="with --session, instead of --prompt: write the last reply again, "
                        "kept as one more version of it, and print it")
    parser.add_argument(
        "--mode", choices=MODE_CHOICES, default=None,
        help="chat, instruct (default for a new session), story or adventure",
    )
    parser.add_argument("--session", type=Path, default=None,
                        help="session file to continue and save into (created if missing)")
    parser.add_argument("--max-tokens", type=int, default=None, help="reply length limit")
    parser.add_argument("--ctx", type=int, default=None,
                        help="context size in tokens (past the model's trained length: see --rope-scaling)")
    add_rope_arguments(parser)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for writing the reply (default: every physical core)")
    parser.add_argument("--prompt-lookup", action="store_true", default=None,
                        help="guess the next tokens from earlier text and check them in one batch: "
                        "faster when the reply repeats the prompt (copies, edits), slower for free writing")
    parser.add_argument("--seed", type=int, default=None,
                        help="sampling seed for repeatable replies")
    parser.add_argument("--system", default=None, help="a system prompt (chat: the persona)")
    parser.add_argument("--character", default=None, help="chat mode: the character's name")
    parser.add_argument("--greeting", default=None, help="chat mode: the character's first line")
    parser.add_argument("--memory", default=None, help="text always kept at the top of the context")
    parser.add_argument("--authors-note", default=None,
                        help="a note inserted a few lines before the end of the context")
    parser.add_argument("--prose", action="store_true",
                        help="adventure mode: send the prompt as story text, not as an action")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: the reply, its reasoning and its timings "
                        "(ttft_s from the model being loaded to the first token, decode_tok_s, "
                        "prompt tokens read)")
    parser.add_argument("--force", action="store_true",
                        help="load the model even if it looks too large for this machine's memory")
    parser.add_argument("--game-preamble", action="store_true",
                        help="adventure mode: start the prompt with a game-mode preamble")
    parser.add_argument("--thinking", choices=THINKING_CHOICES, default=None,
                        help="a reasoning model: think or not, and how hard, where its template "
                        "allows (default: the model's setting in config.toml, else its own)")
    parser.add_argument("--logprobs", type=int, default=0, metavar="N",
                        help="with --json: each reply token's N likeliest alternatives (1-20)")
    parser.add_argument("--show-thinking", action="store_true",
                        help="print the model's thought on stderr (stdout gets only the answer)")
    add_play_arguments(parser)


def _make_runner(args: argparse.Namespace, config: "AppConfig"):  # noqa: ANN202 - the runner module loads lazily
    if args.endpoint:
        from tui_llm.engine.endpoints import resolve_endpoint
        from tui_llm.engine.remote import RemoteRunner

        from tui_llm.cli import UserError
        from tui_llm.engine.endpoints import EndpointError

        model = str(args.model) if args.model else ""
        try:
            return RemoteRunner(resolve_endpoint(args.endpoint, config.endpoints, model=model))
        except EndpointError as exc:
            raise UserError(f"--endpoint: {exc}") from exc
    from tui_llm.app_factory import kv_state_cache
    from tui_llm.engine.llama import LlamaCppRunner

    return LlamaCppRunner(kv_state_cache(config))


def _plan_and_judge(config: "AppConfig", path: Path, changes: dict, force: bool):  # noqa: ANN202
    from tui_llm.machine.guard import load_refusal
    from tui_llm.machine.hardware import probe
    from tui_llm.machine.plan import plan_for_file

    hardware = probe(vram_override_gb=config.vram_gb)
    plan = plan_for_file(config, path, hardware, headless=True, **changes)
    return plan, None if force else load_refusal(path, plan.settings, hardware)


def _open_session(args: argparse.Namespace):  # noqa: ANN202
    from tui_llm.chat.sessions import DEFAULT_MODE, Session, load_session

    if args.session is not None and args.session.expanduser().exists():
        session = load_session(args.session)
        if args.mode:
            session.set_mode(args.mode)
    else:
        session = Session(mode=args.mode or DEFAULT_MODE)
        session.path = args.session.expanduser() if args.session else None
    apply_play_arguments(args, session)
    for option, attribute in (
        ("system", "system_prompt"), ("character", "character"), ("greeting", "greeting"),
        ("memory", "memory"), ("authors_note", "authors_note"),
    ):
        value = getattr(args, option)
        if value is not None:
            setattr(session, attribute, value)
    if args.game_preamble:
        session.game_preamble = True
    session.start_with_greeting()
    return session


def run(args: argparse.Namespace) -> int:
    # Startup (imports, the model's load) makes only long-lived objects: the
    # collector's passes over them find nothing and cost ~30 ms.
    gc.disable()
    try:
        return _run_locked(args)
    finally:
        _started()


def _started() -> None:
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _run_locked(args: argparse.Namespace) -> int:
    from tui_llm.chat.sessions import SessionError, SessionLock
    from tui_llm.cli import UserError

    if args.session is None:
        return _run(args)
    try:
        with SessionLock(args.session):
            return _run(args)
    except SessionError as exc:
        raise UserError(str(exc)) from exc


def _open_session_now(args: argparse.Namespace) -> "Session":
    """The session, with the conversation's modules imported: done beside the model's
    load (which runs in llama.cpp, mostly without Python's lock), not before it."""
    from importlib import import_module

    from tui_llm.chat.sessions import SessionError
    from tui_llm.cli import UserError

    import_module("tui_llm.chat.conversation")
    try:
        return _open_session(args)
    except (ValueError, SessionError) as exc:
        raise UserError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.config import load_config
    from tui_llm.safe_text import visible

    if args.model is None and not args.endpoint:
        raise UserError("give --model FILE, or --endpoint URL for a model on a server")
    if args.regenerate and (args.session is None or args.prompt is not None):
        raise UserError("--regenerate writes the last reply of a --session again, and takes no --prompt")
    if not args.regenerate and args.prompt is None:
        raise UserError("give --prompt TEXT (or --regenerate with --session)")
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    sampler = config.sampler_for(args.model)
    try:
        if args.max_tokens is not None:
            sampler = sampler.with_changes(max_tokens=args.max_tokens)
        if args.seed is not None:
            sampler = sampler.with_changes(seed=args.seed)
        if not 0 <= args.logprobs <= 20:
            raise ValueError(f"--logprobs must be between 0 and 20, got {args.logprobs}")
        load_changes = ({"n_ctx": args.ctx} if args.ctx else {}) | rope_changes(args)
        if args.threads is not None:
            load_changes["n_threads"] = args.threads
        if args.prompt_lookup:
            load_changes["prompt_lookup"] = True
        config.load_for(args.model).with_changes(**load_changes)  # a bad --ctx is a usage error
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    failure: list[str] = []
    wrote: list[str] = []
    ended: list["ReplyEnded"] = []
    thought: list[str] = []
    sourced: list["SourcedSampler"] = []
    tokens: list["TokenProbs"] = []

    out_tty, err_tty = sys.stdout.isatty(), sys.stderr.isatty()

    def show(event: object) -> None:
        from tui_llm.chat.events import Notice, ReplyEnded, ReplyText, ReplyThinking

        if isinstance(event, ReplyThinking):
            if args.show_thinking and not args.json:
                sys.stderr.write(event.piece)
                sys.stderr.flush()
            thought.append(event.piece)
        elif isinstance(event, ReplyText):
            if thought and not wrote and args.show_thinking and not args.json:
                sys.stderr.write("\n")
            wrote.append(event.piece)
            if not args.json:
                sys.stdout.write(visible(event.piece) if out_tty else event.piece)
                sys.stdout.flush()
        elif isinstance(event, Notice):
            print(f"tui-llm: {visible(event.text) if err_tty else event.text}", file=sys.stderr)
        elif isinstance(event, ReplyEnded):
            ended.append(event)
            if wrote and not args.json:
                sys.stdout.write("\n")
            if event.error:
                failure.append(event.error)

    async def load(runner: "Runner", on_progress: "ProgressCallback") -> None:
        if not runner.capabilities.loads_files:
            await runner.load(str(args.model) if args.model else None, on_progress=on_progress)
            return
        path = args.model.expanduser()
        plan, refusal = await asyncio.to_thread(_plan_and_judge, config, path, load_changes, args.force)
        if refusal:
            raise UserError(f"{refusal} Run again with --force to load it anyway.")
        if plan.rope_note:
            print(f"tui-llm: {plan.rope_note}", file=sys.stderr)
        await runner.load(path, plan.settings, plan.template, on_progress=on_progress)

    async def reply() -> None:
        runner = _make_runner(args, config)
        opening: list[asyncio.Future] = []

        def open_session() -> None:
            if not opening:
                opening.append(asyncio.ensure_future(asyncio.to_thread(_open_session_now, args)))

        def on_progress(_stage: str, fraction: float) -> None:
            # From the weights on, llama.cpp works without Python's lock: the session's
            # file and the conversation's imports then cost no time of their own.
            if fraction >= 0.2:
                open_session()

        try:
            try:
                loaded = await load(runner, on_progress)
            except Exception as exc:
                loaded = exc
            open_session()
            opened = (await asyncio.gather(opening[0], return_exceptions=True))[0]
            _started()
            for outcome in (opened, loaded):
                if isinstance(outcome, BaseException):
                    raise outcome
            from tui_llm.chat.conversation import Conversation, NothingToDo  # imported by now
            from tui_llm.chat.sessions import save_session
            session = opened
            metadata = runner.info.metadata if runner.info else None
            sourced.append(config.reply_sampler(args.model, metadata, current=sampler))
            for problem in sourced[0].problems:
                print(f"tui-llm: {problem}", file=sys.stderr)
            runner.want_token_probs(args.logprobs)
            conversation = Conversation(
                runner, session, lambda: sourced[0].settings,
                save=save_session if args.session is not None else None,
                thinking=args.thinking or config.overrides_for(args.model).thinking or "",
            )
            conversation.subscribe(show)
            if args.show_prompt:
                await show_prompt(conversation, prompt, not args.prose, args.json)
                return
            try:
                if args.regenerate:
                    pending = conversation.regenerate(from_edit=False)
                else:
                    pending = conversation.send(prompt, as_action=not args.prose)
            except NothingToDo as exc:
                raise UserError(str(exc)) from exc
            await pending
            tokens.append(runner.last_tokens)
        finally:
            await runner.close()

    try:
        asyncio.run(reply())
    except Exception as exc:
        if not isinstance(exc, _reply_errors()):
            raise
        raise UserError(str(exc)) from exc
    if failure:
        raise UserError(failure[0])
    if args.json and ended:
        result = _json_result(ended[-1], "".join(wrote), "".join(thought))
        if sourced:
            result["sampler"] = sourced[0].settings.to_dict()
            result["sampler_sources"] = sourced[0].sources
        if args.logprobs and tokens:
            result["logprobs"] = tokens[0].to_list(args.logprobs) or None
            if not tokens[0].tokens:
                result["logprobs_unavailable"] = tokens[0].unavailable
        print(json.dumps(result, ensure_ascii=False))
    return 0


def _reply_errors() -> tuple[type[Exception], ...]:
    """What stops a reply with a message: an engine, session, context or template that cannot go on."""
    from tui_llm.chat.context import ContextOverflowError
    from tui_llm.chat.sessions import SessionError
    from tui_llm.engine.contract import RunnerError
    from tui_llm.prompts.sandbox import TemplateRenderError

    return (RunnerError, SessionError, ContextOverflowError, TemplateRenderError)


def _json_result(ended: "ReplyEnded", wrote: str, thought: str) -> dict[str, object]:
    """What ``--json`` prints: the answer, the thought beside it, and the reply's figures."""
    turn, stats = ended.turn, ended.stats
    return {
        "reply": turn.text if turn else wrote,
        "reasoning": turn.reasoning if turn else thought.strip(),
        "reasoning_s": round(turn.reasoning_s, 3) if turn else 0.0,
        "reasoning_tokens": turn.reasoning_tokens if turn else 0,
        "ttft_s": round(stats.time_to_first_token, 4),
        "decode_tok_s": round(stats.tokens_per_second, 2),
        "prompt_tokens": stats.prompt_tokens,
        "evaluated_prompt_tokens": stats.evaluated_prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "finish_reason": stats.finish_reason,
        "drafted_tokens": stats.drafted_tokens,
        "draft_kept_tokens": stats.draft_kept_tokens,
    }

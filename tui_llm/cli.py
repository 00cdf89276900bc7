"""Command line: ``tui-llm`` opens the app; subcommands do one job and exit.

Subcommands live in ``tui_llm/commands/``: each module there defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Heavy imports stay inside ``run`` so ``tui-llm --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable

from tui_llm import __version__, commands
from tui_llm.safe_text import visible

if TYPE_CHECKING:
    from tui_llm.ui.app import TuiLlmApp

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def _command_modules(argv: list[str] | None = None) -> list[ModuleType]:
    """Every subcommand's module, or only the one ``argv`` names (a module is named as its command)."""
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_"))
    named = [token for token in argv or () if not token.startswith("-")]
    if named and named[0] in names:
        names = [named[0]]  # `tui-llm chat ...` need not import the other six
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def build_parser(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="tui-llm",
        description="Find, download and chat with local LLMs that fit this machine.",
    )
    parser.add_argument("--version", action="version", version=f"tui-llm {__version__}")
    parser.add_argument("--model", type=Path,
                        help="open a chat with this GGUF file (with --endpoint: the server's model)")
    parser.add_argument("--endpoint", metavar="URL",
                        help="chat with a model on an OpenAI-compatible server (llama.cpp, "
                        "KoboldCpp, Ollama, vLLM): its URL or an [endpoints] name from config.toml")
    parser.add_argument(
        "--starter", action="store_true",
        help="get the small starter model (SmolLM2-135M, ~100 MB) and chat with it",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, ModuleType] = {}
    for module in _command_modules(argv):
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        handlers[module.NAME] = module
    return parser, handlers


def run_app(args: argparse.Namespace) -> int:
    from tui_llm.app_factory import make_app

    if args.endpoint:
        return run_remote_app(args)
    model = args.model.expanduser() if args.model else None
    if model is not None:
        from tui_llm.engine.contract import ModelLoadError
        from tui_llm.engine.llama import check_model_file

        try:
            check_model_file(model)
        except ModelLoadError as exc:
            raise UserError(str(exc)) from None
    return run_tui(lambda: make_app(model_path=model, start="starter" if args.starter else "home"))


def run_remote_app(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.app_factory import make_app
    from tui_llm.config import load_config
    from tui_llm.engine.endpoints import EndpointError, resolve_endpoint
    from tui_llm.engine.remote import RemoteRunner

    config = load_config(locations.config_file())
    try:
        endpoint = resolve_endpoint(args.endpoint, config.endpoints, str(args.model or ""))
    except EndpointError as exc:
        raise UserError(f"--endpoint: {exc}") from exc
    return run_tui(lambda: make_app(config=config, runner=RemoteRunner(endpoint), start="chat"))


def run_tui(build: "Callable[[], TuiLlmApp]") -> int:
    """Run the app in a supervised child, so a crash of the engine leaves a usable terminal."""
    from tui_llm import supervisor

    if supervisor.wanted():
        code = supervisor.run_supervised()
        if code is not None:
            return code
    build().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        if args.command:
            return int(handlers[args.command].run(args) or 0)
        return run_app(args)
    except UserError as exc:
        print(f"tui-llm: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tui-llm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`tui-llm models | head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

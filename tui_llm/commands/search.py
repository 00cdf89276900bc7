"""``tui-llm search``: GGUF repos on the hub, and a repo's files with their fit and speed here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

NAME = "search"
HELP = "search the Hugging Face hub for GGUF models; --files lists a repo's files with fit and speed"

EXIT_HUB = 3
UNREACHABLE_HINT = ("Set HF_ENDPOINT to a mirror of the hub, or copy a .gguf file into the models "
                    "folder ({models}) and run tui-llm models.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="words in the repo name (with --files: the repo, ORG/REPO)")
    parser.add_argument("--files", action="store_true", help="list the GGUF files of the repo QUERY")
    parser.add_argument("--exact", action="store_true",
                        help="with --files: read each file's header from the hub (a few MB each) "
                        "for an exact fit, instead of judging by size")
    parser.add_argument("--limit", type=int, default=20, help="at most this many repos (1-100, default 20)")
    parser.add_argument("--sort", default="downloads", choices=("downloads", "likes", "updated"))
    parser.add_argument("--ctx", type=int, default=4096, help="context to judge fit at (default 4096)")
    parser.add_argument("--vram-gb", type=float, default=None, metavar="GB",
                        help="VRAM to assume for a GPU that NVML cannot see (0: ignore GPUs)")
    parser.add_argument("--json", action="store_true", help="print JSON (sizes in bytes)")


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.hub import search
    from tui_llm.hub.errors import DownloadError, HubUnreachable, RepoUnavailable

    if not args.query.strip():
        raise UserError("give some words to search for")
    if not 1 <= args.limit <= search.MAX_LIMIT:
        raise UserError(f"--limit must be between 1 and {search.MAX_LIMIT}, got {args.limit}")
    if not 256 <= args.ctx <= 1_048_576:
        raise UserError(f"--ctx must be between 256 and 1,048,576 tokens, got {args.ctx:,}")
    if args.vram_gb is not None and not 0 <= args.vram_gb <= 100_000:
        raise UserError(f"--vram-gb must be between 0 and 100000, got {args.vram_gb:g}")
    try:
        if args.files:
            return _files(args)
        hits = search.search_repos(args.query, sort=args.sort, limit=args.limit)
    except RepoUnavailable as exc:
        raise UserError(str(exc)) from None
    except HubUnreachable as exc:
        print(f"tui-llm: {exc}", file=sys.stderr)
        print(UNREACHABLE_HINT.format(models=locations.models_dir()), file=sys.stderr)
        return EXIT_HUB
    except DownloadError as exc:
        print(f"tui-llm: {exc}", file=sys.stderr)
        return EXIT_HUB
    if args.json:
        print(json.dumps({"query": args.query, "sort": args.sort,
                          "repos": [hit.__dict__ for hit in hits]}, indent=2))
        return 0
    if not hits:
        print(f"No GGUF repos on the hub match {args.query!r}.")
        return 0
    rows = [["REPO", "DOWNLOADS", "LIKES", "UPDATED"]]
    rows += [[h.repo_id + (" (gated)" if h.gated else ""), f"{h.downloads:,}", f"{h.likes:,}", h.updated]
             for h in hits]
    print(_table(rows, right={1, 2}))
    print(f"See a repo's files, with fit and speed here: tui-llm search {hits[0].repo_id} --files")
    return 0


def _machine(args: argparse.Namespace) -> Any:
    from tui_llm import locations
    from tui_llm.config import load_config
    from tui_llm.machine.hardware import probe

    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    return probe(vram_override_gb=config.vram_gb if args.vram_gb is None else args.vram_gb, measure_bandwidth=True)


def _files(args: argparse.Namespace) -> int:
    from tui_llm.cli import UserError
    from tui_llm.hub import search
    from tui_llm.hub.header import read_model_header
    from tui_llm.machine import file_fit
    from tui_llm.models.gguf import GGUFError
    from tui_llm.units import human_size

    if args.query.count("/") != 1:
        raise UserError(f"--files needs a repo id like ORG/REPO, not {args.query!r}")
    models = search.repo_files(args.query)
    hardware = _machine(args)
    judged: list[tuple[Any, str, Any, str]] = []
    for model in models:
        quant = file_fit.quant_of(model.name)
        note = ""
        verdict = None
        if args.exact:
            try:
                info = read_model_header(model.repo_id, model.path)
                verdict = file_fit.judge_header(info, hardware, args.ctx)
                quant = info.quant
            except (GGUFError, ValueError) as exc:
                note = f"header unreadable: {exc}"
        if verdict is None:
            verdict = file_fit.judge_size(model.size, quant, hardware, args.ctx)
        judged.append((model, quant, verdict, note))
    if args.json:
        print(json.dumps({"repo": args.query, "machine": hardware.as_dict(), "files": [
            {"path": m.path, "parts": m.parts, "size": m.size, "quant": q, "fit": v.as_dict(),
             **({"note": n} if n else {})} for m, q, v, n in judged]}, indent=2))
        return 0
    if not judged:
        print(f"{args.query} has no GGUF model files.")
        return 0
    rows = [["FILE", "QUANT", "SIZE", "NEEDS", "HERE"]]
    for model, quant, verdict, note in judged:
        name = model.name + (f" (+{model.parts - 1} parts)" if model.parts > 1 else "")
        rows.append([name, quant or "?", human_size(model.size), human_size(verdict.verdict.estimate.ram_bytes),
                     verdict.label + (" *" if note else "")])
    print(_table(rows, right={2, 3}))
    for model, _quant, _verdict, note in judged:
        if note:
            print(f"* {model.name}: {note}; judged by its size")
    how = "from each file's header" if args.exact else "estimated from file sizes (--exact reads headers)"
    print(f"Fit at {args.ctx:,} tokens of context, {how}. "
          f"Download: tui-llm download {args.query} FILE")
    return 0


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    )

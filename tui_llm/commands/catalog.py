"""``tui-llm catalog``: the curated models, with what fits this machine; ``--check`` asks the hub."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tui_llm.units import human_size

NAME = "catalog"
HELP = "list curated models with their RAM tier and fit on this machine"

EXIT_PROBLEMS = 1
EXIT_OFFLINE = 3
READ_TIMEOUT_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tier", help="only this RAM tier: mini, 2, 4, 8, 16, 32 or 64 (GB)")
    parser.add_argument("--use", help="only models for: general, roleplay-story or adventure")
    parser.add_argument("--search", default="", help="only models whose name or family has these words")
    parser.add_argument("--fits", action="store_true", help="only models that fit this machine")
    parser.add_argument("--ggml", action="store_true",
                        help="also list the seeds' GGML-only models (llama.cpp cannot load them; KoboldCpp can)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--vram-gb", type=float, default=None, metavar="GB",
                        help="VRAM to assume for a GPU that NVML cannot see (0: ignore GPUs)")
    parser.add_argument("--catalog", type=Path, default=None, help="read this catalog file instead of the built-in one")
    parser.add_argument(
        "--check", action="store_true",
        help="ask the Hugging Face hub whether every listed repo and file exists, with the right size",
    )
    parser.add_argument(
        "--refresh", action="store_true",
        help="ask the hub for each entry's real file names and sizes (and the headers of models whose "
        "shape the catalog lacks), keep them in the cache, then list",
    )


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.models import catalog as cat
    from tui_llm.machine import catalog_fit
    from tui_llm.cli import UserError
    from tui_llm.config import load_config

    if args.vram_gb is not None and not 0 <= args.vram_gb <= 100_000:
        raise UserError(f"--vram-gb must be between 0 and 100000, got {args.vram_gb:g}")
    try:
        tier = catalog_fit.parse_tier(args.tier) if args.tier else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.use and args.use not in cat.USES:
        raise UserError(f"--use must be one of {', '.join(cat.USES)}, not {args.use!r}")
    from tui_llm.models.catalog_resolved import load_current

    if args.refresh and (args.check or args.catalog):
        raise UserError("--refresh works on the built-in catalog alone, without --check or --catalog")
    try:
        catalog = load_current(args.catalog.expanduser() if args.catalog else None)
    except cat.CatalogError as exc:
        raise UserError(str(exc)) from None
    exit_code = 0
    if args.refresh:
        view = catalog_fit.CatalogView(cat.load_catalog())
        rows = view.rows(tier=tier, use=args.use, text=args.search, ggml=args.ggml)
        exit_code = refresh_from_hub(list({row.entry.id: row.entry for row in rows}.values()))
        catalog = load_current()
    if args.check:
        view = catalog_fit.CatalogView(catalog)
        rows = view.rows(tier=tier, use=args.use, text=args.search, ggml=args.ggml)
        entries = list({row.entry.id: row.entry for row in rows}.values())
        return check_hub(entries, json_output=args.json)

    from tui_llm.machine.hardware import probe

    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    hardware = probe(vram_override_gb=config.vram_gb if args.vram_gb is None else args.vram_gb, measure_bandwidth=True)
    view = catalog_fit.CatalogView(catalog, hardware)
    rows = view.rows(tier=tier, use=args.use, text=args.search, fits_only=args.fits, ggml=args.ggml)
    if args.json:
        print(json.dumps({
            "machine": hardware.as_dict(),
            "default_context": catalog_fit.DEFAULT_CONTEXT,
            "models": [row.as_dict() for row in rows],
        }, indent=2))
        return exit_code
    print(_machine_line(hardware))
    print(_table(rows, show_picks=tier is not None))
    if not rows:
        print("No model matches these filters.")
    return exit_code


# --- the table ----------------------------------------------------------------------------


def _machine_line(hardware: Any) -> str:
    gpus = ", ".join(f"{g.name} ({human_size(g.free_bytes)} free)" for g in hardware.gpus)
    return (f"This machine: {human_size(hardware.ram_available)} of {human_size(hardware.ram_total)} RAM available; "
            + (f"GPU: {gpus}" if gpus else hardware.gpu_note or "no GPU"))


def _table(rows: list[Any], show_picks: bool) -> str:
    from tui_llm.machine import catalog_fit

    header = ["ID", "PARAMS", "QUANT", "SIZE", "NEEDS", "TIER", "FIT"] + (["PICK"] if show_picks else [])
    lines = [header]
    for row in rows:
        rung = row.rung
        if rung is None:
            cells = [row.entry.id, row.entry.params_label, "-", "-", "-", catalog_fit.tier_label(row.tier), "GGML only"]
        else:
            size = ("" if rung.size_exact else "~") + human_size(rung.size)
            fit = rung.fit_label
            needs = human_size(rung.ram_needed) if rung.ram_needed else "?"
            cells = [row.entry.id, row.entry.params_label, rung.quant, size, needs,
                     catalog_fit.tier_label(row.tier), fit]
        if show_picks:
            cells.append(row.pick_label)
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {1, 3, 4}
    return "\n".join(
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in lines
    )


# --- --refresh ---------------------------------------------------------------------------------


def refresh_from_hub(entries: list[Any], read_timeout: float = READ_TIMEOUT_S) -> int:
    """Re-resolve ``entries`` against the hub, reporting on stderr. Offline: one line, and
    the cached or built-in data stay (exit 0 when a refresh was cached before)."""
    from datetime import datetime

    from tui_llm import locations
    from tui_llm.hub.catalog_refresh import refresh
    from tui_llm.hub.errors import DownloadError, HubUnreachable
    from tui_llm.hub.metadata import hub_endpoint
    from tui_llm.models import catalog_resolved

    endpoint = hub_endpoint()
    try:
        report = refresh(entries, locations.cache_dir(), endpoint, read_timeout)
    except DownloadError as exc:
        reason = exc.reason if isinstance(exc, HubUnreachable) else str(exc)
        cached = catalog_resolved.load(locations.cache_dir())
        kept = (f"showing the files it listed on {datetime.fromtimestamp(cached.when):%Y-%m-%d %H:%M}"
                if cached else "showing the built-in catalog")
        print(f"tui-llm: the hub at {endpoint} cannot be reached ({reason}); {kept}", file=sys.stderr)
        return 0 if cached else EXIT_OFFLINE
    except OSError as exc:
        print(f"tui-llm: the refreshed catalog could not be saved in the cache ({exc})", file=sys.stderr)
        return EXIT_PROBLEMS
    for entry_id, old, new in report.resolved:
        print(f"tui-llm: {entry_id}: {old} is {new} on the hub", file=sys.stderr)
    for entry_id, quant in report.not_found:
        print(f"tui-llm: {entry_id}: no {quant} file in its repo", file=sys.stderr)
    for entry_id in report.no_repo:
        print(f"tui-llm: {entry_id}: its repo is missing on the hub (or private/gated)", file=sys.stderr)
    for entry_id, why in report.header_problems:
        print(f"tui-llm: {entry_id}: header not read ({why})", file=sys.stderr)
    print(f"tui-llm: refreshed from {endpoint}: {report.confirmed} file(s) confirmed, "
          f"{len(report.resolved)} resolved by quant, {report.headers} header(s) read", file=sys.stderr)
    return 0


# --- --check -----------------------------------------------------------------------------------


def hub_sizes(repo_id: str, endpoint: str, read_timeout: float) -> dict[str, int] | None:
    """{filename: size} of the repo's GGUF files; None when the repo does not exist (or is gated)."""
    from tui_llm.hub.errors import RepoUnavailable
    from tui_llm.hub.metadata import repo_gguf_files

    try:
        files = repo_gguf_files(repo_id, endpoint=endpoint, read_timeout=read_timeout)
    except RepoUnavailable:
        return None
    return {f.path: f.size for f in files}


def check_hub(entries: list[Any], json_output: bool = False, out=None, read_timeout: float = READ_TIMEOUT_S) -> int:
    from tui_llm.hub.errors import DownloadError, HubUnreachable
    from tui_llm.hub.metadata import hub_endpoint
    from tui_llm.models import catalog_check

    out = out or sys.stdout
    endpoint = hub_endpoint()
    checks: list[Any] = []
    try:
        for entry in entries:
            sizes = hub_sizes(entry.repo_id, endpoint, read_timeout) if entry.downloadable else None
            results = catalog_check.compare_files(entry, sizes)
            checks.extend(results)
            if not json_output:
                for result in results:
                    print(f"{result.status.upper():14} {entry.id}  {result.filename}  {result.describe()}", file=out)
    except DownloadError as exc:
        reason = exc.reason if isinstance(exc, HubUnreachable) else str(exc)
        message = f"offline: the Hugging Face hub at {endpoint} cannot be reached ({reason})"
        if json_output:
            print(json.dumps({"offline": True, "endpoint": endpoint, "reason": reason,
                              "checked": [c.__dict__ for c in checks]}, indent=2), file=out)
        else:
            print(message, file=out)
            print("tui-llm catalog --check needs network access to the hub; nothing was changed.", file=out)
        return EXIT_OFFLINE
    problems = [c for c in checks if c.problem]
    if json_output:
        print(json.dumps({"offline": False, "endpoint": endpoint, "problems": len(problems),
                          "checked": [c.__dict__ for c in checks]}, indent=2), file=out)
    else:
        unknown = sum(1 for c in checks if c.status == "size unknown")
        print(f"{len(checks)} file(s) checked against {endpoint}: {len(problems)} problem(s), "
              f"{unknown} size(s) to fill in.", file=out)
    return EXIT_PROBLEMS if problems else 0

"""``tui-llm hw``: what this machine has, and what that means for models."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware

NAME = "hw"
HELP = "show RAM, CPU and GPUs, and which model sizes fit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (sizes in bytes)")
    parser.add_argument(
        "--vram-gb", type=float, default=None, metavar="GB",
        help="VRAM to assume for a GPU that NVML cannot see (0: ignore GPUs)",
    )


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.config import load_config
    from tui_llm.machine.hardware import probe
    from tui_llm.machine.tier import size_speeds, tier_summary

    if args.vram_gb is not None and not 0 <= args.vram_gb <= 100_000:
        raise UserError(f"--vram-gb must be between 0 and 100000, got {args.vram_gb:g}")
    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    machine = probe(vram_override_gb=config.vram_gb if args.vram_gb is None else args.vram_gb, measure_bandwidth=True)
    if args.json:
        speeds = [row.as_dict() for row in size_speeds(machine)]
        print(json.dumps({**machine.as_dict(), "tier": tier_summary(machine), "speed": speeds}, indent=2))
    else:
        print(describe(machine))
    return 0


def describe(machine: "Hardware") -> str:
    from tui_llm.machine.tier import size_speeds, tier_summary
    from tui_llm.units import human_size

    features = " ".join(
        label for name, label in (("avx2", "AVX2"), ("avx512", "AVX-512"), ("neon", "NEON"))
        if name in machine.cpu_features
    ) or "no AVX2/AVX-512/NEON (slow)"
    lines = [
        f"RAM   {human_size(machine.ram_available)} available of {human_size(machine.ram_total)}"
        + (f"; swap {human_size(machine.swap_free)} free of {human_size(machine.swap_total)}"
           if machine.swap_total else "; no swap"),
        f"CPU   {machine.cpu_name}: {machine.cores_physical} cores, "
        f"{machine.cores_logical} threads; {features}",
    ]
    if machine.gpus:
        for gpu in machine.gpus:
            lines.append(f"GPU {gpu.index} {gpu.name}: {human_size(gpu.free_bytes)} free of "
                         f"{human_size(gpu.total_bytes)}" + (" (set by hand)" if gpu.source == "manual" else ""))
        if not machine.gpu_offload:
            lines.append(f"Note  {machine.gpu_note}")
    else:
        lines.append(f"GPU   none: {machine.gpu_note or 'no NVIDIA GPU found'}")
    rows = size_speeds(machine)
    rate = rows[0].speed
    lines.append(f"Speed writing, at Q4_K_M with {rate.threads} thread{'s' if rate.threads != 1 else ''}"
                 f" ({rate.basis}):")
    lines.extend(f"      {row.label:>4}  {row.text}" for row in rows)
    lines.append(f"Fit   {tier_summary(machine)}")
    return "\n".join(lines)

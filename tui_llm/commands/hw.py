"""``tui-llm hw``: what this machine has, and what that means for models."""

from __future__ import annotations

import argparse
import json

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
    from tui_llm.machine import hardware
    from tui_llm.cli import UserError
    from tui_llm.config import load_config

    if args.vram_gb is not None and not 0 <= args.vram_gb <= 100_000:
        raise UserError(f"--vram-gb must be between 0 and 100000, got {args.vram_gb:g}")
    config = load_config(locations.config_file())
    try:
        hardware.vram_override_from_config(config)
    except ValueError as exc:
        print(f"tui-llm: {exc}; ignored")
    machine = hardware.probe_with_config(config, args.vram_gb)
    if args.json:
        print(json.dumps(machine.as_dict(), indent=2))
    else:
        print(describe(machine))
    return 0


def describe(machine: "hardware.Hardware") -> str:  # noqa: F821 - imported lazily
    from tui_llm.machine.fit import human_bytes

    features = " ".join(
        label for name, label in (("avx2", "AVX2"), ("avx512", "AVX-512"), ("neon", "NEON"))
        if name in machine.cpu_features
    ) or "no AVX2/AVX-512/NEON (slow)"
    lines = [
        f"RAM   {human_bytes(machine.ram_available)} available of {human_bytes(machine.ram_total)}"
        + (f"; swap {human_bytes(machine.swap_free)} free of {human_bytes(machine.swap_total)}"
           if machine.swap_total else "; no swap"),
        f"CPU   {machine.cpu_name}: {machine.cores_physical} cores, "
        f"{machine.cores_logical} threads; {features}",
    ]
    if machine.gpus:
        for gpu in machine.gpus:
            lines.append(f"GPU {gpu.index} {gpu.name}: {human_bytes(gpu.free_bytes)} free of "
                         f"{human_bytes(gpu.total_bytes)}" + (" (set by hand)" if gpu.source == "manual" else ""))
        if not machine.gpu_offload:
            lines.append(f"Note  {machine.gpu_note}")
    else:
        lines.append(f"GPU   none: {machine.gpu_note or 'no NVIDIA GPU found'}")
    from tui_llm.machine.hardware import tier_summary

    lines.append(f"Fit   {tier_summary(machine)}")
    return "\n".join(lines)

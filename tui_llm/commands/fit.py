"""``tui-llm fit MODEL.gguf``: will this model run here, with how much context and GPU offload?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tui_llm.commands._load_args import add_rope_arguments, rope_changes

NAME = "fit"
HELP = "estimate RAM/VRAM for a GGUF model on this machine and say whether it fits"

MAX_CTX = 1_048_576
EXIT_HUB = 3


class HubProblem(Exception):
    """The hub could not answer; not the user's input."""


def remote_info(url: str) -> Any:
    """The header of a hub file, read by range. Bad addresses are UserErrors."""
    from huggingface_hub.errors import EntryNotFoundError

    from tui_llm.cli import UserError
    from tui_llm.hub.errors import DownloadError, RepoUnavailable, UnsafeFilename
    from tui_llm.hub.header import parse_hf_url, read_model_header

    try:
        ref = parse_hf_url(url)
    except (ValueError, UnsafeFilename) as exc:
        raise UserError(str(exc)) from None
    try:
        return read_model_header(ref.repo_id, ref.filename)
    except RepoUnavailable as exc:
        raise UserError(str(exc)) from None
    except DownloadError as exc:
        if isinstance(exc.__cause__, EntryNotFoundError):
            raise UserError(str(exc)) from None
        raise HubProblem(f"{exc}. Set HF_ENDPOINT to a mirror, or download the file elsewhere "
                         "and run tui-llm fit on it") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a GGUF model file, or hf://ORG/REPO/FILE.gguf on the hub "
                        "(only its header is read)")
    parser.add_argument("--ctx", type=int, default=None,
                        help="context size in tokens (default: the configured one; past the "
                        "model's trained length: see --rope-scaling)")
    add_rope_arguments(parser)
    parser.add_argument("--gpu-layers", type=int, default=None,
                        help="layers to offload, output layer included (-1: all; default: suggested)")
    parser.add_argument("--kv-type", default=None, choices=("f16", "q8_0", "q4_0"),
                        help="KV cache type (default: the configured one)")
    parser.add_argument("--vram-gb", type=float, default=None, metavar="GB",
                        help="VRAM to assume for a GPU that NVML cannot see (0: ignore GPUs)")
    parser.add_argument("--json", action="store_true", help="print JSON (sizes in bytes)")


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.cli import UserError
    from tui_llm.config import load_config
    from tui_llm.machine import fit, speed
    from tui_llm.machine.hardware import probe
    from tui_llm.machine.plan import plan_load
    from tui_llm.machine.shape import ModelShape
    from tui_llm.models import gguf as gguf_info
    from tui_llm.models.formats import identify as identify_format

    config = load_config(locations.config_file())
    for problem in config.problems:
        print(f"tui-llm: {problem}", file=sys.stderr)
    remote = args.model.startswith("hf://")
    model = Path(args.model).expanduser() if not remote else None
    try:
        settings = config.load_for(model or args.model.rsplit("/", 1)[-1]).with_changes(**rope_changes(args))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    n_ctx = args.ctx if args.ctx is not None else settings.n_ctx
    if not 16 <= n_ctx <= MAX_CTX:
        raise UserError(f"--ctx must be between 16 and {MAX_CTX:,} tokens, got {n_ctx:,}")
    if args.vram_gb is not None and not 0 <= args.vram_gb <= 100_000:
        raise UserError(f"--vram-gb must be between 0 and 100000, got {args.vram_gb:g}")
    foreign = identify_format(model) if model is not None and model.exists() else None
    if foreign is not None:
        raise UserError(foreign.explain(model))
    try:
        info = remote_info(args.model) if remote else gguf_info.check_complete(model)
        shape = ModelShape.from_gguf(info)
    except HubProblem as exc:
        print(f"tui-llm: {exc}", file=sys.stderr)
        return EXIT_HUB
    except gguf_info.GGUFError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(f"{args.model.rsplit('/', 1)[-1]}: {exc}") from None
    full = shape.n_layers + 1
    if args.gpu_layers is not None and not -1 <= args.gpu_layers <= full:
        raise UserError(f"--gpu-layers must be between -1 (all) and {full} for this model, "
                        f"got {args.gpu_layers}")
    gpu_layers = args.gpu_layers if args.gpu_layers is not None else settings.n_gpu_layers
    machine = probe(vram_override_gb=config.vram_gb if args.vram_gb is None else args.vram_gb, measure_bandwidth=True)
    # gpu_layers None: the verdict picks the split as the load plan does, for the KV type asked here.
    judged = fit.verdict(shape, machine, n_ctx=n_ctx, gpu_layers=gpu_layers,
                         kv_type=args.kv_type or settings.kv_cache_type,
                         n_ubatch=settings.n_ubatch, flash_attn=settings.flash_attn, rope_scaling=True)
    plan = plan_load(shape, settings.with_changes(n_ctx=n_ctx), machine)
    threads = plan.settings.n_threads
    rate = speed.for_gguf(info, shape, machine, threads, plan.settings.n_threads_batch, judged.gpu_layers)
    rope = {"scaling": plan.settings.rope_scaling, "freq_base": plan.settings.rope_freq_base,
            "freq_scale": plan.settings.rope_freq_scale, "note": plan.rope_note}
    judged_report = report(info, shape, machine, judged) | {
        "threads": threads, "rope": rope, "speed": rate.as_dict()}
    if args.json:
        print(json.dumps(judged_report, indent=2))
    else:
        print(describe(info, shape, machine, judged))
        if plan.rope_note:
            print(f"RoPE: {plan.rope_note}")
        print(f"Threads when loading: {threads}")
        print(describe_speed(rate, shape.n_layers + 1))
    return 0


def describe_speed(rate: Any, total_layers: int) -> str:
    from tui_llm.machine.speed import TOO_SLOW_FOR_CHAT, format_rate

    basis = {"probe": "from a memory probe", "assumed": "for a typical CPU"}.get(rate.basis, rate.basis)
    line = (f"Speed here (estimated {basis}): {rate.label} writing, ~{format_rate(rate.prompt_tok_s)} tok/s "
            f"reading the prompt ({rate.threads} thread{'s' if rate.threads != 1 else ''}, "
            f"{rate.gpu_layers} of {total_layers} layers on the GPU)")
    if rate.too_slow:
        line += f"\nToo slow for chat: under {TOO_SLOW_FOR_CHAT:g} tokens a second; pick a smaller model or quant"
    return line


def report(info: Any, shape: Any, machine: Any, judged: Any) -> dict[str, Any]:
    return {
        "model": {
            "path": str(info.path),
            "name": info.name,
            "architecture": info.architecture,
            "quant": info.quant,
            "parameters": info.parameter_count,
            "file_bytes": info.file_size,
            "layers": shape.n_layers,
            "n_ctx_train": shape.n_ctx_train,
        },
        **judged.as_dict(),
        "kv_type": judged.estimate.kv_type,
        "machine": {
            "ram_available_bytes": machine.ram_available,
            "gpus": [{"name": g.name, "free_bytes": g.free_bytes, "total_bytes": g.total_bytes}
                     for g in machine.gpus],
            "gpu_offload": machine.gpu_offload,
            "gpu_note": machine.gpu_note,
        },
    }


def describe(info: Any, shape: Any, machine: Any, judged: Any) -> str:
    from tui_llm.units import human_size

    full = shape.n_layers + 1
    need = judged.estimate

    def parts(breakdown: Any) -> str:
        return (f"weights {human_size(breakdown.weights)}, KV cache {human_size(breakdown.kv)}, "
                f"compute {human_size(breakdown.compute)}, overhead {human_size(breakdown.overhead)}")

    params = f"{info.parameter_count / 1e9:.2f}B" if info.parameter_count >= 1e9 else \
        f"{info.parameter_count / 1e6:.0f}M"
    lines = [
        f"{info.path.name}: {info.architecture}, {info.quant}, {params} parameters, "
        f"{full} layers ({shape.n_layers} blocks + the output layer, as --gpu-layers counts them), "
        f"trained on {shape.n_ctx_train:,} tokens of context",
        f"At {judged.n_ctx:,} tokens ({need.kv_type} KV cache), {judged.gpu_layers} of {full} layers on the GPU:",
        f"  RAM   {human_size(need.ram_bytes):>9}  ({parts(need.ram)})",
    ]
    if need.vram_bytes:
        lines.append(f"  VRAM  {human_size(need.vram_bytes):>9}  ({parts(need.vram)})")
    lines.append(f"Verdict: {judged.kind}: {judged.explanation}")
    if judged.max_context:
        line = f"Largest context that fits: {judged.max_context:,} tokens"
        if judged.max_context_scaled:
            line += (f" (the trained length); {judged.max_context_scaled:,} with RoPE scaling, "
                     "quality may drop")
        lines.append(line)
    else:
        lines.append("Largest context that fits: none, not even 256 tokens")
    if machine.usable_gpus:
        lines.append(f"Suggested GPU layers at {judged.n_ctx:,} tokens: {judged.suggested_gpu_layers} of {full}")
    else:
        lines.append(f"GPU: none ({machine.gpu_note or 'no NVIDIA GPU found'}); everything runs on the CPU")
    return "\n".join(lines)

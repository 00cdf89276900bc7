"""Command-line options for how a model is loaded, shared by ``chat`` and ``fit``."""

from __future__ import annotations

import argparse
from typing import Any

from tui_llm.models.rope import SCALINGS


def add_rope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rope-scaling", choices=SCALINGS, default=None,
        help="how a --ctx past the model's trained length is stretched (default auto: the "
        "model's own scaling, else YaRN; quality may drop)",
    )
    parser.add_argument("--rope-freq-base", type=float, default=None, metavar="BASE",
                        help="RoPE frequency base (NTK-aware scaling; 0: the model's)")
    parser.add_argument("--rope-freq-scale", type=float, default=None, metavar="SCALE",
                        help="RoPE frequency scale, e.g. 0.5 for twice the context (0: the model's "
                        "or the factor --ctx needs)")


def rope_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The load-setting changes the rope options ask for."""
    changes: dict[str, Any] = {}
    if args.rope_scaling is not None:
        changes["rope_scaling"] = args.rope_scaling
    if args.rope_freq_base is not None:
        changes["rope_freq_base"] = args.rope_freq_base
    if args.rope_freq_scale is not None:
        changes["rope_freq_scale"] = args.rope_freq_scale
    return changes

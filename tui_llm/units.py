"""Sizes in words, one convention everywhere: binary units written as RAM is sold.

"32 GB" of RAM is 32 x 1024^3 bytes, so a model file, a download, a catalog
tier and free VRAM are all measured in 1024-based units and written GB/MB/KB.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def human_size(count: float) -> str:
    """``34359738368`` -> ``"32.0 GB"``; under 1000 bytes, whole bytes.

    At most three digits before the point: 1000 MB and up is written "1.0 GB".
    """
    if abs(count) < 1000:
        return f"{int(count)} B"
    for unit, size in (("KB", KIB), ("MB", MIB)):
        if abs(count) < 1000 * size:
            return f"{count / size:.1f} {unit}"
    return f"{count / GIB:.1f} GB"

"""One size convention: binary units written GB/MB/KB, as RAM is sold."""

from __future__ import annotations

from tui_llm.units import GIB, KIB, MIB, human_size


def test_sizes_are_binary_and_keep_three_digits_at_most():
    assert human_size(32 * GIB) == "32.0 GB"  # a "32 GB" machine says 32 GB, not 34.4
    assert human_size(int(4.07 * GIB)) == "4.1 GB"
    assert human_size(98_400_000) == "93.8 MB"
    assert human_size(1000 * MIB) == "1.0 GB"  # never "1000.0 MB"
    assert human_size(999 * MIB) == "999.0 MB"
    assert human_size(1536) == "1.5 KB"
    assert human_size(1000) == "1.0 KB"
    assert human_size(999) == "999 B" and human_size(0) == "0 B"
    assert human_size(2 * KIB) == "2.0 KB"

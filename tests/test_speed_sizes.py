"""Speed for whole classes of models: per size in `tui-llm hw`, and mixture-of-experts
catalog entries that read only their active parameters."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tui_llm.machine import catalog_fit, tier
from tui_llm.machine.hardware import Hardware
from tui_llm.models.catalog import CatalogError, load_catalog, parse_entry

GIB = 1024**3


def machine(cores: int = 2, ram_gb: int = 64) -> Hardware:
    return Hardware(ram_total=ram_gb * GIB, ram_available=(ram_gb - 2) * GIB, cores_physical=cores,
                    cores_logical=cores * 2)


def test_moe_entries_carry_their_active_parameters():
    catalog = load_catalog()
    active = {entry.id: entry.active_parameters for entry in catalog}
    assert active["qwen3-30b-a3b"] == 3_300_000_000
    assert active["gpt-oss-20b"] == 3_600_000_000
    assert active["mixtral-8x7b-instruct-v0.1"] == 12_900_000_000
    assert active["qwen3-8b"] == 0  # dense
    assert all(entry.active_parameters < entry.parameters for entry in catalog if entry.active_parameters)


def test_a_moe_entry_reads_only_its_active_share_per_token():
    entry = load_catalog().get("qwen3-30b-a3b")
    hardware = machine(8)
    moe = catalog_fit.judge(entry, None, hardware)
    dense = catalog_fit.judge(replace(entry, active_parameters=0), None, hardware)
    assert moe.ram_needed == dense.ram_needed  # memory still holds every expert
    assert moe.speed.bytes_per_token == pytest.approx(dense.speed.bytes_per_token * 3.3 / 30.5, rel=0.01)
    assert moe.speed.decode_tok_s > 5 * dense.speed.decode_tok_s
    assert catalog_fit.CatalogView(load_catalog(), hardware).rows(text="qwen3 30b")[0].as_dict()[
        "active_parameters"] == 3_300_000_000


@pytest.mark.parametrize("active, message", [("40B", "exceed the total"), ("lots", "active parameters must")])
def test_bad_active_parameters_are_named(active, message):
    raw = {"id": "m", "name": "M", "family": "F", "parameters": "30B", "active": active, "use": ["general"],
           "template": "chatml", "context": 4096, "licence": "MIT", "repo": "o/r",
           "files": [{"quant": "Q4_K_M", "file": "m.gguf"}]}
    with pytest.raises(CatalogError, match=message):
        parse_entry(raw, 1)


def test_speed_per_size_falls_as_models_grow_and_stops_at_what_fits():
    rows = tier.size_speeds(machine(4, ram_gb=16))
    assert [row.label for row in rows] == ["1B", "3B", "8B", "14B", "24B", "32B", "70B"]
    fitting = [row for row in rows if row.fits]
    rates = [row.speed.decode_tok_s for row in fitting]
    assert rates == sorted(rates, reverse=True) and len(fitting) >= 4
    assert rows[-1].text == "too large"
    assert rows[0].text.startswith("~") and rows[0].text.endswith("tok/s")
    slow = [row for row in fitting if row.speed.too_slow]
    assert slow and slow[0].text.endswith("too slow for chat")


def test_the_tier_summary_says_where_chat_speed_ends():
    words = tier.tier_summary(machine(2, ram_gb=64))
    assert "chat speed (5+ tok/s) up to " in words and "slower past it" in words
    limit = words.split("up to ")[1].split(",")[0]
    fast = {row.label for row in tier.size_speeds(machine(2, ram_gb=64), tier._SIZES_B)
            if row.fits and not row.speed.too_slow}
    assert limit in fast
    many = tier.tier_summary(machine(64, ram_gb=8))
    assert "all of them at chat speed" in many


def test_hw_prints_a_speed_per_size(capsys):
    from tui_llm.cli import main

    assert main(["hw", "--vram-gb", "0"]) == 0
    out = capsys.readouterr().out
    assert "Speed writing, at Q4_K_M with" in out and "(probe)" in out
    for size in ("1B", "3B", "8B", "14B", "24B"):
        assert f"  {size}  " in out
    assert main(["hw", "--vram-gb", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sizes = {row["size"]: row for row in report["speed"]}
    assert sizes["1B"]["decode_tok_s"] > sizes["8B"]["decode_tok_s"] > 0
    assert sizes["1B"]["basis"] == "probe"
    assert report["memory_bandwidth"]["one_thread"] > 0

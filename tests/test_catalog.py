"""The catalog: the real catalog.toml, its validation, derived tiers and machine-specific fit."""

from __future__ import annotations

import textwrap

import pytest

from tui_llm.models import catalog as cat
from tui_llm.machine import catalog_fit
from tui_llm.models import catalog_check
from tui_llm.machine import fit
from tui_llm.hub import starter
from tui_llm.machine.hardware import GPU, Hardware

GIB = 1024**3

SMALL = Hardware(ram_total=4 * GIB, ram_available=3 * GIB, cores_physical=2, cores_logical=4)
BIG = Hardware(
    ram_total=64 * GIB, ram_available=60 * GIB, cores_physical=16, cores_logical=32,
    gpus=(GPU("GeForce RTX 4090", 24 * GIB, 23 * GIB),),
)


@pytest.fixture(scope="module")
def catalog() -> cat.Catalog:
    return cat.load_catalog()


# --- the shipped catalog ---------------------------------------------------------------------

SEED_MODELS = {
    # seed 000, General use
    "tinydolphin-2.8-1.1b": "Crataco/TinyDolphin-2.8-1.1b-imatrix-GGUF",
    "stablelm-2-1.6b-chat": "Crataco/stablelm-2-1_6b-chat-imatrix-GGUF",
    "phi-2-orange-v2": "Crataco/phi-2-orange-v2-imatrix-GGUF",
    "mistral-7b-instruct-v0.2": "TheBloke/Mistral-7B-Instruct-v0.2-GGUF",
    "nous-hermes-2-mistral-7b-dpo": "Crataco/Nous-Hermes-2-Mistral-7B-DPO-imatrix-GGUF",
    "mixtral-8x7b-instruct-v0.1": "mradermacher/Mixtral-8x7B-Instruct-v0.1-i1-GGUF",
    "nous-hermes-2-mixtral-8x7b-dpo": "mradermacher/Nous-Hermes-2-Mixtral-8x7B-DPO-i1-GGUF",
    # seed 000, Chat/Roleplay/Story
    "kunoichi-dpo-v2-7b": "Lewdiculous/Kunoichi-DPO-v2-7B-GGUF-Imatrix",
    "erosumika-7b-v3-0.2": "Lewdiculous/Erosumika-7B-v3-0.2-GGUF-IQ-Imatrix",
    "fimbulvetr-11b-v2": "mradermacher/Fimbulvetr-11B-v2-i1-GGUF",
    "bagelmisterytour-v2-8x7b": "ycros/BagelMIsteryTour-v2-8x7B-GGUF",
    # seed 000, RAM picks
    "beyonder-4x7b-v3": "mradermacher/Beyonder-4x7B-v3-i1-GGUF",
    # seed 001 (GGML era) and its later GGUF versions
    "mythomax-l2-13b": "TheBloke/MythoMax-L2-13B-GGUF",
    "spring-dragon-13b": "TheBloke/Spring-Dragon-GGUF",
    "ai-dungeon-2-classic": "Henk717/ai-dungeon2-classic-ggml",
}

CURRENT_MODELS = [
    "smollm2-135m-instruct", "smollm2-1.7b-instruct", "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct",
    "qwen2.5-3b-instruct", "qwen2.5-7b-instruct", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct",
    "gemma-3-1b-it", "gemma-3-4b-it", "phi-3.5-mini-instruct", "phi-4-mini-instruct",
]


def test_every_seed_model_is_listed_with_the_seeds_repo(catalog):
    for entry_id, repo in SEED_MODELS.items():
        assert catalog.get(entry_id).repo_id == repo


def test_current_small_models_are_listed(catalog):
    for entry_id in CURRENT_MODELS:
        entry = catalog.get(entry_id)
        assert entry.downloadable
        assert entry.recommended_file is not None


def test_the_seeds_exact_file_links_are_the_picked_files(catalog):
    """seed 000, 'General suggestions for CPU users based on RAM', link for link."""
    expected = {
        (2, "Balanced"): ("stablelm-2-1.6b-chat", "stablelm-2-1_6b-chat.Q4_K_M.imx.gguf"),
        (2, "Quality"): ("phi-2-orange-v2", "phi-2-orange-v2.IQ2_M.imx.gguf"),
        (8, "Speed"): ("phi-2-orange-v2", "phi-2-orange-v2.Q4_K_M.imx.gguf"),
        (8, "Balanced"): ("nous-hermes-2-mistral-7b-dpo", "nous-hermes-2-mistral-7b-dpo.Q5_K_M.imx.gguf"),
        (16, "Speed"): ("phi-2-orange-v2", "phi-2-orange-v2.Q4_K_M.imx.gguf"),
        (16, "Balanced"): ("nous-hermes-2-mistral-7b-dpo", "nous-hermes-2-mistral-7b-dpo.Q5_K_M.imx.gguf"),
        (16, "Quality"): ("beyonder-4x7b-v3", "Beyonder-4x7B-v3.i1-IQ3_S.gguf"),
    }
    found = {
        (pick.tier, pick.role): (entry.id, entry.file(pick.quant).filename)
        for entry in catalog for pick in entry.picks
    }
    assert found == expected


def test_the_mini_entry_is_the_starter_model(catalog):
    entry = catalog.get("smollm2-135m-instruct")
    assert entry.repo_id == starter.STARTER_REPO
    assert entry.recommended_file.filename == starter.STARTER_FILE
    assert entry.recommended_file.size == starter.STARTER_SIZE
    assert catalog_fit.entry_tier(entry) == 1
    assert catalog_fit.tier_label(catalog_fit.entry_tier(entry)) == "Mini"


def test_catalog_templates_are_real_presets(catalog):
    from tui_llm.prompts.templates import get_template, load_presets

    assert cat.unknown_templates(catalog, load_presets()) == []
    for entry in catalog:
        assert get_template(entry.template).name == entry.template


def test_ggml_only_entries_offer_no_download(catalog):
    entry = catalog.get("ai-dungeon-2-classic")
    assert entry.format == "ggml"
    assert not entry.downloadable
    assert catalog_fit.CatalogView(catalog, SMALL).rung(entry) is None


def test_the_catalog_file_does_not_type_tiers_by_hand():
    text = cat.locations.catalog_file().read_text(encoding="utf-8")
    assert "\ntier =" not in text and "\ntier=" not in text


# --- validation ------------------------------------------------------------------------------

GOOD = """
[[model]]
id = "tiny-test"
name = "Tiny Test"
family = "Test"
parameters = "135M"
use = ["general"]
template = "chatml"
context = 2048
licence = "MIT"
repo = "someone/Tiny-GGUF"
recommended = "Q8_0"
files = [
  { quant = "Q4_K_M", file = "tiny.Q4_K_M.gguf" },
  { quant = "Q8_0", file = "tiny.Q8_0.gguf", size = 1000 },
]
"""


def write(tmp_path, text: str):
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_minimal_catalog_loads(tmp_path):
    loaded = cat.load_catalog(write(tmp_path, GOOD))
    entry = loaded.get("tiny-test")
    assert entry.parameters == 135_000_000
    assert entry.recommended_file.size == 1000
    assert entry.file("Q4_K_M").size is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('repo = "someone/Tiny-GGUF"\n', ""), "model 1 (tiny-test): 'repo' is missing"),
        (('use = ["general"]', 'use = ["chatting"]'), "model 1 (tiny-test): 'use' must list"),
        (('recommended = "Q8_0"', 'recommended = "Q2_K"'), "recommended quant Q2_K is not among its files"),
        (("size = 1000", "size = -5"), "model 1 (tiny-test) file 2: 'size' must be a positive number"),
        (('parameters = "135M"', 'parameters = "lots"'), "model 1 (tiny-test): parameters must look like"),
        (('file = "tiny.Q8_0.gguf"', 'file = "../tiny.Q8_0.gguf"'), "must be a plain .gguf file name"),
        (('context = 2048', 'context = 2048\ntier = 2'), "model 1 (tiny-test): unknown field(s) tier"),
        (('repo = "someone/Tiny-GGUF"', 'repo = "not a repo"'), "repo must be 'owner/name'"),
        (('context = 2048', 'context = 2048\npicks = [{ tier = 3, role = "Speed" }]'), "pick 1: tier must be one of"),
        (('context = 2048', 'context = 2048\npicks = [{ tier = 2, role = "Fast" }]'), "pick 1: role must be one of"),
        (('{ quant = "Q4_K_M", file = "tiny.Q4_K_M.gguf" }', '{ quant = "Q8_0", file = "tiny.Q4_K_M.gguf" }'),
         "quant Q8_0 is listed twice"),
        (('id = "tiny-test"', 'id = "Tiny Test"'), "id must be lowercase"),
    ],
)
def test_a_bad_entry_is_named_in_the_error(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(cat.CatalogError) as caught:
        cat.load_catalog(write(tmp_path, GOOD.replace(old, new)))
    assert message in str(caught.value)
    assert str(caught.value).startswith("catalog.toml: ")


def test_the_second_of_two_entries_is_named(tmp_path):
    second = GOOD.replace('id = "tiny-test"', 'id = "tiny-two"').replace('context = 2048', 'context = 0')
    with pytest.raises(cat.CatalogError, match=r"model 2 \(tiny-two\): 'context' must be a positive number"):
        cat.load_catalog(write(tmp_path, GOOD + second))


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(cat.CatalogError, match=r"model 2 \(tiny-test\): id is used twice"):
        cat.load_catalog(write(tmp_path, GOOD + GOOD))


def test_broken_toml_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(cat.CatalogError, match="not valid TOML"):
        cat.load_catalog(write(tmp_path, GOOD + "\n[[model]\n"))
    with pytest.raises(cat.CatalogError, match="no catalog at"):
        cat.load_catalog(tmp_path / "missing.toml")
    with pytest.raises(cat.CatalogError, match="no \\[\\[model\\]\\] entries"):
        cat.load_catalog(write(tmp_path, "schema = 1\n"))


# --- tiers come from the fit engine ------------------------------------------------------------


def test_tier_boundaries():
    assert catalog_fit.tier_for_bytes(1) == 1
    for tier in catalog_fit.TIERS[:-1]:
        assert catalog_fit.tier_for_bytes(catalog_fit.usable_ram(tier)) == tier
        assert catalog_fit.tier_for_bytes(catalog_fit.usable_ram(tier) + 1) > tier
    assert catalog_fit.tier_for_bytes(200 * GIB) == 64
    assert [catalog_fit.tier_label(t) for t in catalog_fit.TIERS] == ["Mini", "2 GB", "4 GB", "8 GB", "16 GB", "32 GB", "64+ GB"]
    assert catalog_fit.parse_tier("mini") == 1 and catalog_fit.parse_tier("8GB") == 8 and catalog_fit.parse_tier("64+") == 64
    with pytest.raises(ValueError):
        catalog_fit.parse_tier("3")


def test_tier_is_the_fit_engine_estimate_at_the_default_context(catalog):
    for entry in catalog:
        shape = catalog_fit.shape_for(entry)
        n_ctx = min(catalog_fit.DEFAULT_CONTEXT, entry.context)
        needed = fit.estimate(shape, n_ctx, gpu_layers=0).ram_bytes
        assert catalog_fit.entry_tier(entry) == catalog_fit.tier_for_bytes(needed), entry.id


def test_tiers_follow_model_size(catalog):
    tier = {entry.id: catalog_fit.entry_tier(entry) for entry in catalog}
    assert tier["smollm2-135m-instruct"] < tier["llama-3.2-1b-instruct"] < tier["mistral-7b-instruct-v0.2"]
    assert tier["mistral-7b-instruct-v0.2"] < tier["mythomax-l2-13b"] < tier["mixtral-8x7b-instruct-v0.1"]
    # the same weights need more memory with a bigger context (KV cache), never less
    entry = catalog.get("mistral-7b-instruct-v0.2")
    assert catalog_fit.ram_needed(entry, n_ctx=32768) > catalog_fit.ram_needed(entry, n_ctx=4096)


def test_a_bigger_quant_never_lands_in_a_smaller_tier(catalog):
    for entry in catalog:
        rungs = catalog_fit.ladder(entry, None)
        tiers = [catalog_fit.tier_for_bytes(r.ram_needed) for r in rungs]
        assert tiers == sorted(tiers), entry.id


def test_sizes_are_exact_when_known_and_marked_as_estimates_otherwise(catalog):
    mistral = catalog.get("mistral-7b-instruct-v0.2")
    assert catalog_fit.file_size(mistral, mistral.file("Q4_K_M")) == (4368439584, True)
    q8, exact = catalog_fit.file_size(mistral, mistral.file("Q8_0"))
    assert not exact
    assert 1.5 * 4368439584 < q8 < 2.0 * 4368439584  # scaled from the known Q4_K_M
    tiny = catalog.get("tinydolphin-2.8-1.1b")
    q4, exact = catalog_fit.file_size(tiny, tiny.file("Q4_K_M"))
    assert not exact and 0.5e9 < q4 < 0.8e9  # 1.1B parameters at ~4.85 bits


# --- fit badges depend on the machine --------------------------------------------------------------


def test_the_same_model_gets_different_badges_on_different_machines(catalog):
    mistral = catalog.get("mistral-7b-instruct-v0.2")
    small = catalog_fit.judge(mistral, None, SMALL)
    big = catalog_fit.judge(mistral, None, BIG)
    assert small.verdict.kind == "too large"
    assert big.verdict.kind == "fits on GPU"
    assert small.ram_needed == big.ram_needed  # the need is the model's; the verdict is the machine's

    mixtral = catalog.get("mixtral-8x7b-instruct-v0.1")
    assert catalog_fit.judge(mixtral, None, SMALL).verdict.kind == "too large"
    assert catalog_fit.judge(mixtral, None, BIG).verdict.kind == "partial offload"

    smol = catalog.get("smollm2-135m-instruct")
    assert catalog_fit.judge(smol, None, SMALL).verdict.kind == "fits in RAM"
    assert catalog_fit.judge(smol, None, BIG).verdict.kind == "fits on GPU"


def test_ladder_shows_every_quant_with_its_own_verdict(catalog):
    entry = catalog.get("llama-3.2-3b-instruct")
    tight_machine = Hardware(ram_total=4 * GIB, ram_available=int(3.6 * GIB))
    rungs = catalog_fit.ladder(entry, tight_machine)
    assert [r.quant for r in rungs] == ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]
    sizes = [r.size for r in rungs]
    assert sizes == sorted(sizes)
    kinds = [r.verdict.kind for r in rungs]
    assert kinds[0] != "too large" and kinds[-1] == "too large"


# --- rows and filters -----------------------------------------------------------------------------


def test_tier_view_keeps_the_seeds_picks_with_their_quant(catalog):
    view = catalog_fit.CatalogView(catalog, SMALL)
    rows = view.rows(tier=2)
    picked = [(r.entry.id, r.rung.quant, r.pick_label) for r in rows if r.picks]
    assert picked == [
        ("stablelm-2-1.6b-chat", "Q4_K_M", "2 GB Balanced"),
        ("phi-2-orange-v2", "IQ2_M", "2 GB Quality"),
    ]
    others = [r for r in rows if not r.picks]
    assert others and all(r.tier == 2 for r in others)
    assert [r.picks[0].role for r in view.rows(tier=16) if r.picks] == ["Speed", "Balanced", "Quality"]


def test_use_text_and_fits_filters(catalog):
    view = catalog_fit.CatalogView(catalog, SMALL)
    adventure = {r.entry.id for r in view.rows(use="adventure")}
    assert adventure == {"spring-dragon-13b"}  # GGML-only entries only on request or by name
    assert {r.entry.id for r in view.rows(use="adventure", ggml=True)} == {"spring-dragon-13b", "ai-dungeon-2-classic"}
    assert {r.entry.id for r in view.rows(text="dungeon 2 classic")} == {"ai-dungeon-2-classic"}
    assert {r.entry.id for r in view.rows(text="qwen 7b instruct")} == {"qwen2.5-7b-instruct"}
    assert {r.entry.id for r in view.rows(text="mythomax")} == {"mythomax-l2-13b"}
    fitting = view.rows(fits_only=True)
    assert fitting and all(r.rung.verdict.kind != "too large" for r in fitting)
    assert "mixtral-8x7b-instruct-v0.1" not in {r.entry.id for r in fitting}
    big_view = catalog_fit.CatalogView(catalog, BIG)
    assert "mixtral-8x7b-instruct-v0.1" in {r.entry.id for r in big_view.rows(fits_only=True)}


def test_row_json_has_the_numbers_a_script_needs(catalog):
    row = next(r for r in catalog_fit.CatalogView(catalog, BIG).rows() if r.entry.id == "qwen2.5-7b-instruct")
    data = row.as_dict()
    assert data["filename"] == "Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    assert data["size_bytes"] == 4683074240 and data["size_exact"] is True
    assert data["fit"] == "fits on GPU" and data["tier"] == "8 GB"
    assert data["ram_needed_bytes"] > data["size_bytes"]


# --- --check's comparison -------------------------------------------------------------------------


def test_compare_files_reports_each_kind_of_difference(catalog):
    entry = catalog.get("mistral-7b-instruct-v0.2")
    hub = {f.filename: 123 for f in entry.files}
    hub["mistral-7b-instruct-v0.2.Q4_K_M.gguf"] = 4368439584
    del hub["mistral-7b-instruct-v0.2.Q8_0.gguf"]
    checks = {c.filename: c.status for c in catalog_check.compare_files(entry, hub)}
    assert checks["mistral-7b-instruct-v0.2.Q4_K_M.gguf"] == "ok"
    assert checks["mistral-7b-instruct-v0.2.Q8_0.gguf"] == "missing"
    assert checks["mistral-7b-instruct-v0.2.Q2_K.gguf"] == "size unknown"
    hub["mistral-7b-instruct-v0.2.Q4_K_M.gguf"] = 1
    assert {c.status for c in catalog_check.compare_files(entry, hub) if "Q4_K_M" in c.filename} == {"size mismatch"}
    assert {c.status for c in catalog_check.compare_files(entry, None)} == {"no repo"}
    assert [c.status for c in catalog_check.compare_files(catalog.get("ai-dungeon-2-classic"), None)] == ["skipped"]

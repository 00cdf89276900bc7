"""The catalog screen at 80x24, keyboard only, with injected machines and a local hub."""

from __future__ import annotations

import socket
import textwrap

import pytest
from hubserver import HubServer, small_gguf
from textual.widgets import DataTable, Input, Static

from tui_llm.models import catalog as cat
from tui_llm.machine import catalog_fit
from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.machine.hardware import GPU, Hardware, ProbedOnce, probe
from tui_llm.ui.dialogs.choice import ChoiceDialog
from tui_llm.ui.screens.catalog import CatalogScreen
from tui_llm.ui.screens.home import HomeScreen
from helpers import FakeRunner, wait_until

GIB = 1024**3
SMALL = Hardware(ram_total=4 * GIB, ram_available=3 * GIB)
BIG = Hardware(ram_total=64 * GIB, ram_available=60 * GIB, gpus=(GPU("GeForce RTX 4090", 24 * GIB, 23 * GIB),))


@pytest.fixture(autouse=True)
def no_real_hub(monkeypatch):
    """Downloads queued by these tests go to a closed local port unless a test starts a hub."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")




async def open_catalog(app, pilot, **kwargs) -> CatalogScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    hardware = kwargs.pop("hardware", None)
    screen = CatalogScreen(ProbedOnce(probe, hardware) if hardware else app.machine, **kwargs)
    await app.push_screen(screen)
    await wait_until(pilot, lambda: screen.ready or screen.error)
    await pilot.pause()
    return screen


def table_of(screen) -> DataTable:
    return screen.query_one("#catalog-table", DataTable)


def cell(screen, key: str, column: str) -> str:
    value = table_of(screen).get_cell(key, column)
    return getattr(value, "plain", value)


def tier_of(screen, key: str) -> str:
    return catalog_fit.tier_label(screen.rows[key].tier)


def shown_ids(screen) -> list[str]:
    return [key.split("|")[0] for key in screen.rows]


def text_of(screen, selector: str) -> str:
    widget = screen.query_one(selector, Static)
    return str(getattr(widget.render(), "plain", widget.render()))


async def test_the_same_model_gets_a_different_badge_on_a_different_machine():
    badges = {}
    for name, hardware in (("small", SMALL), ("big", BIG)):
        app = make_app(config=AppConfig())
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_catalog(app, pilot, hardware=hardware)
            badges[name] = {
                model: cell(screen, key, "fit")
                for model, key in (
                    ("mistral", "mistral-7b-instruct-v0.2|Q4_K_M"),
                    ("mixtral", "mixtral-8x7b-instruct-v0.1|i1-Q4_K_M"),
                    ("smol", "smollm2-135m-instruct|Q4_1"),
                )
            }
            assert cell(screen, "mistral-7b-instruct-v0.2|Q4_K_M", "size") == "4.1 GB"
            assert tier_of(screen, "mistral-7b-instruct-v0.2|Q4_K_M") == "8 GB"
            assert "ai-dungeon-2-classic|" not in screen.rows  # GGML only: listed when searched for
    assert badges["small"] == {"mistral": "✗ too big", "mixtral": "✗ too big", "smol": "✓ RAM"}
    assert badges["big"] == {"mistral": "✓ GPU", "mixtral": "◐ GPU+RAM", "smol": "✓ GPU"}


async def test_tier_use_search_and_fits_from_the_keyboard():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        everything = shown_ids(screen)
        assert len(everything) == sum(1 for e in cat.load_catalog() if e.format != "ggml")

        await pilot.press("t")  # Mini
        assert "tier: Mini" in text_of(screen, "#catalog-title")
        assert "smollm2-135m-instruct" in shown_ids(screen)
        assert all(tier_of(screen, key) == "Mini" for key in screen.rows)
        await pilot.press("t", "t")  # 4 GB ... back one to 2 GB
        await pilot.press("T")
        assert "tier: 2 GB" in text_of(screen, "#catalog-title")
        picks = [key for key, row in screen.rows.items() if row.picks]
        assert picks[:2] == ["stablelm-2-1.6b-chat|Q4_K_M", "phi-2-orange-v2|IQ2_M"]
        assert cell(screen, "phi-2-orange-v2|IQ2_M", "name").startswith("★ ")

        for _ in range(len(catalog_fit.TIERS) - 1):  # from 2 GB on round to "all" again
            await pilot.press("t")
        assert shown_ids(screen) == everything

        await pilot.press("u", "u", "u")  # General -> Roleplay -> Adventure
        assert "use: Adventure" in text_of(screen, "#catalog-title")
        assert set(shown_ids(screen)) == {"spring-dragon-13b"}
        await pilot.press("u")
        assert shown_ids(screen) == everything

        await pilot.press("slash")
        search = screen.query_one("#catalog-search", Input)
        assert search.has_focus
        await pilot.press(*"tea")  # letters go to the search box, not to the t/u bindings
        assert search.value == "tea"
        await pilot.press("backspace", "backspace", "backspace", *"qwen 7b instruct")
        assert shown_ids(screen) == ["qwen2.5-7b-instruct"]
        await pilot.press("escape")
        assert table_of(screen).has_focus
        await pilot.press("f")
        assert shown_ids(screen) == []  # a 7B does not fit 3 GB of free RAM
        assert text_of(screen, "#catalog-summary") == (
            "No model matches 'qwen 7b instruct' with fits only — Esc clears the search")
        await pilot.press("f", "escape")  # the first Esc clears the search, the second goes back
        assert search.value == "" and shown_ids(screen) == everything
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_detail_pane_shows_the_quant_ladder_and_walks_it():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=Hardware(ram_total=4 * GIB, ram_available=int(3.6 * GIB)))
        await pilot.press("slash", *"llama 3.2 3b", "enter")
        assert shown_ids(screen) == ["llama-3.2-3b-instruct"]
        ladder = text_of(screen, "#catalog-ladder").splitlines()
        assert [line.split()[1] if line.startswith("▶") else line.split()[0] for line in ladder] == [
            "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]
        chosen = [line for line in ladder if line.startswith("▶")]
        assert len(chosen) == 1 and "Q4_K_M" in chosen[0] and "recommended" in chosen[0]
        assert "✗ too big" in ladder[-1] and "✗ too big" not in ladder[0]
        info = text_of(screen, "#catalog-info")
        assert "Llama 3.2 3B Instruct" in info and "Template: Llama 3" in info

        await pilot.press("right_square_bracket", "right_square_bracket")
        assert screen.selected_quant == "Q6_K"
        assert "▶ Q6_K" in text_of(screen, "#catalog-ladder")
        for _ in range(10):
            await pilot.press("left_square_bracket")
        assert screen.selected_quant == "Q2_K"  # stops at the smallest
        assert "needs" in text_of(screen, "#catalog-fit")


TINY_CATALOG = """
[[model]]
id = "tiny-local"
name = "Tiny Local"
family = "Test"
parameters = "1M"
use = ["general"]
template = "chatml"
context = 512
licence = "MIT"
repo = "tests/Tiny-GGUF"
good_for = "Testing the download path."
arch = {{ layers = 2, embd = 64, heads = 2, kv_heads = 2, vocab = 256 }}
files = [
  {{ quant = "Q4_K_M", file = "tiny.Q4_K_M.gguf", size = {small} }},
  {{ quant = "Q8_0", file = "tiny.Q8_0.gguf", size = {big} }},
]
"""


async def test_download_key_queues_the_chosen_quant_and_it_arrives(tmp_path, monkeypatch):
    small, big = small_gguf(50_000, seed=1), small_gguf(90_000, seed=2)
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(TINY_CATALOG.format(small=len(small), big=len(big))), encoding="utf-8")
    requested = []

    def hook(message):
        if isinstance(message, CatalogScreen.DownloadRequested):
            requested.append((message.repo_id, message.filename))

    with HubServer() as hub:
        hub.add_file("tests/Tiny-GGUF", "tiny.Q4_K_M.gguf", small)
        hub.add_file("tests/Tiny-GGUF", "tiny.Q8_0.gguf", big)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        app = make_app(config=AppConfig())
        async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
            screen = await open_catalog(app, pilot, catalog=cat.load_catalog(path), hardware=BIG)
            assert shown_ids(screen) == ["tiny-local"]
            await pilot.press("right_square_bracket", "d")
            assert requested == [("tests/Tiny-GGUF", "tiny.Q8_0.gguf")]
            target = locations.models_dir() / "tiny.Q8_0.gguf"
            await wait_until(pilot, lambda: target.is_file())
            assert target.read_bytes() == big
            await pilot.press("left_square_bracket", "enter")  # Enter on the row downloads too
            assert requested[-1] == ("tests/Tiny-GGUF", "tiny.Q4_K_M.gguf")
            await wait_until(pilot, lambda: (locations.models_dir() / "tiny.Q4_K_M.gguf").is_file())


async def test_a_model_too_large_for_this_machine_asks_first():
    requested = []

    def hook(message):
        if isinstance(message, CatalogScreen.DownloadRequested):
            requested.append(message.filename)

    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        await pilot.press("slash", *"mistral 7b instruct v0.2", "escape")
        assert shown_ids(screen) == ["mistral-7b-instruct-v0.2"]
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("enter")  # the first choice is Cancel
        await wait_until(pilot, lambda: app.screen is screen)
        assert requested == []
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: requested)
        assert requested == ["mistral-7b-instruct-v0.2.Q4_K_M.gguf"]


async def test_a_ggml_only_model_offers_no_download():
    requested = []
    app = make_app(config=AppConfig())
    hook = lambda m: requested.append(m) if isinstance(m, CatalogScreen.DownloadRequested) else None  # noqa: E731
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        screen = await open_catalog(app, pilot, hardware=BIG)
        await pilot.press("slash", *"dungeon 2 classic", "escape", "d")
        await pilot.pause()
        assert shown_ids(screen) == ["ai-dungeon-2-classic"]
        assert cell(screen, "ai-dungeon-2-classic|", "fit") == "– GGML"
        assert "GGML only" in text_of(screen, "#catalog-fit")
        assert requested == []
        assert app.screen is screen


async def test_fits_in_80x24_with_the_list_taking_the_room_and_details_on_a_key():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=BIG)
        table = table_of(screen)
        parts = [screen.query_one(f"#catalog-{name}") for name in ("title", "search", "summary", "legend")]
        for widget in (*parts, table):
            region = widget.region
            assert region.width > 0 and region.height > 0
            assert region.right <= 80 and region.bottom <= 23  # the footer keeps its line
        assert table.region.height >= 19  # header + 18 models
        assert table.virtual_size.width <= table.region.width  # no sideways scrolling
        assert not screen.query_one("#catalog-detail").display
        assert text_of(screen, "#catalog-summary") == cat.load_catalog().get("smollm2-135m-instruct").good_for

        await pilot.press("i")
        detail = screen.query_one("#catalog-detail")
        assert detail.display and not screen.query_one("#catalog-summary").display
        assert detail.region.height > 4 and detail.region.bottom <= 23
        assert "SmolLM2 135M Instruct" in text_of(screen, "#catalog-info")
        await pilot.press("i")
        assert not screen.query_one("#catalog-detail").display
        await pilot.press("right_square_bracket")  # walking the quants opens the details
        assert screen.query_one("#catalog-detail").display and screen.selected_quant == "Q8_0"


async def test_opens_from_home_with_c_and_probes_this_machine():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CatalogScreen) and app.screen.ready)
        screen = app.screen
        assert screen.hardware is not None and screen.hardware.ram_total > 0
        assert "RAM free" in text_of(screen, "#catalog-title")
        assert cell(screen, "smollm2-135m-instruct|Q4_1", "fit") != "… probing"


async def test_the_configured_vram_decides_the_badges_and_the_machine_is_probed_once(monkeypatch):
    from tui_llm.engine import llama
    from tui_llm.ui.screens.hardware import HardwareScreen

    monkeypatch.setattr(llama, "supports_gpu_offload", lambda: True)  # as with a CUDA build
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[hardware]\nvram_gb = 24\n", encoding="utf-8")
    app = make_app(runner=FakeRunner())  # the config comes from the file
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CatalogScreen) and app.screen.ready)
        catalog = app.screen
        gpu = catalog.hardware.gpus[0]
        assert (gpu.source, gpu.total_bytes) == ("manual", 24 * GIB)
        assert "24.0 GB VRAM" in text_of(catalog, "#catalog-title")
        assert cell(catalog, "mistral-7b-instruct-v0.2|Q4_K_M", "fit") == "✓ GPU"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HardwareScreen) and app.screen.ready)
        assert app.screen.hardware is catalog.hardware  # one probe for the whole app


async def test_a_broken_catalog_is_shown_not_crashed(tmp_path, monkeypatch):
    broken = tmp_path / "catalog.toml"
    broken.write_text('[[model]]\nid = "oops"\nname = "Oops"\n', encoding="utf-8")
    monkeypatch.setattr(cat.locations, "catalog_file", lambda: broken)
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        assert not screen.ready
        assert "model 1 (oops): 'family' is missing" in text_of(screen, "#catalog-summary")


async def test_a_search_looks_in_every_tier_until_the_user_narrows_it():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        await pilot.press("t", "t")  # 2 GB
        assert "tier: 2 GB" in text_of(screen, "#catalog-title")
        assert "qwen2.5-7b-instruct" not in shown_ids(screen)

        await pilot.press("slash", *"qwen 7b instruct", "enter")
        assert shown_ids(screen) == ["qwen2.5-7b-instruct"]  # an 8 GB model, found from the 2 GB tier
        assert "tier: all while searching" in text_of(screen, "#catalog-title")
        await pilot.press("escape")  # clears the search: the 2 GB tier comes back
        assert screen.query_one("#catalog-search", Input).value == ""
        assert "tier: 2 GB" in text_of(screen, "#catalog-title") and "qwen2.5-7b-instruct" not in shown_ids(screen)

        await pilot.press("slash", *"qwen", "enter", "t", "t")  # asked for: the search within 2 GB
        assert "tier: 2 GB" in text_of(screen, "#catalog-title")
        assert set(shown_ids(screen)) == {"qwen2.5-1.5b-instruct"}

        await pilot.press("slash", "end", *" nothing-like-it")  # the field selects all when focused
        assert shown_ids(screen) == []
        assert text_of(screen, "#catalog-summary") == (
            "No model matches 'qwen nothing-like-it' with tier 2 GB — Esc clears the search")
        await pilot.press("escape")  # from the search box too, when nothing matches
        assert screen.query_one("#catalog-search", Input).value == "" and shown_ids(screen)
        assert app.screen is screen


@pytest.mark.parametrize("size", [(60, 20), (44, 20)])
async def test_a_narrow_terminal_drops_columns_but_keeps_fit_and_speed(size):
    app = make_app(config=AppConfig())
    async with app.run_test(size=size) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        table = table_of(screen)
        columns = [c.key.value for c in table.ordered_columns]
        assert columns[0] == "name" and {"fit", "speed"} <= set(columns)
        assert "tier" not in columns and "needs" not in columns  # the first to go
        assert table.virtual_size.width <= table.region.width  # nothing scrolled off to the right
        assert cell(screen, "smollm2-135m-instruct|Q4_1", "fit") == "✓ RAM"
        assert cell(screen, "mistral-7b-instruct-v0.2|Q4_K_M", "fit") == "✗ too big"
        assert cell(screen, "mistral-7b-instruct-v0.2|Q4_K_M", "speed") == "-"
        assert cell(screen, "smollm2-135m-instruct|Q4_1", "speed").startswith("~")

        await pilot.resize_terminal(100, 24)  # and they come back when there is room
        await wait_until(pilot, lambda: len(table.ordered_columns) == 8)
        assert cell(screen, "smollm2-135m-instruct|Q4_1", "tier") == "Mini"


async def test_every_symbol_has_a_legend_on_screen_and_in_f1():
    from tui_llm.ui.dialogs.keys import KeysDialog
    from tui_llm.ui.widgets.fit_badge import BADGES

    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_catalog(app, pilot, hardware=SMALL)
        legend = text_of(screen, "#catalog-legend")
        for mark in {label.split()[0] for label, _ in BADGES.values()} | {"~", "★"}:
            assert f"{mark} " in legend
        await pilot.press("t", "t")
        assert cell(screen, "stablelm-2-1.6b-chat|Q4_K_M", "name").startswith("★ ")
        assert text_of(screen, "#catalog-summary").startswith("★ Balanced pick for 2 GB · ")

        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysDialog))
        shown = "\n".join(str(getattr(w.render(), "plain", "")) for w in app.screen.query(Static))
        for label, _ in BADGES.values():
            assert label in shown
        for words in ("~ marks an estimate", "★ recommended for the chosen tier", "Needs: RAM", "slow"):
            assert words in shown

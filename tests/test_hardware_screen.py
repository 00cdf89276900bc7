"""The hardware screen at 80x24, keyboard only, with injected machines and the real probe."""

from __future__ import annotations


from textual.widgets import DataTable, Static

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.machine.hardware import GPU, Hardware, ProbedOnce
from tui_llm.ui.screens.hardware import HardwareScreen
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.widgets.memory_bar import MemoryBar
from helpers import wait_until

GIB = 1024**3
SMALL = Hardware(ram_total=4 * GIB, ram_available=3 * GIB, cores_physical=2, cores_logical=4,
                 cpu_name="Test CPU", cpu_features=frozenset({"avx2"}), gpu_note="no NVIDIA GPU found")
ONE_GPU = Hardware(ram_total=32 * GIB, ram_available=24 * GIB, swap_total=8 * GIB, swap_free=6 * GIB,
                   gpus=(GPU("GeForce RTX 3070", 8 * GIB, 7 * GIB),))
TWO_GPUS = Hardware(ram_total=64 * GIB, ram_available=60 * GIB,
                    gpus=(GPU("RTX A", 24 * GIB, 23 * GIB, 0), GPU("RTX B", 12 * GIB, 2 * GIB, 1)))




def text_of(screen, selector: str) -> str:
    widget = screen.query_one(selector)
    rendered = widget.render()
    return str(getattr(rendered, "plain", rendered))


def fit_cell(screen: HardwareScreen, size: str, column: str) -> str:
    value = screen.fit_cell(size, column)
    return getattr(value, "plain", str(value))


async def open_from_home(app, pilot) -> HardwareScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    await pilot.press("h")
    await wait_until(pilot, lambda: isinstance(app.screen, HardwareScreen))
    screen = app.screen
    await wait_until(pilot, lambda: screen.ready or screen.error)
    await pilot.pause()
    return screen


async def test_key_h_opens_the_screen_with_bars_gpu_table_and_words():
    app = make_app(config=AppConfig(), hardware=ONE_GPU)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_home(app, pilot)
        ram = text_of(screen, "#hw-ram")
        assert ram.startswith("RAM") and "█" in ram and "░" in ram
        assert "8.0 GB used" in ram and "24.0 GB free of 32.0 GB" in ram
        assert "2.0 GB used" in text_of(screen, "#hw-swap")
        gpus = screen.query_one("#hw-gpus", DataTable)
        assert gpus.display and gpus.row_count == 1
        assert "GeForce RTX 3070" in str(gpus.get_row_at(0)[1])
        assert "about 8 GB tier" in text_of(screen, "#hw-words")
        # What fits: a 7B at Q4_K_M fits an 8 GB card entirely; a 70B does not fit at all.
        assert fit_cell(screen, "7B", "verdict") == "✓ GPU"
        on_gpu, total = fit_cell(screen, "7B", "layers").split("/")
        assert on_gpu == total and int(total) > 20  # every layer, output layer included
        assert fit_cell(screen, "70B", "verdict") == "✗ too big"
        assert fit_cell(screen, "0.5B", "ctx") == "32k"


async def test_without_a_gpu_it_says_so_and_judges_against_ram():
    app = make_app(config=AppConfig(), hardware=SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_home(app, pilot)
        assert not screen.query_one("#hw-gpus", DataTable).display
        note = text_of(screen, "#hw-gpu-note")
        assert "none" in note and "no NVIDIA GPU found" in note
        assert "Test CPU · 2 cores / 4 threads · AVX2" in text_of(screen, "#hw-cpu")
        assert text_of(screen, "#hw-swap").endswith("none")
        assert fit_cell(screen, "1B", "verdict") == "✓ RAM"
        assert fit_cell(screen, "7B", "verdict") == "✗ too big"
        assert fit_cell(screen, "1B", "layers") == "-"
        words = text_of(screen, "#hw-words")
        assert "free RAM" in words and "Q4_K_M" in words


async def test_two_gpus_are_two_rows():
    app = make_app(config=AppConfig(), hardware=TWO_GPUS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_home(app, pilot)
        gpus = screen.query_one("#hw-gpus", DataTable)
        assert gpus.row_count == 2
        assert [str(gpus.get_row_at(i)[1]) for i in range(2)] == ["RTX A", "RTX B"]
        assert "25.0 GB VRAM free" in text_of(screen, "#hw-title")


async def test_r_probes_again_and_escape_goes_back():
    calls = []

    def probe() -> Hardware:
        calls.append(1)
        return SMALL if len(calls) == 1 else ONE_GPU

    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        screen = HardwareScreen(ProbedOnce(probe))
        await app.push_screen(screen)
        await wait_until(pilot, lambda: screen.ready)
        assert screen.hardware is SMALL
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.hardware is ONE_GPU)
        await pilot.pause()
        assert len(calls) == 2
        assert screen.query_one("#hw-gpus", DataTable).row_count == 1
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_a_failing_probe_is_shown_not_raised():
    def probe() -> Hardware:
        raise OSError("psutil exploded")

    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        screen = HardwareScreen(ProbedOnce(probe))
        await app.push_screen(screen)
        await wait_until(pilot, lambda: bool(screen.error))
        await pilot.pause()
        assert "probing failed" in text_of(screen, "#hw-title")
        assert "psutil exploded" in text_of(screen, "#hw-title")
        assert app.is_running


async def test_the_real_probe_runs_off_the_event_loop():
    app = make_app(config=AppConfig())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_home(app, pilot)
        assert screen.hardware is not None and screen.hardware.ram_total > 0
        assert screen.query_one("#hw-fits", DataTable).row_count >= 10
        bar = screen.query_one("#hw-ram", MemoryBar)
        assert bar.total == screen.hardware.ram_total
        assert isinstance(screen.query_one("#hw-words", Static), Static)

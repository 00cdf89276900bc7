"""The hardware screen: RAM and VRAM bars, the CPU, the GPUs, and what fits, in words.

Keys: ``r`` probes again (free memory changes), Esc goes back. Probing runs
in a thread: NVML can take a moment to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from tui_llm.machine import tier
from tui_llm.machine.hardware import NO_OFFLOAD_NOTE
from tui_llm.machine.speed import format_rate
from tui_llm.units import human_size
from tui_llm.ui.widgets.fit_badge import badge_text
from tui_llm.ui.widgets.memory_bar import MemoryBar

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware, ProbedOnce

FIT_CONTEXT = 4096


def _features(machine: "Hardware") -> str:
    found = [label for name, label in (("avx2", "AVX2"), ("avx512", "AVX-512"), ("neon", "NEON"))
             if name in machine.cpu_features]
    return " ".join(found) if found else "no AVX2/AVX-512/NEON: expect slow generation"


def _speed(row: tier.SizeFit) -> Text:
    """``~16``, ``~1.9 slow`` (under chat speed) or ``-`` where it does not fit."""
    if not row.fits:
        return Text("-")
    rate = f"~{format_rate(row.speed.decode_tok_s)}"
    return Text(f"{rate} slow", style="yellow") if row.speed.too_slow else Text(rate)


def _context(tokens: int) -> str:
    if tokens <= 0:
        return "-"
    return f"{tokens // 1024}k" if tokens >= 1024 else str(tokens)


class HardwareScreen(Screen):
    """This machine, as the app probed it (off the event loop); ``r`` probes again."""

    DEFAULT_CSS = """
    HardwareScreen #hw-title { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    HardwareScreen MemoryBar, HardwareScreen #hw-cpu, HardwareScreen #hw-gpu-note { padding: 0 1; }
    HardwareScreen #hw-cpu, HardwareScreen #hw-gpu-note { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    HardwareScreen #hw-gpus { height: auto; max-height: 5; }
    HardwareScreen #hw-words { height: auto; padding: 0 1; border-top: solid $primary; }
    HardwareScreen #hw-fits { height: 1fr; }
    """

    BINDINGS = [
        Binding("r", "refresh", "Probe again", id="hardware.refresh"),
        Binding("escape", "back", "Back", id="hardware.back"),
    ]

    def __init__(self, machine: "ProbedOnce") -> None:
        super().__init__()
        self.machine = machine
        self.hardware: "Hardware | None" = None
        self.rows: list[tier.SizeFit] = []
        self.summary = ""
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static("Hardware · probing this machine …", id="hw-title")
        yield MemoryBar("RAM", id="hw-ram")
        yield MemoryBar("Swap", id="hw-swap")
        yield Static("", id="hw-cpu")
        yield Static("", id="hw-gpu-note")
        yield DataTable(id="hw-gpus", cursor_type="none", show_cursor=False)
        yield Static("", id="hw-words")
        yield DataTable(id="hw-fits", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        gpus = self.query_one("#hw-gpus", DataTable)
        gpus.add_column("#", key="index")
        gpus.add_column("GPU", key="name")
        gpus.add_column("VRAM used / total", key="bar")
        gpus.add_column("Free", key="free")
        gpus.display = False
        fits = self.query_one("#hw-fits", DataTable)
        fits.add_column("Model", key="size")
        fits.add_column("Q4_K_M file", key="file")
        fits.add_column(f"At {_context(FIT_CONTEXT)} context", key="verdict")
        fits.add_column("GPU layers", key="layers")
        fits.add_column("Max context", key="ctx")
        fits.add_column("Tok/s", key="speed")
        fits.focus()
        self.load()

    @property
    def ready(self) -> bool:
        return self.hardware is not None

    # --- probing off the event loop ------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="hardware", description="probe hardware")
    def load(self, again: bool = False) -> tuple["Hardware", str, list[tier.SizeFit]]:
        machine = self.machine.again() if again else self.machine.get()
        return machine, tier.tier_summary(machine), tier.size_fits(machine, FIT_CONTEXT)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "hardware":
            return
        if event.state == WorkerState.SUCCESS:
            self.hardware, self.summary, self.rows = event.worker.result
            self.error = ""
            self.show()
        elif event.state == WorkerState.ERROR:
            self.error = f"{type(event.worker.error).__name__}: {event.worker.error}"
            self.query_one("#hw-title", Static).update(Text(f"Hardware · probing failed: {self.error}"))

    # --- showing -------------------------------------------------------------------

    def show(self) -> None:
        machine = self.hardware
        assert machine is not None
        self.query_one("#hw-title", Static).update(
            Text(f"Hardware · {human_size(machine.ram_available)} RAM free"
                 + (f" · {human_size(machine.vram_free)} VRAM free" if machine.gpus else " · no GPU"))
        )
        self.query_one("#hw-ram", MemoryBar).set_usage(machine.ram_used, machine.ram_total)
        swap_used = machine.swap_total - machine.swap_free
        self.query_one("#hw-swap", MemoryBar).set_usage(swap_used, machine.swap_total)
        self.query_one("#hw-cpu", Static).update(Text(
            f"CPU   {machine.cpu_name} · {machine.cores_physical} cores / "
            f"{machine.cores_logical} threads · {_features(machine)}"
        ))
        note = self.query_one("#hw-gpu-note", Static)
        gpus = self.query_one("#hw-gpus", DataTable)
        gpus.clear()
        if machine.gpus:
            usable = "" if machine.gpu_offload else " · llama.cpp here cannot use it"
            note.update(Text(f"GPU   {len(machine.gpus)} found{usable}"))
            for gpu in machine.gpus:
                source = " (set by hand)" if gpu.source == "manual" else ""
                gpus.add_row(str(gpu.index), gpu.name + source, _vram_bar(gpu), human_size(gpu.free_bytes),
                             key=f"gpu{gpu.index}")
            gpus.display = True
        else:
            note.update(Text(f"GPU   none · {machine.gpu_note or 'no NVIDIA GPU found'} · "
                             "set [hardware] vram_gb in config.toml for a GPU NVML cannot see"))
            gpus.display = False
        words = f"In words: {self.summary}"
        if machine.gpus and not machine.gpu_offload:
            words += f"\nNote: {NO_OFFLOAD_NOTE}"
        self.query_one("#hw-words", Static).update(Text(words))
        fits = self.query_one("#hw-fits", DataTable)
        fits.clear()
        for row in self.rows:
            judged = row.verdict
            layers = f"{judged.gpu_layers}/{judged.total_layers}" if machine.usable_gpus else "-"
            fits.add_row(row.label, human_size(row.file_bytes), badge_text(judged.kind), layers,
                         _context(judged.max_context), _speed(row), key=row.label)

    def fit_cell(self, size_label: str, column: str) -> Any:
        """The text of one cell of the what-fits table (for tests and the palette)."""
        table = self.query_one("#hw-fits", DataTable)
        return table.get_cell(size_label, column)

    # --- actions -----------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.query_one("#hw-title", Static).update(Text("Hardware · probing this machine …"))
        self.load(again=True)

    def action_back(self) -> None:
        self.app.pop_screen()


def _vram_bar(gpu: Any, cells: int = 16) -> Text:
    filled = round(cells * gpu.used_bytes / gpu.total_bytes) if gpu.total_bytes else 0
    text = Text("█" * filled, style="yellow")
    text.append("░" * (cells - filled), style="dim")
    text.append(f" {human_size(gpu.used_bytes)} / {human_size(gpu.total_bytes)}")
    return text

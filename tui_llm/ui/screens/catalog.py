"""The catalog screen: curated models by RAM tier, with a fit badge for this machine.

Keys: ``/`` search as you type, ``t``/``T`` tier, ``u`` use, ``f`` fits only,
``[``/``]`` walk the quant ladder of the highlighted model, ``d`` or Enter to
download the chosen quant, ``H`` search the whole hub (the hub screen), Esc back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui_llm.models import catalog as cat
from tui_llm.machine import catalog_fit
from tui_llm.units import human_size
from tui_llm.ui.widgets.fit_badge import FitBadge, badge_text
from tui_llm.ui.widgets.ordered_input import OrderedInput

if TYPE_CHECKING:
    from tui_llm.machine.hardware import Hardware, ProbedOnce

TIER_CHOICES: tuple[int | None, ...] = (None, *catalog_fit.TIERS)
USE_CHOICES: tuple[str | None, ...] = (None, *cat.USES)
NAME_WIDTH = 20


def _needs(rung: catalog_fit.Rung) -> str:
    return human_size(rung.ram_needed) if rung.ram_needed else "?"


def _size(rung: catalog_fit.Rung) -> str:
    return ("" if rung.size_exact else "~") + human_size(rung.size)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class CatalogScreen(Screen):
    """Browse the catalog, judged against this machine as the app probed it (off the event loop)."""

    DEFAULT_CSS = """
    CatalogScreen #catalog-title { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    CatalogScreen #catalog-search { height: 1; border: none; padding: 0 1; }
    CatalogScreen #catalog-table { height: 1fr; }
    CatalogScreen #catalog-detail { height: 13; border-top: solid $primary; padding: 0 1; }
    CatalogScreen #catalog-info, CatalogScreen #catalog-ladder { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    BINDINGS = [
        Binding("d", "download", "Download", id="catalog.download"),
        Binding("slash", "search", "Search", id="catalog.search"),
        Binding("t", "tier(1)", "Tier", id="catalog.tier"),
        Binding("T", "tier(-1)", "Tier back", id="catalog.tier_back", show=False),
        Binding("u", "use", "Use", id="catalog.use"),
        Binding("f", "fits", "Fits only", id="catalog.fits"),
        Binding("H", "hub", "Hub", id="catalog.hub"),
        Binding("left_square_bracket", "quant(-1)", "Smaller quant", id="catalog.quant_down", show=False),
        Binding("right_square_bracket", "quant(1)", "Bigger quant", id="catalog.quant_up", show=False),
        Binding("escape", "back", "Back", id="catalog.back"),
    ]

    class DownloadRequested(Message):
        """The user asked for one quant of a catalog model."""

        def __init__(self, entry: cat.CatalogEntry, quant_file: cat.QuantFile) -> None:
            super().__init__()
            self.entry = entry
            self.quant_file = quant_file

        @property
        def repo_id(self) -> str:
            return self.entry.repo_id

        @property
        def filename(self) -> str:
            return self.quant_file.filename

    def __init__(self, machine: "ProbedOnce", catalog: cat.Catalog | None = None) -> None:
        super().__init__()
        self.machine = machine
        self.catalog = catalog
        self.hardware: "Hardware | None" = machine.known
        self.view: catalog_fit.CatalogView | None = None
        self.error = ""
        self.tier: int | None = None
        self.use: str | None = None
        self.fits_only = False
        self.search_text = ""
        self.rows: dict[str, catalog_fit.Row] = {}
        self.selected_quant: str | None = None
        self.template_titles: dict[str, str] = {}

    # --- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Model catalog", id="catalog-title")
        yield OrderedInput(placeholder="/ to search: name, family, use …", id="catalog-search")
        table: DataTable = DataTable(id="catalog-table", cursor_type="row")
        yield table
        with VerticalScroll(id="catalog-detail"):
            yield Static("Reading the catalog and probing this machine …", id="catalog-info")
            yield Static("", id="catalog-ladder")
            yield FitBadge("", id="catalog-fit")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#catalog-table", DataTable)
        table.add_column("Model", key="name", width=NAME_WIDTH)
        table.add_column("Params", key="params")
        table.add_column("Quant", key="quant")
        table.add_column("Size", key="size")
        table.add_column("Needs", key="needs")
        table.add_column("Tier", key="tier")
        table.add_column("Fit", key="fit")
        table.focus()
        self._update_title()
        self.prepare()

    @property
    def ready(self) -> bool:
        return self.view is not None

    # --- loading off the event loop -----------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="catalog", description="catalog: probe + fit")
    def prepare(self) -> tuple[catalog_fit.CatalogView, dict[str, str]]:
        from tui_llm.models.catalog_resolved import load_current

        catalog = self.catalog or load_current()
        return catalog_fit.CatalogView(catalog, self.machine.get()).warm(), _template_titles()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "catalog":
            return
        if event.state == WorkerState.SUCCESS:
            self.view, self.template_titles = event.worker.result
            self.catalog = self.view.catalog
            self.hardware = self.view.hardware
            self.refresh_table()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self.error = str(error) if isinstance(error, cat.CatalogError) else f"{type(error).__name__}: {error}"
            self.query_one("#catalog-info", Static).update(Text(f"The catalog could not be shown: {self.error}"))
            self._update_title()

    # --- the table -------------------------------------------------------------------

    def _update_title(self) -> None:
        tier = catalog_fit.tier_label(self.tier) if self.tier else "all"
        use = cat.USE_LABELS[self.use] if self.use else "all"
        shown = f" · {len(self.rows)} shown" if self.view else ""
        fits = " · fits only" if self.fits_only else ""
        machine = ""
        if self.hardware is not None:
            gpu = f", {human_size(self.hardware.vram_free)} VRAM" if self.hardware.gpus else ""
            machine = f" · {human_size(self.hardware.ram_available)} RAM free{gpu}"
        self.query_one("#catalog-title", Static).update(
            Text(f"Catalog · tier: {tier} · use: {use}{fits}{shown}{machine}")
        )

    def current_rows(self) -> list[catalog_fit.Row]:
        if self.view is None:
            return []
        return self.view.rows(tier=self.tier, use=self.use, text=self.search_text, fits_only=self.fits_only)

    def refresh_table(self) -> None:
        table = self.query_one("#catalog-table", DataTable)
        previous = self.highlighted_key()
        table.clear()
        self.rows = {}
        for row in self.current_rows():
            key = f"{row.entry.id}|{row.rung.quant if row.rung else ''}"
            self.rows[key] = row
            name = ("★ " if row.picks and self.tier else "") + row.entry.name
            rung = row.rung
            if rung is None:
                cells: list[Any] = [_short(name, NAME_WIDTH), row.entry.params_label, "-", "-", "-",
                                    catalog_fit.tier_label(row.tier), badge_text(None, ggml=True)]
            else:
                cells = [_short(name, NAME_WIDTH), row.entry.params_label, rung.quant, _size(rung),
                         _needs(rung), catalog_fit.tier_label(row.tier), badge_text(rung.kind)]
            table.add_row(*cells, key=key)
        self._update_title()
        if previous in self.rows:
            table.move_cursor(row=table.get_row_index(previous))
        else:
            if self.rows:
                table.move_cursor(row=0)
            row = self.highlighted_row()
            self.selected_quant = row.rung.quant if row and row.rung else None
        self.show_detail()

    def highlighted_key(self) -> str | None:
        table = self.query_one("#catalog-table", DataTable)
        if not self.rows or table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor is outside the (just cleared) table
            return None

    def highlighted_row(self) -> catalog_fit.Row | None:
        key = self.highlighted_key()
        return self.rows.get(key) if key else None

    @on(DataTable.RowHighlighted, "#catalog-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = self.rows.get(event.row_key.value or "")
        self.selected_quant = row.rung.quant if row and row.rung else None
        self.show_detail()

    @on(DataTable.RowSelected, "#catalog-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_download()

    # --- the detail pane ---------------------------------------------------------------

    def selected_rung(self) -> catalog_fit.Rung | None:
        row = self.highlighted_row()
        if row is None or self.view is None or row.rung is None:
            return None
        quant = self.selected_quant
        if row.entry.file(quant) is None:
            quant = row.rung.quant
        return self.view.rung(row.entry, quant)

    def show_detail(self) -> None:
        info = self.query_one("#catalog-info", Static)
        badge = self.query_one("#catalog-fit", FitBadge)
        ladder = self.query_one("#catalog-ladder", Static)
        row = self.highlighted_row()
        if row is None:
            info.update(Text(self.error or "No model matches. Esc clears nothing; change the filters (t, u, f) or the search."))
            badge.update("")
            ladder.update("")
            return
        entry = row.entry
        uses = ", ".join(cat.USE_LABELS[u] for u in entry.uses)
        template = self.template_titles.get(entry.template, entry.template)
        lines = [
            Text.assemble((entry.name, "bold"), f" · {entry.family} · {entry.params_label} · "
                          f"{entry.context:,} ctx · {entry.licence}"),
            Text(entry.good_for),
            Text(f"Template: {template} · {uses} · {entry.repo_id}"),
        ]
        if entry.picks:
            lines.append(Text("Seed guide pick: " + ", ".join(
                f"{p.tier} GB {p.role} ({p.quant})" for p in entry.picks)))
        joined = Text("\n").join(lines)
        info.update(joined)
        rung = self.selected_rung()
        if rung is None:
            badge.show(None, "GGML only: llama.cpp no longer loads this format (KoboldCpp still does).", ggml=True)
            ladder.update("")
            return
        badge.show(rung.kind, rung.explanation)
        ladder.update(self._ladder_text(entry, rung.quant))

    def _ladder_text(self, entry: cat.CatalogEntry, chosen: str) -> Text:
        assert self.view is not None
        self.query_one("#catalog-detail").border_title = (
            f"quants at {catalog_fit.default_context(entry):,} tokens, needs = RAM without a GPU · [ ] · d"
        )
        text = Text()
        for rung in self.view.ladder(entry):
            mark = "▶ " if rung.quant == chosen else "  "
            text.append(f"{mark}{rung.quant:<10}{_size(rung):>10}  needs {_needs(rung):>8}  ")
            text.append_text(badge_text(rung.kind))
            if rung.quant == entry.recommended:
                text.append("  recommended", style="dim")
            text.append("\n")
        text.rstrip()
        return text

    # --- actions -----------------------------------------------------------------------

    def action_back(self) -> None:
        search = self.query_one("#catalog-search", Input)
        if search.has_focus:
            self.query_one("#catalog-table", DataTable).focus()
        else:
            self.app.pop_screen()

    def action_search(self) -> None:
        self.query_one("#catalog-search", Input).focus()

    def action_hub(self) -> None:
        """Search the hub for any GGUF, starting from what was typed here."""
        from tui_llm.ui.screens.hub import HubScreen

        self.app.push_screen(HubScreen(self.machine, self.search_text))

    @on(Input.Changed, "#catalog-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search_text = event.value
        self.refresh_table()

    @on(Input.Submitted, "#catalog-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#catalog-table", DataTable).focus()

    def action_tier(self, step: int) -> None:
        index = (TIER_CHOICES.index(self.tier) + step) % len(TIER_CHOICES)
        self.tier = TIER_CHOICES[index]
        self.refresh_table()

    def action_use(self) -> None:
        index = (USE_CHOICES.index(self.use) + 1) % len(USE_CHOICES)
        self.use = USE_CHOICES[index]
        self.refresh_table()

    def action_fits(self) -> None:
        self.fits_only = not self.fits_only
        self.refresh_table()

    def action_quant(self, step: int) -> None:
        row = self.highlighted_row()
        if row is None or self.view is None or row.rung is None:
            return
        quants = [r.quant for r in self.view.ladder(row.entry)]
        current = self.selected_quant if self.selected_quant in quants else row.rung.quant
        self.selected_quant = quants[max(0, min(len(quants) - 1, quants.index(current) + step))]
        self.show_detail()

    def action_download(self) -> None:
        row = self.highlighted_row()
        if row is None:
            return
        rung = self.selected_rung()
        if rung is None or not row.entry.downloadable:
            self.notify(f"{row.entry.name} exists only in the old GGML format; nothing to download.",
                        severity="warning")
            return
        if rung.verdict is not None and not rung.verdict.fits:
            self._confirm_too_large(row.entry, rung)
            return
        self.request_download(row.entry, rung.quant_file)

    @work(exclusive=True, group="catalog-confirm")
    async def _confirm_too_large(self, entry: cat.CatalogEntry, rung: catalog_fit.Rung) -> None:
        from tui_llm.ui.dialogs.choice import ChoiceDialog

        explanation = rung.verdict.explanation if rung.verdict else ""
        answer = await self.app.push_screen_wait(ChoiceDialog(
            f"{entry.name} {rung.quant} is too large for this machine: {explanation}",
            [("cancel", "Cancel"), ("download", f"Download anyway ({_size(rung)})")],
        ))
        if answer == "download":
            self.request_download(entry, rung.quant_file)

    def request_download(self, entry: cat.CatalogEntry, quant_file: cat.QuantFile) -> None:
        """Ask for the file; the app's download queue takes the message and says it was queued."""
        self.post_message(self.DownloadRequested(entry, quant_file))


def _template_titles() -> dict[str, str]:
    """Preset name -> its title ("mistral" -> "Mistral / Mixtral [INST]")."""
    try:
        from tui_llm.prompts.templates import load_presets

        return {name: getattr(t, "title", "") or name for name, t in load_presets().items()}
    except Exception:  # a broken presets folder must not break the catalog
        return {}

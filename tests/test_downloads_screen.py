"""The downloads and local-models screens, driven by keys, with the real client and a local hub."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from hubserver import Fault, HubServer, small_gguf
from textual.widgets import Input, OptionList, ProgressBar

from tui_llm.app_factory import make_app
from tui_llm.config import AppConfig
from tui_llm.hub.queue import CANCELLED, DONE, DOWNLOADING, FAILED, PAUSED, JobStatus
from tui_llm.hub.partials import partial_path
from tui_llm.models.local import hf_cache_dir
from tui_llm.ui.messages import DownloadUpdated
from tui_llm.ui.screens.chat import ChatScreen
from tui_llm.ui.screens.downloads import DownloadsScreen, JobRow
from tui_llm.ui.screens.home import HomeScreen
from tui_llm.ui.screens.local_models import LocalModelsScreen
from helpers import wait_until

REPO = "test-org/tiny-GGUF"
FILE = "tiny.Q4_0.gguf"
DATA = small_gguf(3_000_000, seed=50)
MODEL_REPO = "test-org/SmolLM2-GGUF"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def hub(monkeypatch, model_path):
    with HubServer() as server:
        server.add_file(REPO, FILE, DATA)
        server.add_file(MODEL_REPO, MODEL_FILE, model_path)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "models"




def row(app, job_id) -> JobRow:
    return next(r for r in app.screen.query(JobRow) if r.status.id == job_id)


def shown_state(app, job_id) -> str | None:
    """The state the screen shows for a job (None before its row appears)."""
    rows = [r for r in app.screen.query(JobRow) if r.status.id == job_id]
    return rows[0].status.state if rows else None


async def open_downloads(pilot, app):
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, DownloadsScreen))


async def test_queued_download_shows_progress_and_opens_a_chat(hub, models_dir):
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        job = app.enqueue_download(MODEL_REPO, MODEL_FILE)
        await wait_until(pilot, lambda: shown_state(app, job.id) == DONE)
        shown = row(app, job.id)
        bar = shown.query_one(ProgressBar)
        assert bar.total == bar.progress == (models_dir / MODEL_FILE).stat().st_size
        assert "verified" in str(shown.query_one(".job-detail").render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: app.screen.ready)
        assert app.runner.model_name


async def test_pause_resume_and_cancel_keys(hub, models_dir):
    hub.fault(REPO, FILE, Fault(chunk_delay=0.05, times=None))
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        job = app.enqueue_download(REPO, FILE)
        await wait_until(pilot, lambda: app.downloads.get(job.id).bytes_done > 0)
        await pilot.press("p")
        await wait_until(pilot, lambda: shown_state(app, job.id) == PAUSED)
        kept = partial_path(models_dir, FILE).stat().st_size
        assert 0 < kept < len(DATA)
        assert "kept" in str(row(app, job.id).query_one(".job-detail").render())
        await pilot.press("p")
        await wait_until(pilot, lambda: shown_state(app, job.id) in (DOWNLOADING, DONE))
        await wait_until(pilot, lambda: shown_state(app, job.id) == DONE, timeout=60)
        assert hub.transfers()[-1].range == f"bytes={kept}-"
        assert (models_dir / FILE).read_bytes() == DATA

        (models_dir / FILE).unlink()
        second = app.downloads.add(REPO, FILE)
        await wait_until(pilot, lambda: app.downloads.get(second.id).bytes_done > 0)
        app.screen.query_one("#downloads-list").index = len(app.screen.query(JobRow)) - 1
        await pilot.press("c")
        await wait_until(pilot, lambda: shown_state(app, second.id) == CANCELLED)
        assert not partial_path(models_dir, FILE).exists() and not (models_dir / FILE).exists()


async def test_failed_download_says_why_and_retries(hub, models_dir):
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        await pilot.press("r")
        assert [n.message for n in app._notifications] == ["Nothing to retry: there are no downloads here."]
        job = app.enqueue_download(REPO, "not-yet.gguf")
        await wait_until(pilot, lambda: shown_state(app, job.id) == FAILED)
        assert "has no file 'not-yet.gguf'" in str(row(app, job.id).query_one(".job-detail").render())
        hub.add_file(REPO, "not-yet.gguf", small_gguf(10_000, seed=51))
        await pilot.press("r")
        assert any("Retrying not-yet.gguf" in n.message for n in app._notifications)
        await wait_until(pilot, lambda: shown_state(app, job.id) == DONE)
        await pilot.press("r")
        assert any(n.message.startswith("Nothing to retry: not-yet.gguf is verified; only failed or cancelled")
                   for n in app._notifications)


async def test_clear_removes_failed_and_cancelled_rows_and_unreachable_says_what_to_do(models_dir, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        failed = app.enqueue_download(REPO, FILE)
        await wait_until(pilot, lambda: shown_state(app, failed.id) == FAILED)
        detail = str(row(app, failed.id).query_one(".job-detail").render())
        assert "cannot be reached" in detail and "HF_ENDPOINT" in detail
        assert str(models_dir) in app.downloads.get(failed.id).error
        await pilot.press("x")
        await wait_until(pilot, lambda: not app.screen.query(JobRow))
        assert app.downloads.jobs() == []
        assert "Nothing queued" in str(app.screen.query_one("#downloads-hint").render())


async def test_the_queue_survives_a_restart_and_resumes_its_partial(hub, models_dir):
    hub.fault(REPO, FILE, Fault(chunk_delay=0.5, times=None))
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        missing = app.enqueue_download(REPO, "gone.gguf")
        await wait_until(pilot, lambda: app.downloads.get(missing.id).state == FAILED)
        job = app.enqueue_download(REPO, FILE)
        await wait_until(pilot, lambda: app.downloads.get(job.id).bytes_done > 300_000)
    kept = partial_path(models_dir, FILE).stat().st_size
    assert 0 < kept < len(DATA)
    hub.clear_faults()
    again = make_app(config=AppConfig(models_dir=models_dir))
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: any(j.filename == FILE for j in again.downloads.jobs()))
        back = next(j for j in again.downloads.jobs() if j.filename == FILE)
        failed = next(j for j in again.downloads.jobs() if j.filename == "gone.gguf")
        assert failed.state == FAILED and "has no file" in failed.error
        await wait_until(pilot, lambda: again.downloads.get(back.id).state == DONE)
        assert (models_dir / FILE).read_bytes() == DATA
        assert any(t.range == f"bytes={kept}-" for t in hub.transfers(""))
    third = make_app(config=AppConfig(models_dir=models_dir))
    async with third.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert all(j.filename != FILE for j in third.downloads.jobs())  # done jobs are not kept


async def test_add_key_queues_a_typed_file_and_refuses_a_hostile_one(hub, models_dir):
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        await pilot.press("a")
        field = app.screen.query_one("#downloads-add", Input)
        assert field.has_focus
        await pilot.press(*f"{REPO} ../../evil.gguf")  # letters typed here are not screen keys (r, c)
        await pilot.press("enter")
        assert app.downloads.jobs() == [] and field.has_focus
        field.value = f"{REPO} {FILE}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.downloads.jobs() and app.downloads.jobs()[0].state == DONE)
        assert hashlib.sha256((models_dir / FILE).read_bytes()).hexdigest() == hashlib.sha256(DATA).hexdigest()
        assert not field.has_focus


def test_progress_messages_for_one_job_coalesce():
    def update(job_id, done):
        return DownloadUpdated(JobStatus(job_id, REPO, FILE, DOWNLOADING, bytes_done=done, total=10))

    assert update(1, 5).can_replace(update(1, 4))
    assert not update(1, 5).can_replace(update(2, 4))


@pytest.fixture
def hf_cache():
    """huggingface_hub's cache of this test run (tests/conftest.py), emptied afterwards."""
    cache = hf_cache_dir()
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


async def test_local_models_screen_finds_models_and_opens_a_chat(models_dir, model_path, hf_cache):
    cache = hf_cache / "models--org--SmolLM2-GGUF"
    blob = cache / "blobs" / ("b" * 64)
    blob.parent.mkdir(parents=True)
    try:
        os.link(model_path, blob)
    except OSError:  # another filesystem
        shutil.copyfile(model_path, blob)
    snapshot = cache / "snapshots" / ("c" * 40) / MODEL_FILE
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(blob)
    models_dir.mkdir(parents=True)
    (models_dir / "broken.gguf").write_bytes(b"not a model")

    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LocalModelsScreen) and app.screen.scanned)
        listing = app.screen.query_one(OptionList)
        options = [listing.get_option_at_index(i) for i in range(listing.option_count)]
        assert [o.id for o in options] == [f"bad:{models_dir / 'broken.gguf'}", f"model:{snapshot}"]
        assert "✗" in str(options[0].prompt) and "not a GGUF file" in str(options[0].prompt)
        listing.highlighted = 0
        await pilot.press("enter")  # a file that cannot run does not open
        await pilot.pause()
        assert isinstance(app.screen, LocalModelsScreen)
        listing.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert app.runner.model_name


async def test_enqueue_from_another_screen_refuses_a_hostile_name_without_crashing(hub, models_dir):
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert app.enqueue_download(REPO, "../outside.gguf") is None
        assert app.downloads.jobs() == [] and hub.log == []
        job = app.enqueue_download(REPO, FILE)
        await wait_until(pilot, lambda: app.downloads.get(job.id).state == DONE)
        assert (models_dir / FILE).read_bytes() == DATA


async def test_a_download_without_a_hub_checksum_says_it_is_not_verified(hub, models_dir):
    hub.add_file(REPO, "plain.Q4_0.gguf", DATA, lfs=False)
    app = make_app(config=AppConfig(models_dir=models_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_downloads(pilot, app)
        job = app.enqueue_download(REPO, "plain.Q4_0.gguf")
        await wait_until(pilot, lambda: shown_state(app, job.id) == DONE)
        shown = row(app, job.id)
        assert not shown.status.verified and shown.status.error is None
        assert "not verified: the hub published no checksum" in str(shown.query_one(".job-detail").render())
        assert "not verified" in str(shown.title.render())
        assert (models_dir / "plain.Q4_0.gguf").read_bytes() == DATA

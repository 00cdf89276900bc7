"""Downloads with the real huggingface_hub client against a local hub that misbehaves on demand."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hubserver import Fault, HubServer, small_gguf

from tui_llm.hub.downloads import download_file
from tui_llm.hub.errors import (
    DownloadCancelled,
    DownloadError,
    HubUnreachable,
    NotEnoughSpace,
    RepoUnavailable,
    UnsafeFilename,
    VerificationError,
)
from tui_llm.hub.metadata import repo_gguf_files
from tui_llm.hub.partials import partial_path
from tui_llm.models.local import Places, discover

MODEL_REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMALL_REPO = "test-org/tiny-GGUF"
SMALL_FILE = "tiny.Q4_0.gguf"
SMALL = small_gguf(3_000_000, seed=1)
FAST = dict(backoff=0.01, max_backoff=0.05)


@pytest.fixture
def hub(model_path):
    with HubServer() as server:
        server.add_file(MODEL_REPO, MODEL_FILE, model_path)
        server.add_file(MODEL_REPO, "README.md", b"# a model card\n", lfs=False)
        server.add_file(SMALL_REPO, SMALL_FILE, SMALL)
        server.add_file(SMALL_REPO, "extra/tiny.Q8_0.gguf", small_gguf(2000, seed=2))
        yield server


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """What is in ``folder``, apart from the test's own tui-llm home (conftest's isolated_home)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != "tui-llm-home")


def test_complete_download_is_verified(hub, model_path, tmp_path):
    seen = []
    result = download_file(MODEL_REPO, MODEL_FILE, tmp_path, endpoint=hub.url, progress=seen.append)
    assert result.verified
    assert result.path == tmp_path / MODEL_FILE
    assert result.size == model_path.stat().st_size
    assert result.sha256 == hub._repos[MODEL_REPO].files[MODEL_FILE].sha256
    assert result.path.read_bytes() == model_path.read_bytes()
    assert leftovers(tmp_path) == [MODEL_FILE]  # no .partial or marker left behind
    done = [p.bytes_done for p in seen]
    assert done == sorted(done) and done[-1] == result.size and all(p.total == result.size for p in seen)
    # The hub answered the metadata request with a redirect; the bytes came from the "CDN".
    head = [r for r in hub.log if r.method == "HEAD"]
    assert head and head[0].role == "hub" and head[0].status == 302
    (transfer,) = hub.transfers()
    assert transfer.role == "cdn" and transfer.range is None and transfer.bytes_sent == result.size


def test_local_hub_speaks_the_protocol_the_real_client_expects(hub, tmp_path):
    """The stock client downloads, lists and describes files from the test hub."""
    from huggingface_hub import HfApi, hf_hub_download

    path = hf_hub_download(SMALL_REPO, SMALL_FILE, local_dir=tmp_path, endpoint=hub.url)
    assert Path(path).read_bytes() == SMALL
    api = HfApi(endpoint=hub.url)
    assert {s.rfilename for s in api.model_info(SMALL_REPO).siblings} == {SMALL_FILE, "extra/tiny.Q8_0.gguf"}
    (info,) = api.get_paths_info(SMALL_REPO, [SMALL_FILE])
    assert info.lfs.sha256 == sha256(SMALL)
    files = {f.path: f for f in repo_gguf_files(SMALL_REPO, endpoint=hub.url)}
    assert set(files) == {SMALL_FILE, "extra/tiny.Q8_0.gguf"}
    assert files[SMALL_FILE].size == len(SMALL) and files[SMALL_FILE].sha256 == sha256(SMALL)


def test_dropped_connection_is_resumed_with_range_requests(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(drop_after=1_000_000, times=2))
    notes = []
    result = download_file(
        SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url,
        progress=lambda p: p.note and notes.append(p.note), **FAST,
    )
    assert result.verified and result.path.read_bytes() == SMALL
    transfers = hub.transfers()
    assert [t.range for t in transfers] == [None, "bytes=1000000-", "bytes=2000000-"]
    assert sum(t.bytes_sent for t in transfers) == len(SMALL)  # not one byte fetched twice
    assert any("dropped" in n for n in notes)


def test_stalled_server_times_out_and_resumes(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(stall_after=500_000, stall_seconds=30))
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, read_timeout=0.5, **FAST)
    assert result.verified
    assert [t.range for t in hub.transfers()][-1] == "bytes=500000-"


def test_server_errors_are_retried(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(status=503, times=2))
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, **FAST)
    assert result.verified
    statuses = [r.status for r in hub.log if r.role == "cdn"]
    assert statuses == [503, 503, 200]


def test_persistent_server_errors_give_up_and_keep_the_bytes(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(drop_after=1_000_000, times=1))
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(status=500, times=None))
    with pytest.raises(DownloadError, match="gave up after 2 retries"):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, retries=2, **FAST)
    assert not (tmp_path / SMALL_FILE).exists()
    assert partial_path(tmp_path, SMALL_FILE).stat().st_size == 1_000_000
    hub.clear_faults()
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.resumed_from == 1_000_000
    assert hub.transfers()[-1].range == "bytes=1000000-"


def test_metadata_errors_on_the_hub_are_retried(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(status=502, on_head=True, times=2))
    assert download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, **FAST).verified
    assert [r.status for r in hub.log if r.method == "HEAD"] == [502, 502, 302]


def test_killed_process_resumes_from_the_partial_file(hub, model_path, tmp_path):
    """A download in another process is killed mid-file; the next run fetches only the rest."""
    size = model_path.stat().st_size
    stall_at = 40_000_000
    hub.fault(MODEL_REPO, MODEL_FILE, Fault(stall_after=stall_at, stall_seconds=120))
    partial = partial_path(tmp_path, MODEL_FILE)
    env = dict(os.environ, HF_ENDPOINT=hub.url)
    child = subprocess.Popen(
        [sys.executable, "-m", "tui_llm", "download", MODEL_REPO, MODEL_FILE, "--dest", str(tmp_path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (hub.stalled.is_set() and partial.exists() and partial.stat().st_size >= stall_at - 1_000_000):
            assert child.poll() is None, "the download ended before it was killed"
            assert time.monotonic() < deadline, "the download never reached the stall"
            time.sleep(0.05)
        time.sleep(0.2)  # let the last chunk reach the disk
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    kept = partial.stat().st_size
    assert 0 < kept <= stall_at
    assert not (tmp_path / MODEL_FILE).exists()

    hub.clear_faults()
    result = download_file(MODEL_REPO, MODEL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.resumed_from == kept and result.fetched == size - kept
    last = hub.transfers()[-1]
    assert last.range == f"bytes={kept}-"
    assert last.bytes_sent == size - kept < size
    assert result.path.read_bytes() == model_path.read_bytes()
    assert leftovers(tmp_path) == [MODEL_FILE]


def test_cancel_keeps_the_bytes_and_the_next_run_resumes(hub, tmp_path):
    cancel = threading.Event()

    def stop_midway(progress):
        if progress.bytes_done >= 1_000_000:
            cancel.set()

    hub.fault(SMALL_REPO, SMALL_FILE, Fault(stall_after=1_000_000, stall_seconds=0.3))
    with pytest.raises(DownloadCancelled):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, progress=stop_midway,
                      cancel=cancel, progress_interval=0)
    kept = partial_path(tmp_path, SMALL_FILE).stat().st_size
    assert 0 < kept < len(SMALL)
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.resumed_from == kept


def test_server_ignoring_range_restarts_cleanly(hub, tmp_path):
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(drop_after=1_000_000, times=1))
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(ignore_range=True, times=1))
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, **FAST)
    assert result.verified and result.path.read_bytes() == SMALL
    assert [t.status for t in hub.transfers()] == [200, 200]


@pytest.mark.parametrize(
    "fault, words",
    [
        (Fault(wrong_hash=True, times=None), "SHA-256 mismatch"),
        (Fault(flip_byte_at=1_234_567, times=None), "SHA-256 mismatch"),
        (Fault(wrong_size=1000, times=None), "size mismatch"),
        (Fault(wrong_size=-1000, times=None), "size mismatch"),
    ],
    ids=["wrong-hash", "corrupt-byte", "too-big", "too-small"],
)
def test_a_file_that_does_not_match_is_deleted_and_not_offered(hub, tmp_path, fault, words):
    hub.fault(SMALL_REPO, SMALL_FILE, fault)
    with pytest.raises(VerificationError, match=words) as caught:
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, **FAST)
    assert "deleted" in str(caught.value) or "size mismatch" in str(caught.value)
    assert leftovers(tmp_path) == []
    assert discover(places=Places(models_dirs=[tmp_path])) == []


def test_corrupt_bytes_kept_from_an_earlier_run_get_one_clean_retry(hub, tmp_path):
    partial = partial_path(tmp_path, SMALL_FILE)
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(drop_after=1_000_000, times=1))
    hub.fault(SMALL_REPO, SMALL_FILE, Fault(status=500, times=None))
    with pytest.raises(DownloadError):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, retries=0)
    data = bytearray(partial.read_bytes())
    data[500] ^= 0xFF  # bit rot in the kept bytes
    partial.write_bytes(bytes(data))
    hub.clear_faults()
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.path.read_bytes() == SMALL
    assert [t.range for t in hub.transfers()][-2:] == ["bytes=1000000-", None]


def test_bytes_from_another_version_of_the_file_are_not_reused(hub, tmp_path):
    partial = partial_path(tmp_path, SMALL_FILE)
    tmp_path.mkdir(exist_ok=True)
    partial.write_bytes(b"GGUF" + bytes(999_996))
    partial.with_name(partial.name + ".json").write_text('{"size": 1, "sha256": "00"}')
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.resumed_from == 0
    assert hub.transfers()[-1].range is None


def test_not_enough_disk_is_refused_before_any_byte(hub, tmp_path):
    def tiny_disk(path):
        return SimpleNamespace(total=10_000_000, used=9_000_000, free=1_000_000)

    with pytest.raises(NotEnoughSpace, match="Not enough free disk"):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, disk_usage=tiny_disk)
    assert hub.transfers() == []
    assert not (tmp_path / SMALL_FILE).exists() and not partial_path(tmp_path, SMALL_FILE).exists()


def test_disk_check_keeps_a_margin(hub, tmp_path):
    def just_enough(path):
        return SimpleNamespace(free=len(SMALL) + 10)

    with pytest.raises(NotEnoughSpace):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, disk_usage=just_enough)
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url,
                           disk_usage=just_enough, min_free_margin=0)
    assert result.verified


@pytest.mark.parametrize(
    "name",
    ["../evil.gguf", "a/../../evil.gguf", "/etc/evil.gguf", "C:/evil.gguf", "a\\..\\evil.gguf",
     "model.bin", "", ".gguf", "a//b.gguf", "./x.gguf", "x.gguf\n", "x\x00.gguf"],
)
def test_hostile_file_names_are_refused_before_asking_the_hub(hub, tmp_path, name):
    with pytest.raises(UnsafeFilename):
        download_file(SMALL_REPO, name, tmp_path / "models", endpoint=hub.url)
    assert hub.log == []
    assert not (tmp_path / "models").exists()
    assert leftovers(tmp_path) == []


def test_file_in_a_repo_folder_lands_in_the_models_dir(hub, tmp_path):
    result = download_file(SMALL_REPO, "extra/tiny.Q8_0.gguf", tmp_path, endpoint=hub.url)
    assert result.path == tmp_path / "tiny.Q8_0.gguf" and result.verified


@pytest.mark.parametrize(
    "repo, name, revision, words",
    [
        ("test-org/nothing-here", SMALL_FILE, "main", "No repository test-org/nothing-here"),
        (SMALL_REPO, "missing.gguf", "main", "has no file 'missing.gguf'"),
        (SMALL_REPO, SMALL_FILE, "v9", "has no revision 'v9'"),
        ("not a repo id!", SMALL_FILE, "main", "Not a repository id"),
    ],
)
def test_hub_refusals_are_reported_in_words(hub, tmp_path, repo, name, revision, words):
    with pytest.raises(DownloadError, match=words):
        download_file(repo, name, tmp_path, revision=revision, endpoint=hub.url, **FAST)
    assert leftovers(tmp_path) == []


def test_unreachable_hub_fails_at_once(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HubUnreachable):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(HubUnreachable):
        repo_gguf_files(SMALL_REPO, endpoint=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 5  # no retries behind the caller's back


def test_repo_listing_tells_a_missing_repo_from_a_silent_hub(hub):
    with pytest.raises(RepoUnavailable, match="No repository test-org/nothing-here"):
        repo_gguf_files("test-org/nothing-here", endpoint=hub.url)
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(DownloadError, match="stopped answering"):
            repo_gguf_files(SMALL_REPO, endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}", read_timeout=0.3)


def test_an_identical_file_already_there_is_not_fetched_again(hub, tmp_path):
    (tmp_path / SMALL_FILE).write_bytes(SMALL)
    result = download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert result.verified and result.fetched == 0
    assert hub.transfers() == []


def test_a_different_file_with_the_same_name_is_never_overwritten(hub, tmp_path):
    mine = small_gguf(1000, seed=9)
    (tmp_path / SMALL_FILE).write_bytes(mine)
    with pytest.raises(DownloadError, match="already exists"):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url)
    assert (tmp_path / SMALL_FILE).read_bytes() == mine


def test_starter_model_comes_from_the_hub_through_downloads(hub, model_path, tmp_path, monkeypatch):
    """The starter's call into this module, with HF_ENDPOINT as a user would set it."""
    from tui_llm.hub import starter

    hub.add_file(starter.STARTER_REPO, starter.STARTER_FILE, model_path)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    lines = []
    path = starter.fetch_starter(tmp_path, report=lines.append)
    assert path == tmp_path / starter.STARTER_FILE and starter.find_starter(tmp_path) == path
    assert not any("PyPI" in line for line in lines)


# --- the queue the app keeps ------------------------------------------------
def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def queue(hub, tmp_path):
    from tui_llm.hub.queue import DownloadQueue

    q = DownloadQueue(tmp_path / "models", endpoint=hub.url, **FAST)
    yield q
    q.close()


def test_queue_runs_files_one_after_another(hub, queue):
    from tui_llm.hub.queue import DONE

    seen = []
    queue.subscribe(lambda s: seen.append((s.id, s.state)))
    first = queue.add(SMALL_REPO, SMALL_FILE)
    second = queue.add(SMALL_REPO, "extra/tiny.Q8_0.gguf")
    assert queue.add(SMALL_REPO, SMALL_FILE).id == first.id  # not queued twice
    wait_for(lambda: all(j.state == DONE for j in queue.jobs()))
    assert queue.get(first.id).path.read_bytes() == SMALL and queue.get(second.id).verified
    states = [state for _, state in seen]
    assert states.index("done") < len(states) - 1  # the second started after the first finished
    first_done = seen.index((first.id, "done"))
    assert (second.id, "downloading") in seen[first_done:]


def test_queue_pause_keeps_bytes_and_resume_fetches_the_rest(hub, queue):
    from tui_llm.hub.queue import DONE, DOWNLOADING, PAUSED

    hub.fault(SMALL_REPO, SMALL_FILE, Fault(chunk_delay=0.05))
    job = queue.add(SMALL_REPO, SMALL_FILE)
    wait_for(lambda: queue.get(job.id).state == DOWNLOADING and queue.get(job.id).bytes_done > 0)
    queue.toggle_pause(job.id)
    wait_for(lambda: queue.get(job.id).state == PAUSED)
    kept = partial_path(queue.dest_dir, SMALL_FILE).stat().st_size
    assert 0 < kept < len(SMALL)
    queue.toggle_pause(job.id)
    wait_for(lambda: queue.get(job.id).state == DONE)
    assert hub.transfers()[-1].range == f"bytes={kept}-"
    assert queue.get(job.id).path.read_bytes() == SMALL


def test_queue_cancel_deletes_the_bytes(hub, queue):
    from tui_llm.hub.queue import CANCELLED, DOWNLOADING

    hub.fault(SMALL_REPO, SMALL_FILE, Fault(chunk_delay=0.05))
    job = queue.add(SMALL_REPO, SMALL_FILE)
    wait_for(lambda: queue.get(job.id).state == DOWNLOADING and queue.get(job.id).bytes_done > 0)
    queue.cancel(job.id)
    wait_for(lambda: queue.get(job.id).state == CANCELLED)
    assert leftovers(queue.dest_dir) == []


def test_queue_failure_is_reported_and_retry_works(hub, queue):
    from tui_llm.hub.queue import DONE, FAILED

    job = queue.add(SMALL_REPO, "later.gguf")
    wait_for(lambda: queue.get(job.id).state == FAILED)
    assert "has no file 'later.gguf'" in queue.get(job.id).error
    hub.add_file(SMALL_REPO, "later.gguf", small_gguf(5000, seed=40))
    queue.retry(job.id)
    wait_for(lambda: queue.get(job.id).state == DONE)


def test_queue_refuses_hostile_names_at_once(queue):
    with pytest.raises(UnsafeFilename):
        queue.add(SMALL_REPO, "../../.bashrc.gguf")
    assert queue.jobs() == []


def test_a_disk_that_fills_up_mid_download_is_said_in_words(hub, tmp_path, monkeypatch):
    from tui_llm.hub import partials

    real_append = partials.PartialFile.append

    def fill_up(self, chunk):  # the disk has room for the first megabyte only
        if self.offset + len(chunk) > 1_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, chunk)

    monkeypatch.setattr(partials.PartialFile, "append", fill_up)
    with pytest.raises(NotEnoughSpace, match="The disk filled up while downloading .*run it again to resume"):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, **FAST)
    assert not (tmp_path / SMALL_FILE).exists() and partial_path(tmp_path, SMALL_FILE).exists()

def test_a_download_refused_up_front_leaves_nothing_behind(hub, tmp_path):
    def tiny_disk(path):
        return SimpleNamespace(total=10_000_000, used=9_000_000, free=1_000_000)

    with pytest.raises(NotEnoughSpace):
        download_file(SMALL_REPO, SMALL_FILE, tmp_path, endpoint=hub.url, disk_usage=tiny_disk)
    assert list(tmp_path.iterdir()) == []


UNHASHED = "tiny.unhashed.Q4_0.gguf"


@pytest.fixture
def unhashed_hub():
    """A hub that publishes no SHA-256 for the file (a plain git file, no LFS pointer)."""
    with HubServer() as server:
        server.add_file(SMALL_REPO, UNHASHED, SMALL, lfs=False)
        yield server


def test_a_file_without_a_hub_checksum_is_size_checked_and_its_hash_recorded(unhashed_hub, tmp_path):
    from tui_llm.hub.checksums import journal_file, recorded

    result = download_file(SMALL_REPO, UNHASHED, tmp_path, endpoint=unhashed_hub.url, **FAST)
    assert not result.verified
    assert result.path.read_bytes() == SMALL and result.size == len(SMALL)
    assert result.sha256 == sha256(SMALL)
    assert leftovers(tmp_path) == [UNHASHED]
    entry = recorded(result.path)
    assert entry is not None and journal_file().exists()
    assert (entry.size, entry.sha256, entry.verified) == (len(SMALL), sha256(SMALL), False)
    assert (entry.repo_id, entry.filename) == (SMALL_REPO, UNHASHED)

    # Asked again, the same bytes are accepted as they are; changed bytes are told apart.
    again = download_file(SMALL_REPO, UNHASHED, tmp_path, endpoint=unhashed_hub.url, **FAST)
    assert again.sha256 == sha256(SMALL) and again.fetched == 0
    with result.path.open("r+b") as handle:
        handle.seek(1_000_000)
        handle.write(b"\xff")
    with pytest.raises(VerificationError, match="changed since it was downloaded") as caught:
        download_file(SMALL_REPO, UNHASHED, tmp_path, endpoint=unhashed_hub.url, **FAST)
    assert sha256(SMALL) in str(caught.value) and "corrupt" in str(caught.value)


def test_a_file_without_a_hub_checksum_still_has_its_size_checked(unhashed_hub, tmp_path):
    unhashed_hub.fault(SMALL_REPO, UNHASHED, Fault(wrong_size=-1000, times=None))
    with pytest.raises(VerificationError, match="size mismatch"):
        download_file(SMALL_REPO, UNHASHED, tmp_path, endpoint=unhashed_hub.url, **FAST)
    assert leftovers(tmp_path) == []

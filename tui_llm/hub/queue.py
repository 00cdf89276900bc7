"""A queue of hub downloads, one at a time, that outlives any screen.

The app owns one queue; screens add to it and watch it. Downloads keep
going while the user chats or browses, so the work runs on the queue's own
thread rather than on a screen's worker (a screen's workers end with it).
Pause keeps the bytes for a resume; cancel deletes them. With a ``journal``
file the list of unfinished jobs survives a restart: ``restore()`` queues
them again and their partial files resume.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from tui_llm.hub.downloads import DownloadProgress, DownloadResult, download_file
from tui_llm.hub.errors import DownloadCancelled, DownloadError, HubUnreachable
from tui_llm.hub.metadata import local_name
from tui_llm.hub.partials import discard_partial, partial_size

QUEUED = "queued"
DOWNLOADING = "downloading"
PAUSED = "paused"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
ACTIVE = (QUEUED, DOWNLOADING, PAUSED)


@dataclass(frozen=True)
class JobStatus:
    id: int
    repo_id: str
    filename: str
    state: str = QUEUED
    bytes_done: int = 0
    total: int = 0
    speed: float = 0.0
    eta: float | None = None
    note: str = ""
    path: Path | None = None
    verified: bool = False
    error: str | None = None

    @property
    def name(self) -> str:
        return local_name(self.filename)

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.total if self.total else 0.0


Listener = Callable[[JobStatus], None]


class DownloadQueue:
    def __init__(
        self,
        dest_dir: Path,
        download: Callable[..., DownloadResult] = download_file,
        journal: Path | None = None,
        **download_options: Any,
    ) -> None:
        self.dest_dir = Path(dest_dir)
        self.journal = journal
        self._download = download
        self._options = download_options
        self._jobs: dict[int, JobStatus] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._discard: set[int] = set()
        self._listeners: list[Listener] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._next_id = 1

    # --- watching -----------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: int) -> JobStatus:
        with self._lock:
            return self._jobs[job_id]

    def _set(self, job_id: int, **changes: Any) -> JobStatus:
        with self._lock:
            before = self._jobs[job_id]
            status = self._jobs[job_id] = replace(before, **changes)
            listeners = list(self._listeners)
        if status.state != before.state or not changes or "error" in changes:
            self._save()
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # a listener that broke (a closed screen) must not stop downloads
                pass
        return status

    # --- commands -----------------------------------------------------------
    def add(self, repo_id: str, filename: str) -> JobStatus:
        """Queue a file; the same file already queued or running is not queued twice."""
        local_name(filename)  # refuses hostile names now, not later on the worker
        with self._lock:
            for job in self._jobs.values():
                if (job.repo_id, job.filename) == (repo_id, filename) and job.state in ACTIVE:
                    return job
            job_id = self._next_id
            self._next_id += 1
            self._jobs[job_id] = JobStatus(job_id, repo_id, filename)
        status = self._set(job_id, bytes_done=partial_size(self.dest_dir, filename))
        self._save()
        self._wake()
        return status

    def pause(self, job_id: int) -> None:
        with self._lock:
            state = self._jobs[job_id].state
            if state == DOWNLOADING:
                self._cancels[job_id].set()  # the worker marks it paused when it stops
                return
        if state == QUEUED:
            self._set(job_id, state=PAUSED, note="")

    def resume(self, job_id: int) -> None:
        if self.get(job_id).state == PAUSED:
            self._set(job_id, state=QUEUED, note="")
            self._wake()

    def toggle_pause(self, job_id: int) -> None:
        state = self.get(job_id).state
        if state in (QUEUED, DOWNLOADING):
            self.pause(job_id)
        elif state == PAUSED:
            self.resume(job_id)

    def cancel(self, job_id: int) -> None:
        """Stop and delete the bytes so far."""
        with self._lock:
            job = self._jobs[job_id]
            if job.state == DOWNLOADING:
                self._discard.add(job_id)
                self._cancels[job_id].set()
                return
        if job.state in (QUEUED, PAUSED, FAILED):
            discard_partial(self.dest_dir, job.filename)
            self._set(job_id, state=CANCELLED, bytes_done=0, speed=0.0, eta=None, note="")

    def retry(self, job_id: int) -> None:
        if self.get(job_id).state in (FAILED, CANCELLED):
            self._set(
                job_id, state=QUEUED, error=None, note="",
                bytes_done=partial_size(self.dest_dir, self.get(job_id).filename),
            )
            self._wake()

    def clear_ended(self) -> list[int]:
        """Forget failed and cancelled jobs (their partial files are already gone or kept
        for a later resume); returns the ids removed."""
        with self._lock:
            ended = [job.id for job in self._jobs.values() if job.state in (FAILED, CANCELLED)]
            for job_id in ended:
                del self._jobs[job_id]
                self._cancels.pop(job_id, None)
        self._save()
        return ended

    # --- surviving a restart -------------------------------------------------------
    def _save(self) -> None:
        if self.journal is None:
            return
        with self._lock:
            kept = [{"repo_id": j.repo_id, "filename": j.filename, "state": j.state, "error": j.error}
                    for j in self._jobs.values() if j.state != DONE]
            try:
                self.journal.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.journal.with_name(self.journal.name + ".tmp")
                tmp.write_text(json.dumps(kept, indent=1), encoding="utf-8")
                os.replace(tmp, self.journal)
            except OSError:
                pass  # the list is a convenience; downloads go on without it

    def restore(self) -> list[JobStatus]:
        """Bring back the unfinished jobs of an earlier run: queued and running ones
        are queued again (resuming their partial files), paused stay paused, failed
        and cancelled are shown as they ended. A damaged journal is ignored."""
        if self.journal is None:
            return []
        try:
            saved = json.loads(self.journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        restored = []
        with self._lock:
            for item in saved if isinstance(saved, list) else []:
                try:
                    repo_id, filename, state = str(item["repo_id"]), str(item["filename"]), str(item["state"])
                    local_name(filename)
                except (KeyError, TypeError, DownloadError):
                    continue
                state = QUEUED if state in (QUEUED, DOWNLOADING) else state
                if state not in (QUEUED, PAUSED, FAILED, CANCELLED):
                    continue
                job = JobStatus(self._next_id, repo_id, filename, state=state,
                                bytes_done=partial_size(self.dest_dir, filename),
                                error=item.get("error") if state == FAILED else None)
                self._jobs[job.id] = job
                self._next_id += 1
                restored.append(job)
        if any(job.state == QUEUED for job in restored):
            self._wake()
        return restored

    def close(self, timeout: float = 5.0) -> None:
        """Stop the running download (its bytes are kept) and end the thread."""
        with self._lock:
            self._closed = True
            for event in self._cancels.values():
                event.set()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- the worker -----------------------------------------------------------
    def _wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="downloads", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def _next(self) -> JobStatus | None:
        with self._lock:
            while not self._closed:
                for job in self._jobs.values():
                    if job.state == QUEUED:
                        self._cancels[job.id] = threading.Event()
                        self._jobs[job.id] = replace(job, state=DOWNLOADING)
                        return self._jobs[job.id]
                self._lock.wait()
        return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            self._set(job.id)  # tell listeners it started
            self._run_one(job)

    def _run_one(self, job: JobStatus) -> None:
        def progress(p: DownloadProgress) -> None:
            self._set(job.id, bytes_done=p.bytes_done, total=p.total, speed=p.speed, eta=p.eta, note=p.note)

        try:
            result = self._download(
                job.repo_id, job.filename, self.dest_dir,
                progress=progress, cancel=self._cancels[job.id], **self._options,
            )
        except DownloadCancelled:
            with self._lock:
                discard = job.id in self._discard
                self._discard.discard(job.id)
                closing = self._closed
            if discard:
                discard_partial(self.dest_dir, job.filename)
                self._set(job.id, state=CANCELLED, bytes_done=0, speed=0.0, eta=None, note="")
            elif closing:  # the app is quitting: queued again, so the next run resumes it
                self._set(job.id, state=QUEUED, speed=0.0, eta=None, note="")
            else:
                self._set(job.id, state=PAUSED, speed=0.0, eta=None, note="")
        except HubUnreachable as exc:
            advice = (f"{exc}. Set HF_ENDPOINT to a mirror of the hub and retry (r), or copy the "
                      f".gguf file into {self.dest_dir}: the local models list finds it there.")
            self._set(job.id, state=FAILED, error=advice, speed=0.0, eta=None, note="")
        except DownloadError as exc:
            self._set(job.id, state=FAILED, error=str(exc), speed=0.0, eta=None, note="")
        except Exception as exc:  # a disk or OS error: report it, keep the queue alive
            self._set(job.id, state=FAILED, error=f"{type(exc).__name__}: {exc}", speed=0.0, eta=None, note="")
        else:
            self._set(
                job.id, state=DONE, path=result.path, verified=result.verified, error=None,
                bytes_done=result.size, total=result.size, speed=0.0, eta=0.0, note="",
            )

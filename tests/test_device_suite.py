"""benchmarks/device_suite.py --tiny: every section runs on a CPU, reports the fields the accelerator run will fill,
writes report.json and report.md, and a section whose budget is 0 is recorded as skipped while the others run.

The suite runs in subprocesses, as it runs on the device; the data and the Inception weights come from the shared
data folder (conftest.SHARED_DATA), and the sections that need them are checked only where they are present.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import REPO, SHARED_DATA

SUITE = REPO / "benchmarks" / "device_suite.py"
HAS_CIFAR10 = (SHARED_DATA / "cifar10" / "test_batch.webp").is_file() and (
    SHARED_DATA / "cifar10" / "data_batch_1.webp"
).is_file()
HAS_INCEPTION = (SHARED_DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt").is_file()
TRAIN_FIELDS = {"recipe", "dtype", "batch", "ms_per_step", "images_per_s", "compile_s", "step_mib", "peak_mib",
                "gflop_per_step", "mfu", "torch_eager_ms", "torch_compile_ms"}  # fmt: skip


def _suite(out: pathlib.Path, *flags: str) -> dict:
    env = {**os.environ, "GANJAX_DATA_DIR": str(SHARED_DATA), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SUITE), "--tiny", "--out", str(out), *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("suite")
    # Inception and the speedrun get budgets far above what they need on a quiet machine, so that on a loaded one
    # (CI's three workers) they still reach their minimum steps instead of stopping on the budget. The train and conv
    # sections stop on their budgets after their first row, and the smallest image counts and clock that still give
    # every field (8 images per FID, two speedrun evaluations) keep the fixture short.
    flags = ("--budget_train", "4", "--budget_conv", "1.5", "--budget_inception", "90", "--budget_speedrun", "120",
             "--inception_images", "8", "--fid_test_images", "8", "--inception_batch", "8", "--speedrun_samples", "8",
             "--speedrun_seconds", "3", "--speedrun_eval_every", "2")  # fmt: skip
    return _suite(out, *flags), (out / "report.md").read_text()


def _sections(report: dict) -> dict[str, dict]:
    return {section["name"]: section for section in report["sections"]}


@pytest.mark.slow
def test_every_section_reports_its_fields(report):
    data, text = report
    sections = _sections(data)
    assert list(sections) == ["train", "conv", "inception", "speedrun"]
    for name, section in sections.items():
        assert {"status", "budget_s", "elapsed_s", "rows", "columns"} <= set(section), name
        assert f"## {name} (" in text
        headers = {"train": "| recipe | dtype | batch | ms/step | images/s |", "conv": "| layer | shape | dtype |",
                   "inception": "| what | images | seconds |", "speedrun": "| train clock s | steps |"}  # fmt: skip
        assert headers[name] in text, name

    train = sections["train"]
    assert train["status"] in ("ok", "out of budget")
    assert train["rows"], train
    for row in train["rows"]:
        assert set(row) >= TRAIN_FIELDS, row
        assert row["images_per_s"] > 0 and row["ms_per_step"] > 0 and row["compile_s"] > 0
        assert row["gflop_per_step"] is None or row["gflop_per_step"] > 0
        assert row["mfu"] == "n/a (CPU)"  # no accelerator peak on a CPU
        assert str(row["torch_eager_ms"]).startswith("n/a") or row["torch_eager_ms"] > 0
    assert train["peak_flops"] is None
    if train["status"] == "out of budget":  # what it could not reach is named
        assert train["not_measured"]

    conv = sections["conv"]
    assert conv["rows"], conv
    for row in conv["rows"]:
        assert row["hand_ms"] > 0 and row["xla_ms"] > 0
        assert row["faster"] in ("hand-written", "XLA")
        assert row["chosen"] == "hand-written"  # on CPU ganjax picks its own gradients
        assert row["max_diff"] < (0.5 if row["dtype"] == "float32" else 8)


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_CIFAR10 and HAS_INCEPTION), reason="needs CIFAR-10 and the Inception weights")
def test_inception_and_speedrun_measure_fid(report):
    sections = _sections(report[0])
    inception = sections["inception"]
    assert inception["status"] == "ok", inception
    ganjax_row, torch_row, fid_row = inception["rows"]
    assert fid_row["note"].startswith("FID ")
    assert ganjax_row["images"] == 8 and ganjax_row["images_per_s"] > 0
    assert str(torch_row["note"]).startswith("n/a") or torch_row["images_per_s"] > 0
    assert inception["fid_train_vs_test"] > 0
    assert inception["weights_sha256"] == "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

    speedrun = sections["speedrun"]
    assert speedrun["status"] == "ok", speedrun
    rows = speedrun["rows"]
    assert len(rows) >= 2  # one at a scheduled time, one at the end
    assert [row["steps"] for row in rows] == sorted(row["steps"] for row in rows)
    assert rows[-1]["steps"] >= 3 and rows[-1]["images_seen"] == rows[-1]["steps"] * 8
    assert all(row["fid"] > 0 and row["eval_s"] > 0 for row in rows)
    assert speedrun["images_per_s"] > 0 and speedrun["compile_s"] > 0


@pytest.mark.skipif(HAS_CIFAR10 and HAS_INCEPTION, reason="the data is here: the sections run")
def test_sections_without_data_are_skipped_with_the_reason(report):
    sections = _sections(report[0])
    for name in ("inception", "speedrun"):
        assert sections[name]["status"].startswith("skipped: "), sections[name]


@pytest.mark.slow
def test_a_section_of_budget_zero_is_skipped_and_the_others_run(tmp_path):
    sections = _sections(_suite(tmp_path, "--sections", "train,conv", "--budget_train", "0", "--budget_conv", "2"))
    assert sections["train"]["status"] == "skipped: out of budget (0 s)"
    assert sections["train"]["rows"] == []
    assert sections["conv"]["status"] in ("ok", "out of budget") and sections["conv"]["rows"]
    text = (tmp_path / "report.md").read_text()
    assert "## train (skipped: out of budget (0 s)" in text and "| recipe | dtype |" in text

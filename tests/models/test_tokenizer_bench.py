"""`mpgenie bench tokenizer`: a design trained alone with the trainer's batches, scored on held-out frames."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mpgenie.models.tokenizer_bench import spaced_frames  # noqa: E402


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_spaced_frames_take_every_nth_frame_view_by_view() -> None:
    views = np.arange(2 * 7).reshape(2, 7, 1, 1, 1)  # frame k of view v holds 7 v + k
    scored, before = spaced_frames(views, 3, 100)
    assert scored.ravel().tolist() == [1, 4, 8, 11] and before.ravel().tolist() == [0, 3, 7, 10]
    scored, before = spaced_frames(views, 3, 3)
    assert scored.ravel().tolist() == [1, 4, 8] and before.ravel().tolist() == [0, 3, 7]


def test_bench_tokenizer_learns_and_reports_each_score_point(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    made = cli("generate", "--out", str(ds), "--episodes", "2", "--players", "3", "--steps", "40", "--resolution", "32")
    assert made.returncode == 0, made.stderr
    r = cli("bench", "tokenizer", "--data", str(ds), "--tokenizer", "residual", "--score-at", "40,1", "--every", "5",
            "--threads", "1", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tokenizer"] == "residual" and out["codebook"] == 8 * 8 * 8 * 5 * 5 * 5 and out["threads"] == 1
    assert out["scored_frames"] == 3 * 8  # the held-out episode's 3 views, every 5th of its 40 frames
    first, last = out["scores"]
    assert (first["steps"], last["steps"]) == (1, 40)
    assert last["psnr"] > first["psnr"] + 1.0  # 40 steps of AdamW learn the flat colours of the world
    assert 0 < first["cpu_s"] <= last["cpu_s"]

    r = cli("bench", "tokenizer", "--data", str(ds), "--tokenizer", "reference", "--score-at", "40", "--every", "5",
            "--threads", "1", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    (score,) = json.loads(r.stdout)["scores"]
    assert score["psnr"] > score["psnr_intra"]  # decoding from the frame before keeps what the tokens drop

    bad = cli("bench", "tokenizer", "--data", str(ds), "--score-at", "many")
    assert bad.returncode == 2 and "--score-at" in bad.stderr
    bad = cli("bench", "tokenizer", "--data", str(ds), "--tokenizer", "fancy")
    assert bad.returncode == 2 and "unknown tokenizer" in bad.stderr

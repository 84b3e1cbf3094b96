"""End to end: generate a tiny dataset, train `tiny` for a few steps, evaluate, serve frames from the checkpoint."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mpgenie.genie.backends import LearnedWorldModel
from mpgenie.genie.context import ContextAssembler
from mpgenie.world import World, WorldConfig


def run(*args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", *args, "--json"], capture_output=True, text=True, timeout=600, check=False
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_generate_train_eval_serve(tmp_path: Path) -> None:
    ds, ckpt = tmp_path / "ds", tmp_path / "tiny.pt"
    run("generate", "--out", str(ds), "--episodes", "2", "--players", "3", "--steps", "40", "--resolution", "32")
    # A time limit already spent by loading the data: one step, then a checkpoint, and the run says why it stopped.
    trained = run(
        "train", "worldmodel", "--data", str(ds), "--out", str(ckpt), "--steps", "40", "--time-limit", "0.001"
    )
    assert trained["steps"] == 1 and trained["stopped_by_time_limit"] and ckpt.exists()
    resumed = run(
        "train", "worldmodel", "--data", str(ds), "--out", str(ckpt), "--steps", "40", "--checkpoint-every", "10"
    )
    assert resumed["steps"] == 40 and not resumed["stopped_by_time_limit"]  # continued from step 1
    with open(ckpt.with_suffix(".losses.csv")) as f:
        curve = list(csv.DictReader(f))
    assert [int(r["step"]) for r in curve] == [0, *range(10, 40, 10), 39]
    seconds = [float(r["seconds"]) for r in curve]
    assert seconds == sorted(seconds) and seconds[0] > 0  # counted on from the first run, loading included
    assert ckpt.with_suffix(".losses.png").stat().st_size > 100
    scores = run(
        "eval",
        "worldmodel",
        "--checkpoint",
        str(ckpt),
        "--data",
        str(ds),
        "--clips",
        "4",
        "--preview",
        str(tmp_path / "rollout.png"),
    )
    for key in ("psnr_tf", "psnr_t4", "psnr_t16", "delta_psnr_t4", "delta_psnr_t4_true"):
        assert np.isfinite(scores[key]), key
    assert scores["train_steps"] == 40 and 5.0 < scores["psnr_tf"] < 60.0 and -1.0 <= scores["ssim_tf"] <= 1.0
    assert (tmp_path / "rollout.png").stat().st_size > 100
    # The latent action model scored against the true actions: purity at least the majority share, MI in bits.
    assert scores["lam_majority_share"] <= scores["lam_purity"] <= 1.0 and scores["lam_mutual_information_bits"] >= 0
    assert 1 <= scores["lam_codes_used"] <= 8
    for who in ("model", "copy"):  # scored on the same frames for the model and the baseline
        for t in (1, 4):
            counted = scores[f"consistency_{who}_frames_with_players_t{t}"]
            assert counted == scores[f"consistency_model_frames_with_players_t{t}"] and 0 <= counted <= 4
            drawn = scores[f"consistency_{who}_drawn_t{t}"]
            assert (drawn is None) == (counted == 0) and (drawn is None or 0.0 <= drawn <= 1.0)

    world = World(WorldConfig(seed=1, radius=40.0, num_landmarks=8))
    world.add_players(2)
    world.step()
    model = LearnedWorldModel(str(ckpt))
    ctx = ContextAssembler(world).assemble(0, [np.zeros((32, 32, 3), np.uint8)])
    model.start(ctx)
    frames = [model.step(ctx, 1) for _ in range(3)]
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)


def test_training_refuses_bad_input(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "train",
            "worldmodel",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "x.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and "not a dataset" in " ".join(r.stderr.split())
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgenie.cli",
            "eval",
            "worldmodel",
            "--data",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "missing.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2

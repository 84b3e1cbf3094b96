"""VPT: the inverse dynamics model, pseudo-labels and behavioural cloning — unit tests on tiny configs and one
end-to-end run of the whole pipeline through the CLI (generate, train idm, eval idm, label, train bc, play)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.vector import VectorSnowball
from mpgenie.cli import app
from mpgenie.errors import UsageError
from mpgenie.models.bc import STATE_ENV, STEPS_LEFT, BCConfig, BCNet, BCPolicy, load_bc, past_indices, policy_state
from mpgenie.models.checkpoint import load_payload, save_payload
from mpgenie.models.idm import IDMConfig, InverseDynamicsModel, predict_actions, window_indices
from mpgenie.models.idm_train import confusion, merged_accuracy, scores
from mpgenie.models.metrics import code_purity, mutual_information
from mpgenie.models.vpt import PlayerViews, budget_views, observers_of, split_episodes
from mpgenie.world import World, WorldConfig
from mpgenie.world.actions import Action
from mpgenie.world.geometry import relative_to
from tests.ports import free_port

runner = CliRunner()
TINY_IDM = IDMConfig(resolution=32, context=1, channels=8, features=32, observers=2)
TINY_BC = BCConfig(resolution=32, history=2, channels=8, features=32)
STATE_BC = BCConfig(resolution=32, history=2, channels=8, features=32, state=82, state_env=dict(STATE_ENV))


def test_idm_shapes_with_and_without_observers() -> None:
    torch.manual_seed(0)
    model = InverseDynamicsModel(TINY_IDM)
    x = torch.rand(5, 3, 3, 32, 32) * 2 - 1
    assert model(x).shape == (5, 10)  # nobody sees the player: the learned "nobody" vector
    seen = torch.rand(5, 2, 3, 3, 32, 32)
    mask = torch.tensor([[True, False]] * 4 + [[False, False]])
    pose = torch.rand(5, 2, 4)
    out = model(x, seen, pose, mask)
    assert out.shape == (5, 10)
    # A row no observer sees is the same as without observers at all; masked observers do not count.
    assert torch.allclose(out[4], model(x[4:])[0], atol=1e-5)
    other = seen.clone()
    other[:, 1] = 0.0
    assert torch.allclose(model(x, other, pose, mask), out, atol=1e-5)
    other[:, 0] = 0.0  # the observer that counts
    assert not torch.allclose(model(x, other, pose, mask)[:4], out[:4], atol=1e-5)
    single = InverseDynamicsModel(IDMConfig(resolution=32, context=2, channels=8, features=32))
    actions, confidence = predict_actions(single, np.zeros((7, 32, 32, 3), np.uint8), chunk=3)
    assert actions.shape == (7,) and actions.dtype == np.int8 and np.all((confidence > 0) & (confidence <= 1))


def test_windows_are_centred_and_clamped() -> None:
    assert window_indices(5, np.array([0, 2, 4]), 1).tolist() == [[0, 0, 1], [1, 2, 3], [3, 4, 4]]
    assert past_indices(np.array([1, 3]), 2).tolist() == [[0, 0], [1, 2]]  # BC: only frames before t


@pytest.mark.parametrize("which", ["idm", "bc", "bc+state"])
def test_loss_decreases_on_a_fixed_batch(which: str) -> None:
    torch.manual_seed(0)
    nets = {
        "idm": lambda: InverseDynamicsModel(TINY_IDM),
        "bc": lambda: BCNet(TINY_BC),
        "bc+state": lambda: BCNet(STATE_BC),
    }
    model: torch.nn.Module = nets[which]()
    x = torch.rand(16, 3 if which == "idm" else 2, 3, 32, 32) * 2 - 1
    extra = (torch.rand(16, STATE_BC.state),) if which == "bc+state" else ()
    y = torch.randint(0, 10, (16,))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model.loss(model(x, *extra), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoints_round_trip_and_refuse_other_kinds(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BCNet(TINY_BC)
    path = save_payload(tmp_path / "bc.pt", {"kind": "bc", "config": TINY_BC.to_dict(), "model": model.state_dict()})
    loaded, _ = load_bc(path)
    x = torch.rand(2, 2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
    assert not list(tmp_path.glob(".*"))  # the temporary file is gone
    with pytest.raises(UsageError, match="not an idm checkpoint"):
        load_payload(path, "idm")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="is not a checkpoint"):
        load_payload(tmp_path / "junk.pt", "bc")


def test_bc_policy_implements_the_interface_and_keeps_a_causal_history() -> None:
    torch.manual_seed(0)
    policy = BCPolicy(BCNet(TINY_BC), seed=1)
    assert isinstance(policy, Policy)
    world = World(WorldConfig(seed=2, radius=40.0))
    agents = world.add_players(3)
    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    first = policy.act(Observation.of(world, agents, frames=frames))
    assert first.shape == (3,) and first.dtype == np.int8 and np.all((first >= 0) & (first < 10))
    assert all(len(h) == 1 for h in policy.history.values())
    world.step()
    policy.act(Observation.of(world, agents, frames=frames))
    world.step()
    policy.act(Observation.of(world, agents, frames=frames))
    assert all(len(h) == TINY_BC.history for h in policy.history.values())  # the last `history` frames only
    with pytest.raises(ValueError, match="frames"):
        policy.act(Observation.of(world, agents))


def test_bc_policy_reads_the_state_vectors_of_the_world_it_plays() -> None:
    """With ``cfg.state`` the policy computes each agent's state vector from ``obs.world`` with the layout it
    learned: the same vectors the state environment gives those agents (steps left zeroed)."""
    env = VectorSnowball(EnvConfig(players=3, observation="state", max_steps=50, **STATE_ENV), autoreset=False)
    env.reset(seed=4)
    for _ in range(12):
        env.step(np.full((1, 3), Action.FORWARD))
    policy = BCPolicy(BCNet(STATE_BC), seed=1)
    obs = env.policy_observation(0)
    assert obs.state is not None and obs.state.shape == (3, STATE_BC.state)
    np.testing.assert_array_equal(policy._state(obs).numpy(), policy_state(obs.state))
    assert policy_state(obs.state)[:, STEPS_LEFT].tolist() == [0.0] * 3 and obs.state[0, STEPS_LEFT] > 0
    frames = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    chosen = policy.act(Observation.of(obs.world, obs.agents, frames=frames))
    assert chosen.shape == (3,) and np.all((chosen >= 0) & (chosen < 10))
    with pytest.raises(ValueError, match="state vectors"):
        BCNet(STATE_BC)(torch.zeros(1, 2, 3, 32, 32))


def brute_purity_and_mi(codes: list[int], actions: list[int]) -> tuple[float, float]:
    n = len(codes)
    purity = sum(max(sum(1 for c, a in zip(codes, actions, strict=True) if c == k and a == b) for b in set(actions))
                 for k in set(codes)) / n  # fmt: skip
    mi = 0.0
    for k in set(codes):
        for b in set(actions):
            joint = sum(1 for c, a in zip(codes, actions, strict=True) if c == k and a == b) / n
            if joint:
                mi += joint * np.log2(joint / (codes.count(k) / n * actions.count(b) / n))
    return purity, mi


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 9)), min_size=1, max_size=60))
def test_purity_and_mutual_information_match_their_definitions(pairs: list[tuple[int, int]]) -> None:
    codes, actions = [c for c, _ in pairs], [a for _, a in pairs]
    purity, mi = brute_purity_and_mi(codes, actions)
    assert code_purity(np.array(codes), np.array(actions)) == pytest.approx(purity)
    assert mutual_information(np.array(codes), np.array(actions))[0] == pytest.approx(mi, abs=1e-9)


def test_scores_of_a_confusion_matrix() -> None:
    truth, pred = np.array([0, 0, 1, 1, 9]), np.array([0, 1, 1, 1, 0])
    m = confusion(truth, pred)
    assert m[0, 0] == 1 and m[0, 1] == 1 and m[1, 1] == 2 and m[9, 0] == 1 and m.sum() == 5
    s = scores(m)
    assert s["accuracy"] == 0.6
    assert s["per_action"]["noop"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert s["per_action"]["forward"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["per_action"]["jump"] == {"precision": None, "recall": None, "support": 0}


def test_invisible_attacks_and_interactions_count_as_noops_when_merged() -> None:
    truth = np.array([[0, 8, 8, 9, 9, 1]])
    effect = np.array([[False, True, False, False, True, False]])  # the first attack hit, the second lit a beacon
    pred = np.array([[9, 0, 0, 0, 0, 1]])
    # Right: the noop taken for an interaction, the missed attack and interaction (nothing happened), forward.
    # Wrong: the attack that hit and the interaction that lit a beacon, predicted as noops.
    assert merged_accuracy(truth, pred, effect) == pytest.approx(4 / 6, abs=1e-4)


def test_observers_match_a_loop_over_pairs() -> None:
    rng = np.random.default_rng(3)
    pos = rng.normal(size=(6, 5, 3))
    pos[:, :, 2] += 6.0  # gathered on one side of the planet, so that some see each other
    pos /= np.linalg.norm(pos, axis=-1, keepdims=True)
    head = np.cross(pos, rng.normal(size=(6, 5, 3)))
    head /= np.linalg.norm(head, axis=-1, keepdims=True)
    radius, within = 100.0, 30.0
    who, pose = observers_of(pos, head, radius, within, 2)
    found = 0
    for t in range(6):
        for s in range(5):
            expect = []
            for o in range(5):
                if o == s:
                    continue
                f, r, d = relative_to(pos[t, o], head[t, o], pos[t, s][None], radius)
                if d[0] <= within and abs(np.degrees(np.arctan2(r[0], f[0]))) <= 45.0:
                    expect.append((d[0], o, f[0], r[0]))
            expect.sort()
            got = [o for o in who[s, t] if o >= 0]
            assert got == [o for _, o, _, _ in expect[:2]]
            for k, (_, _, f, r) in enumerate(expect[:2]):
                assert pose[s, t, k, :2] == pytest.approx([f / 30.0, r / 30.0], abs=1e-4)
            found += len(got)
    assert found > 0


def test_split_and_budget() -> None:
    assert split_episodes([0, 1, 2, 3, 4, 5, 6, 7]) == ([0, 1, 2, 3, 4, 5], [6, 7])
    assert split_episodes([3]) == ([3], [3])
    views = PlayerViews(
        np.zeros((6, 200, 2, 2, 3), np.uint8), np.zeros((6, 200), np.int64), np.array([0, 0, 0, 1, 1, 1]),
        np.array([0, 1, 2, 0, 1, 2]), 20,
    )  # fmt: skip
    per_view = 200 / 20 / 3600
    two = budget_views(views, 2 * per_view)
    assert len(two) == 2 and set(views.episode_of[two]) == {0, 1}  # round the episodes
    assert len(budget_views(views, 100.0)) == 6 and len(budget_views(views, 1e-9)) == 1
    with pytest.raises(UsageError):
        budget_views(views, 0.0)


def cli(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_end_to_end_generate_idm_label_bc_play(tmp_path: Path) -> None:
    lab, unlab, labelled = tmp_path / "lab", tmp_path / "unlab", tmp_path / "labelled"
    for out, seed in ((lab, "0"), (unlab, "5")):
        generate = ["generate", "--out", str(out), "--episodes", "2", "--players", "2", "--steps", "30"]
        assert runner.invoke(app, [*generate, "--resolution", "32", "--seed", seed, "--json"]).exit_code == 0
    idm, bc = tmp_path / "idm.pt", tmp_path / "bc.pt"
    trained = cli("train", "idm", "--data", str(lab), "--labelled-hours", "0.1", "--out", str(idm), "--steps", "3")
    assert trained["held_out_episodes"] == [1] and trained["labelled"]["episodes"] == [0] and idm.exists()
    png = tmp_path / "confusion.png"
    scored = cli("eval", "idm", "--checkpoint", str(idm), "--data", str(lab), "--confusion-png", str(png))
    assert scored["held_out"]["episodes"] == [1] and 0.0 <= scored["accuracy"] <= 1.0
    assert np.array(scored["confusion"]).sum() == 2 * 30 and png.stat().st_size > 100
    # The multiplayer option: the other player's view of the player where it sees it.
    multi = tmp_path / "multi.pt"
    cli(
        "train",
        "idm",
        "--data",
        str(lab),
        "--labelled-hours",
        "0.1",
        "--out",
        str(multi),
        "--steps",
        "2",
        "--observers",
        "1",
    )
    seen = cli("eval", "idm", "--checkpoint", str(multi), "--data", str(lab))
    assert seen["observers"] == 1 and 0.0 <= seen["share_seen_by_others"] <= 1.0
    first = cli("label", "--idm", str(idm), "--data", str(unlab), "--out", str(labelled))
    assert first["labelled_now"] == 2 and first["skipped"] == 0
    assert cli("label", "--idm", str(idm), "--data", str(unlab), "--out", str(labelled))["skipped"] == 2
    table = pq.read_table(labelled / "episodes" / "episode_000001" / "data.parquet")
    conf = np.array(table.column("pseudo_confidence").to_pylist())
    assert conf.shape == (30, 2) and np.all((conf > 0) & (conf <= 1))
    assert np.array(table.column("pseudo_action").to_pylist()).max() < 10
    info = json.loads((labelled / "meta" / "info.json").read_text())
    assert "pseudo_action" in info["features"]["data"] and info["totals"]["episodes"] == 2
    trained_bc = cli("train", "bc", "--data", str(labelled), "--out", str(bc), "--steps", "3")
    assert trained_bc["labels"] == "pseudo" and trained_bc["state"] == load_bc(bc)[0].cfg.state > 0
    played = cli("eval", "bc", "--checkpoint", str(bc), "--episodes", "1", "--players", "2", "--steps", "15")
    mine = played["policies"][str(bc)]
    assert set(played["policies"]) == {"teacher", "random", str(bc)} and played["teacher"] == "scenarios"
    assert sum(mine["actions"].values()) == pytest.approx(1.0, abs=1e-3) and mine["kl_teacher_to_policy"] >= 0
    # The same policy records a dataset: `generate --agents bc:CKPT`.
    out = tmp_path / "by_bc"
    generate = ["generate", "--out", str(out), "--episodes", "1", "--players", "2", "--steps", "10", "--resolution"]
    result = runner.invoke(app, [*generate, "32", "--agents", f"bc:{bc}", "--json"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "episodes" / "episode_000000" / "episode.json").read_text())
    assert meta["agents"] == f"bc:{bc}" and [d["policy"] for d in meta["drivers"]] == [f"bc:{bc}"] * 2
    # And plays through the realtime server: `demo --agents bc:CKPT` (its inputs go over the network).
    port, api_port = str(free_port()), str(free_port())
    demo = subprocess.run(
        [sys.executable, "-m", "mpgenie.cli", "demo", "--bots", "2", "--seconds", "3", "--port", port,
         "--api-port", api_port, "--agents", f"bc:{bc}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "2 of 2 bots are driven by" in demo.stdout and "actions chosen by learned bots" in demo.stdout


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    for args in (
        ["train", "idm", "--data", str(tmp_path), "--labelled-hours", "1", "--out", str(tmp_path / "x.pt")],
        ["eval", "idm", "--checkpoint", str(tmp_path / "none.pt"), "--data", str(tmp_path)],
        ["eval", "bc", "--checkpoint", str(tmp_path / "none.pt")],
        ["generate", "--out", str(tmp_path / "g"), "--agents", "ppo:x"],
        ["generate", "--out", str(tmp_path / "g"), "--agents", "bc:"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output, args

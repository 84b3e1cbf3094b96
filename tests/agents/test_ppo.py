"""PPO self-play: the network, GAE, the update, checkpoints and resume, the learned policy, a short run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mpgenie.agents.interface import Policy  # noqa: E402
from mpgenie.agents.pbt import PBTConfig  # noqa: E402
from mpgenie.agents.policy import scripted_policy  # noqa: E402
from mpgenie.agents.ppo import (  # noqa: E402
    ActorCritic,
    Batch,
    PPOConfig,
    clone_scripted,
    compute_gae,
    load_checkpoint,
    load_model,
    load_policy,
    ppo_loss,
    ppo_update,
    save_checkpoint,
    train,
)
from mpgenie.agents.vector import VectorSnowball  # noqa: E402
from mpgenie.errors import UsageError  # noqa: E402
from mpgenie.world.actions import NUM_ACTIONS  # noqa: E402

SMALL = PPOConfig(players=3, num_worlds=2, num_steps=16, max_steps=12, minibatches=2, update_epochs=2, hidden=16)


def test_actor_critic_shapes() -> None:
    torch.manual_seed(0)
    model = ActorCritic(obs_size=82, hidden=32)
    x = torch.randn(7, 82)
    action, logprob, entropy, value = model.get_action_and_value(x)
    assert action.shape == logprob.shape == entropy.shape == value.shape == (7,)
    assert action.dtype == torch.long and int(action.min()) >= 0 and int(action.max()) < NUM_ACTIONS
    assert model.get_logits(x).shape == (7, NUM_ACTIONS)
    assert model.get_value(x).shape == (7,)
    assert torch.all(logprob <= 0) and torch.allclose(entropy, entropy.new_full((7,), math.log(NUM_ACTIONS)), atol=0.01)
    _, lp2, _, _ = model.get_action_and_value(x, action)
    assert torch.allclose(logprob, lp2)


def brute_force_gae(r: np.ndarray, v: np.ndarray, d: np.ndarray, last: np.ndarray, gamma: float, lam: float):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, cut at the first done at or after t."""
    t_len, b = r.shape
    values = np.concatenate([v, last[None]], axis=0)
    adv = np.zeros_like(r)
    for j in range(b):
        for t in range(t_len):
            total, discount = 0.0, 1.0
            for k in range(t, t_len):
                nd = 1.0 - d[k, j]
                delta = r[k, j] + gamma * values[k + 1, j] * nd - values[k, j]
                total += discount * delta
                if d[k, j]:
                    break
                discount *= gamma * lam
            adv[t, j] = total
    return adv, adv + v


def test_gae_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    t_len, b = 9, 4
    r = rng.normal(size=(t_len, b))
    v = rng.normal(size=(t_len, b))
    last = rng.normal(size=b)
    d = np.zeros((t_len, b))
    d[2, 0] = d[5, 0] = 1  # two episode ends in one column
    d[8, 1] = 1  # an end at the last step: no bootstrap from last_value
    d[0, 2] = 1  # an end at the first step; column 3 never ends
    gamma, lam = 0.9, 0.8
    adv, ret = compute_gae(*(torch.as_tensor(a) for a in (r, v, d, last)), gamma, lam)
    want_adv, want_ret = brute_force_gae(r, v, d, last, gamma, lam)
    np.testing.assert_allclose(adv.numpy(), want_adv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ret.numpy(), want_ret, rtol=1e-10, atol=1e-12)
    # lambda = 1 without dones: the discounted return bootstrapped from last_value
    _, ret1 = compute_gae(*(torch.as_tensor(a) for a in (r, v, np.zeros_like(d), last)), gamma, 1.0)
    mc = last[3] * gamma**t_len + sum(r[k, 3] * gamma**k for k in range(t_len))
    assert float(ret1[0, 3]) == pytest.approx(mc)


def fixed_batch(model: ActorCritic, n: int = 256) -> Batch:
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(n, model.obs_size, generator=g)
    with torch.no_grad():
        actions, logprobs, _, values = model.get_action_and_value(obs, generator=g)
    advantages = torch.randn(n, generator=g)
    return Batch(obs, actions, logprobs, values, advantages, values + advantages)


def test_one_update_lowers_the_loss_deterministically() -> None:
    config = PPOConfig(learning_rate=3e-3, update_epochs=4, minibatches=4, seed=0)

    def run() -> tuple[float, float, list[torch.Tensor]]:
        torch.manual_seed(0)
        model = ActorCritic(obs_size=20, hidden=32)
        batch = fixed_batch(model)
        before, _ = ppo_loss(model, batch, config)
        opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
        stats = ppo_update(model, opt, batch, config, torch.Generator().manual_seed(0))
        after, _ = ppo_loss(model, batch, config)
        assert set(stats) >= {"policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"}
        return float(before.detach()), float(after.detach()), [p.detach().clone() for p in model.parameters()]

    b1, a1, p1 = run()
    b2, a2, p2 = run()
    assert a1 < b1
    assert (b1, a1) == (b2, a2)
    assert all(torch.equal(x, y) for x, y in zip(p1, p2, strict=True))


def _collapsed(model: ActorCritic) -> ActorCritic:
    """``model`` with its policy all but collapsed onto action 0 in every state (~0.03 bits)."""
    with torch.no_grad():
        model.actor[-1].bias.copy_(torch.tensor([9.0] + [0.0] * (NUM_ACTIONS - 1)))
    return model


def _mean_entropy_bits(model: ActorCritic, obs: torch.Tensor) -> float:
    with torch.no_grad():
        return float(model.get_action_and_value(obs)[2].mean()) / math.log(2.0)


def test_the_entropy_floor_binds_only_below_it_and_lifts_a_collapsed_policy() -> None:
    plain = PPOConfig(learning_rate=3e-3, seed=0, ent_coef=0.0)  # no bonus: only the floor can lift the entropy
    floored = dataclasses.replace(plain, min_entropy=1.5)
    torch.manual_seed(0)
    model = ActorCritic(obs_size=20, hidden=32)  # near-uniform: 3.3 bits everywhere, above the floor
    batch = fixed_batch(model)
    assert float(ppo_loss(model, batch, floored)[0]) == float(ppo_loss(model, batch, plain)[0])

    _collapsed(model)
    entropy = model.get_action_and_value(batch.obs, batch.actions)[2]
    expected_penalty = float(torch.relu(1.5 * math.log(2.0) - entropy).mean())
    assert expected_penalty > 0.9
    gap = float(ppo_loss(model, batch, floored)[0]) - float(ppo_loss(model, batch, plain)[0])
    assert gap == pytest.approx(expected_penalty, rel=1e-5)

    collapsed_batch = fixed_batch(model)  # what the collapsed policy does: action 0 nearly always
    after = {}
    for name, config in (("plain", plain), ("floored", floored)):
        torch.manual_seed(0)
        m = _collapsed(ActorCritic(obs_size=20, hidden=32))
        opt = torch.optim.Adam(m.parameters(), lr=config.learning_rate, eps=1e-5)
        for _ in range(5):
            ppo_update(m, opt, collapsed_batch, config, torch.Generator().manual_seed(0))
        after[name] = _mean_entropy_bits(m, collapsed_batch.obs)
    assert after["plain"] < 1.0 and after["floored"] > 1.4  # lifted to about the floor (1.5 bits)
    with pytest.raises(UsageError):
        PPOConfig(min_entropy=4.0)  # above log2(10)


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "ppo.pt"
    first = train(SMALL, iterations=2, out=out)
    assert first.iteration == 2 and len(first.curve) == 2
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write leaves no temporary file
    ckpt = load_checkpoint(out)
    assert ckpt["iteration"] == 2 and PPOConfig.from_dict(ckpt["config"]) == SMALL

    # the saved weights give the trained network's actions
    x = torch.randn(16, first.model.obs_size, generator=torch.Generator().manual_seed(5))
    model, config = load_model(out)
    assert config == SMALL
    with torch.no_grad():
        assert torch.equal(model.get_logits(x).argmax(1), first.model.get_logits(x).argmax(1))
    policy = load_policy(out)
    np.testing.assert_array_equal(policy.fn(x.numpy()).argmax(1), first.model.get_logits(x).detach().numpy().argmax(1))

    # resume: the iteration count and the learning curve go on
    second = train(SMALL, iterations=1, out=out)
    assert second.iteration == 3
    assert [e["iteration"] for e in second.curve] == [1, 2, 3]
    assert second.curve[:2] == first.curve
    assert second.curve[2]["agent_steps"] > first.curve[1]["agent_steps"]
    assert load_checkpoint(out)["iteration"] == 3
    with pytest.raises(UsageError, match="another config"):
        train(PPOConfig(players=3, num_worlds=2, num_steps=8, max_steps=12), iterations=1, out=out)


def test_load_policy_drives_the_pettingzoo_env(tmp_path: Path) -> None:
    pytest.importorskip("pettingzoo")
    from mpgenie.agents.env import SnowballEnv  # noqa: PLC0415 (needs the extra agents)

    out = tmp_path / "ppo.pt"
    train(SMALL, iterations=1, out=out)
    for policy in (load_policy(out), load_policy(out, sample=True, seed=3)):
        assert isinstance(policy, Policy)
        env = SnowballEnv(SMALL.env_config())
        env.reset(seed=0)
        for _ in range(5):
            obs = env.policy_observation()
            actions = policy.act(obs)
            assert actions.shape == (len(env.agents),) and actions.dtype == np.int8
            assert actions.min() >= 0 and actions.max() < NUM_ACTIONS
            env.step({f"player_{int(j)}": int(a) for j, a in zip(obs.agents, actions, strict=True)})
    # seeded sampling repeats itself
    a = [load_policy(out, sample=True, seed=9).act(obs) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])


def test_short_training_run_on_collect_logs_a_finite_episode_return() -> None:
    config = PPOConfig(scenario="collect", players=4, num_worlds=2, num_steps=32, max_steps=16, hidden=32)
    seen: list[dict] = []
    result = train(config, iterations=3, progress=seen.append)
    assert result.iteration == 3 and seen == result.curve
    returns = [e["episode_return"] for e in seen]
    assert all(r is not None and math.isfinite(r) for r in returns)  # episodes of 16 ticks end every iteration
    assert all(e["episodes"] > 0 and math.isfinite(e["value_loss"]) for e in seen)
    assert seen[-1]["agent_steps"] == 3 * 32 * 2 * 4


def test_time_limit_and_bad_configs() -> None:
    result = train(SMALL, time_limit=0.0)
    assert result.iteration == 0 and result.curve == []
    with pytest.raises(UsageError):
        train(SMALL)
    with pytest.raises(UsageError):
        PPOConfig(scenario="nope")
    with pytest.raises(UsageError):
        PPOConfig(env_options={"observation": "pixels"})


def test_a_cloned_scripted_style_acts_like_it_and_fine_tunes(tmp_path: Path) -> None:
    """clone_scripted: the actor picks the style's action on fresh states of the same environment far more
    often than chance (1/10), and train() resumes PPO from the clone as from any checkpoint."""
    config = PPOConfig(scenario="cooperate", players=4, max_steps=60, num_worlds=2, num_steps=16, minibatches=2)
    ckpt = clone_scripted(config, "cooperator", episodes=6, steps=400, seed=3)
    assert ckpt["iteration"] == 0 and PPOConfig.from_dict(ckpt["config"]) == config
    model, _ = load_model(ckpt)
    env = VectorSnowball(config.env_config(), autoreset=False)
    env.reset(seed=999)  # a world the clone never saw
    teacher = scripted_policy("cooperator", 4, 999)
    agree = total = 0
    while env.alive[0].any():
        obs = env.policy_observation(0)
        wanted = teacher.act(obs)
        with torch.no_grad():
            chosen = model.get_logits(torch.as_tensor(obs.state)).argmax(1).numpy()
        agree += int((chosen == wanted).sum())
        total += wanted.size
        step = np.zeros((1, 4), dtype=np.int64)
        step[0, obs.agents] = wanted
        env.step(step)
    assert agree / total > 0.5
    out = tmp_path / "clone.pt"
    save_checkpoint(out, ckpt)
    assert train(config, iterations=1, out=out).iteration == 1
    with pytest.raises(UsageError, match="unknown scripted style 'nobody'"):
        PBTConfig(init="cooperator,nobody")
    assert PBTConfig(init="cooperator, collector").init_style(3) == "collector"
    assert PBTConfig().init_style(0) is None

"""PPO with parameter sharing over every agent of every world (self-play), in one file (after cleanrl's ppo.py).

Every agent of the W worlds of a :class:`~mpgenie.agents.vector.VectorSnowball` is the same policy: one
:class:`ActorCritic` (an MLP over the state vector, a categorical over the 10 actions, a value head) acts for
all ``W x N`` agents at once, and all their steps go into one batch. An iteration collects ``num_steps`` ticks of
every world, computes advantages with GAE, and runs ``update_epochs`` passes of ``minibatches`` minibatches of the
clipped PPO objective plus the (clipped) value loss minus the entropy bonus.

Episodes: an agent's step is "done" when it is terminated or truncated (the value is not bootstrapped past a
truncation, as in cleanrl); steps of agents already out of their episode (``on_hazard="terminate"``, while their
world plays on) are left out of the batch. Worlds autoreset.

:func:`train` saves a checkpoint (weights, optimizer, config, iteration, learning curve, sampling RNG) atomically
and resumes from it; :func:`load_policy` turns a checkpoint into a :class:`~mpgenie.agents.interface.LearnedPolicy`.
This is the one module of :mod:`mpgenie.agents` that imports PyTorch (extra ``learn``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from mpgenie.agents.config import EnvConfig, RewardWeights
from mpgenie.agents.interface import LearnedPolicy, Observation, Policy
from mpgenie.agents.match import Team, play
from mpgenie.agents.observations import state_size
from mpgenie.agents.policy import scripted_policy
from mpgenie.agents.vector import VectorSnowball
from mpgenie.atomic import write_bytes_atomic
from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS

log = logging.getLogger("mpgenie.ppo")

CHECKPOINT_FORMAT = "mpgenie-ppo-1"
#: Weight of the entropy floor's penalty (nats of shortfall): large against the policy loss of normalised advantages
#: (~0.1), so the floor acts as a constraint, not as one more trade-off.
ENTROPY_FLOOR_COEF = 1.0


@dataclass(frozen=True)
class PPOConfig:
    """Every hyperparameter of a run (saved in the checkpoint)."""

    # the environment
    scenario: str = "collect"  # reward scenario (config.REWARD_SCENARIOS)
    players: int = 8  # agents per world (all play the same shared policy)
    max_steps: int = 500  # episode length: every agent is truncated at this tick
    env_options: dict[str, Any] = field(default_factory=dict)  # other EnvConfig fields (observation must be "state")
    num_worlds: int = 8  # worlds stepped together: a batch holds num_worlds * players * num_steps agent-steps
    # the rollout
    num_steps: int = 128  # ticks collected per world per iteration
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE's lambda: 0 is one-step TD, 1 is Monte-Carlo returns
    # the update
    update_epochs: int = 4  # passes over the batch per iteration
    minibatches: int = 4  # minibatches per pass (the batch is shuffled and split)
    learning_rate: float = 2.5e-4  # Adam's step size (constant)
    clip_coef: float = 0.2  # the PPO ratio is clipped to 1 +- clip_coef
    clip_vloss: bool = True  # clip the value update to +- clip_coef around the old values too
    norm_adv: bool = True  # normalise advantages per minibatch
    ent_coef: float = 0.01  # weight of the entropy bonus
    min_entropy: float = 0.0  # floor (bits) on the policy's entropy in every state, a penalty below it (0: off)
    vf_coef: float = 0.5  # weight of the value loss
    max_grad_norm: float = 0.5  # global gradient-norm clip
    target_kl: float | None = None  # stop an iteration's epochs early past this approximate KL (None: never)
    # the network
    hidden: int = 64  # width of the two tanh hidden layers of the actor and of the critic
    # the run
    seed: int = 0  # torch init, action sampling, minibatch order and the worlds' seeds
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("players", "max_steps", "num_worlds", "num_steps", "update_epochs", "minibatches", "hidden"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise UsageError("gamma and gae_lambda must be in [0, 1]")
        if self.learning_rate <= 0 or self.clip_coef <= 0:
            raise UsageError("learning_rate and clip_coef must be > 0")
        if not 0.0 <= self.min_entropy <= math.log2(NUM_ACTIONS):
            raise UsageError(f"min_entropy must be in [0, log2({NUM_ACTIONS})] bits, got {self.min_entropy}")
        if self.env_options.get("observation", "state") != "state":
            raise UsageError("PPO here learns from state vectors: observation must be 'state'")
        self.env_config()  # validates the scenario and the environment options

    def env_config(self) -> EnvConfig:
        """The environment; ``env_options["rewards"]`` may be a dict of :class:`RewardWeights` fields (what a
        population member's perturbed reward weights are, kept JSON- and checkpoint-friendly)."""
        options = dict(self.env_options)
        if isinstance(options.get("rewards"), dict):
            try:
                options["rewards"] = RewardWeights(**options["rewards"])
            except TypeError as e:
                raise UsageError(f"bad reward weights {options['rewards']}: {e}") from None
        if "action_bonus" in options:  # a JSON list in a checkpoint
            options["action_bonus"] = tuple(float(b) for b in options["action_bonus"])
        return EnvConfig(players=self.players, scenario=self.scenario, max_steps=self.max_steps, **options).replace(
            observation="state"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PPOConfig:
        known = {f.name for f in dataclasses.fields(PPOConfig)}
        unknown = set(d) - known
        if unknown:
            raise UsageError(f"unknown PPO config fields: {', '.join(sorted(unknown))}")
        return PPOConfig(**d)


# --- the network ---------------------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class ActorCritic(nn.Module):
    """Actor and critic MLPs over the state vector: logits over the 10 actions, and a value."""

    def __init__(self, obs_size: int, hidden: int = 64, num_actions: int = NUM_ACTIONS) -> None:
        super().__init__()
        self.obs_size = obs_size
        self.hidden = hidden
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_size, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_size, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, num_actions), std=0.01),  # near-uniform at the start
        )

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``(B,)`` of states ``(B, D)``."""
        return self.critic(x).squeeze(-1)

    def get_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.actor(x)

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action, log_prob, entropy, value)``, each ``(B,)``; samples the action when none is given."""
        logits = self.actor(x)
        dist = torch.distributions.Categorical(logits=logits)
        if action is None:
            action = torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
        return action, dist.log_prob(action), dist.entropy(), self.get_value(x)


# --- advantages and the loss -----------------------------------------------------------------------------------------


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns ``(T, B)`` by GAE.

    ``rewards[t]``, ``dones[t]``: what followed the action at step ``t`` (done: the episode ended there);
    ``values[t]``: V of the state at step ``t``; ``last_value``: V of the state after the last step.
    ``delta_t = r_t + gamma V_{t+1} (1 - d_t) - V_t`` and ``A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}``.
    """
    t_len = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(last_value)
    for t in reversed(range(t_len)):
        next_value = last_value if t == t_len - 1 else values[t + 1]
        not_done = 1.0 - dones[t].to(rewards.dtype)
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        last_gae = delta + gamma * gae_lambda * not_done * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


@dataclass
class Batch:
    """Flat agent-steps ``(B, ...)`` of one rollout, for the update."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def take(self, idx: torch.Tensor) -> Batch:
        return Batch(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))


def ppo_loss(model: ActorCritic, mb: Batch, config: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped PPO objective of a minibatch: policy loss + vf_coef * value loss - ent_coef * entropy, plus
    ``ENTROPY_FLOOR_COEF`` times the mean shortfall of each state's entropy below ``min_entropy``.

    Why a floor and not a larger ``ent_coef``: the bonus pulls every state towards uniform, the floor only the states
    where the policy has collapsed onto (nearly) one action, which a reward paid per distinct action (PBT's
    diversity term) drives members to; above the floor the objective is plain PPO."""
    _, newlogprob, entropy, newvalue = model.get_action_and_value(mb.obs, mb.actions)
    logratio = newlogprob - mb.logprobs
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()  # http://joschu.net/blog/kl-approx.html
        clipfrac = ((ratio - 1.0).abs() > config.clip_coef).float().mean()

    adv = mb.advantages
    if config.norm_adv and len(mb) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss1 = -adv * ratio
    pg_loss2 = -adv * torch.clamp(ratio, 1 - config.clip_coef, 1 + config.clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

    if config.clip_vloss:
        v_unclipped = (newvalue - mb.returns) ** 2
        v_clipped = mb.values + torch.clamp(newvalue - mb.values, -config.clip_coef, config.clip_coef)
        v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - mb.returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((newvalue - mb.returns) ** 2).mean()

    entropy_loss = entropy.mean()
    loss = pg_loss - config.ent_coef * entropy_loss + config.vf_coef * v_loss
    if config.min_entropy > 0:
        shortfall = torch.relu(config.min_entropy * math.log(2.0) - entropy).mean()
        loss = loss + ENTROPY_FLOOR_COEF * shortfall
    stats = {
        "policy_loss": float(pg_loss.detach()),
        "value_loss": float(v_loss.detach()),
        "entropy": float(entropy_loss.detach()),
        "approx_kl": float(approx_kl),
        "clipfrac": float(clipfrac),
    }
    return loss, stats


def ppo_update(
    model: ActorCritic,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    config: PPOConfig,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``update_epochs`` shuffled passes of ``minibatches`` gradient steps over ``batch``; the last stats."""
    n = len(batch)
    mb_size = max(1, math.ceil(n / config.minibatches))
    stats: dict[str, float] = {}
    for _epoch in range(config.update_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, mb_size):
            loss, stats = ppo_loss(model, batch.take(order[start : start + mb_size]), config)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
        if config.target_kl is not None and stats["approx_kl"] > config.target_kl:
            break
    return stats


# --- checkpoints ---------------------------------------------------------------------------------------------------


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` (``torch.save``) atomically; also the world model's trainer's writer."""
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise UsageError(f"{path} is not a readable PPO checkpoint: {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UsageError(f"{path} is not a PPO checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def build_model(config: PPOConfig) -> ActorCritic:
    c = config.env_config()
    obs_size = state_size(c.k_players, c.k_collectibles, c.k_beacons, c.k_hazards)
    return ActorCritic(obs_size, config.hidden).to(config.device)


def checkpoint_dict(
    config: PPOConfig,
    model: ActorCritic,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    iteration: int = 0,
    curve: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a checkpoint holds (:func:`train` resumes from it)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "iteration": iteration,
        "curve": list(curve or []),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
    }


class _Recording:
    """A policy that acts as ``policy`` and keeps what it saw (state vectors) and did, in tick order."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.states: list[NDArray[np.float32]] = []
        self.actions: list[NDArray[np.int64]] = []

    def act(self, obs: Observation) -> NDArray[np.int8]:
        chosen = self.policy.act(obs)
        assert obs.state is not None
        self.states.append(obs.state)
        self.actions.append(chosen.astype(np.int64))
        return chosen


def clone_scripted(
    config: PPOConfig, style: str, episodes: int = 48, steps: int = 3000, seed: int = 0
) -> dict[str, Any]:
    """A new network's first checkpoint, its actor trained by behavioural cloning of a scripted style: VPT's
    recipe, clone first and fine-tune with RL after. ``episodes`` episodes of ``config``'s environment with every
    agent playing ``style`` give (state vector, action) pairs; ``steps`` Adam steps of cross-entropy on batches of
    512 fit the actor to them. Why: PPO from a random network never found the co-operative beacons (a shared
    reward that needs two agents at one place at once); a cloned co-operator lights them at ~0.9x the scripted
    rate from the first round (BENCHMARKS.md). The critic starts untrained and the optimizer fresh."""
    torch.manual_seed(config.seed)
    teachers = [_Recording(scripted_policy(style, config.players, seed + e)) for e in range(episodes)]
    play(config.env_config(), [Team(teachers, np.arange(config.players))], seed=seed)  # world e: seed + e
    states = [x for t in teachers for x in t.states]
    actions = [a for t in teachers for a in t.actions]
    x = torch.as_tensor(np.concatenate(states), device=config.device)
    y = torch.as_tensor(np.concatenate(actions), device=config.device)
    model = build_model(config)
    fit = torch.optim.Adam(model.actor.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(config.seed)
    for _ in range(steps):
        rows = torch.randint(0, x.shape[0], (512,), generator=generator).to(x.device)
        loss = nn.functional.cross_entropy(model.get_logits(x[rows]), y[rows])
        fit.zero_grad()
        loss.backward()
        fit.step()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    return checkpoint_dict(config, model, optimizer, torch.Generator().manual_seed(config.seed))


# --- training ------------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: ActorCritic
    iteration: int  # iterations done in all, over resumes
    curve: list[dict[str, Any]]  # one entry per iteration (see train)


def train(
    config: PPOConfig,
    iterations: int | None = None,
    time_limit: float | None = None,
    out: str | Path | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    save_every: int = 10,
    opponent: Team | None = None,
    adopt: bool = False,
) -> TrainResult:
    """Run ``iterations`` more iterations (or until ``time_limit`` seconds have passed; both: whichever first).

    With ``out``, a checkpoint is saved there every ``save_every`` iterations and at the end; if one is already
    there, training resumes from it (weights, optimizer, iteration count, learning curve, RNG; the worlds start
    new episodes) and its config is used (``config`` must then equal it). Each iteration appends to the learning
    curve and is passed to ``progress``: ``iteration``, ``agent_steps`` (in all), ``episode_return`` (mean return
    of the agents' episodes that ended this iteration; None if none did), ``reward_per_step``, ``episodes``,
    the losses, ``entropy``, ``approx_kl``, ``clipfrac`` and ``steps_per_s``.

    ``opponent``: a frozen :class:`~mpgenie.agents.match.Team` (a league opponent: a past snapshot, another
    member, a scripted style) drives its agent columns of every world; their steps stay out of the batch, so the
    network learns against it. ``adopt``: resume from the checkpoint at ``out`` under a *changed* config (what
    population-based training does after exploit/explore: same network, new hyperparameters and reward weights).
    """
    if iterations is None and time_limit is None:
        raise UsageError("train needs iterations or a time_limit")
    start_time = time.monotonic()
    ckpt = load_checkpoint(out) if out is not None and Path(out).is_file() else None
    if ckpt is not None:
        saved = PPOConfig.from_dict(ckpt["config"])
        if saved != config and not adopt:
            raise UsageError(f"{out} was trained with another config; resume with that config or another path")

    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    generator = torch.Generator().manual_seed(config.seed)
    iteration, curve, agent_steps = 0, [], 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for group in optimizer.param_groups:  # adopted: the new config's step size
            group["lr"] = config.learning_rate
        generator.set_state(ckpt["generator"])
        iteration, curve = int(ckpt["iteration"]), list(ckpt["curve"])
        agent_steps = int(curve[-1]["agent_steps"]) if curve else 0

    def checkpoint() -> None:
        if out is not None:
            save_checkpoint(out, checkpoint_dict(config, model, optimizer, generator, iteration, curve))

    w, n, t_len = config.num_worlds, config.players, config.num_steps
    envs = VectorSnowball(config.env_config(), num_worlds=w, autoreset=True)
    next_obs = torch.as_tensor(envs.reset(seed=config.seed + iteration * w), device=device).reshape(w * n, -1)
    episode_return = np.zeros(w * n)
    learner = np.ones((w, n), dtype=bool)
    if opponent is not None:
        learner[:, opponent.agents] = False
    learner_flat = torch.as_tensor(learner.reshape(-1), device=device)

    # rollout storage: (T, W*N)
    obs_buf = torch.zeros((t_len, w * n, envs.state_size), device=device)
    actions_buf = torch.zeros((t_len, w * n), dtype=torch.long, device=device)
    logprobs_buf = torch.zeros((t_len, w * n), device=device)
    values_buf = torch.zeros((t_len, w * n), device=device)
    rewards_buf = torch.zeros((t_len, w * n), device=device)
    dones_buf = torch.zeros((t_len, w * n), device=device)
    live_buf = torch.zeros((t_len, w * n), dtype=torch.bool, device=device)

    done_iters = 0
    while True:
        if iterations is not None and done_iters >= iterations:
            break
        if time_limit is not None and time.monotonic() - start_time >= time_limit:
            break
        t0 = time.monotonic()
        finished: list[float] = []

        # 1. rollout: every agent of every world acts with the same policy
        for t in range(t_len):
            live_buf[t] = torch.as_tensor(envs.alive.reshape(-1), device=device) & learner_flat
            obs_buf[t] = next_obs
            with torch.no_grad():
                action, logprob, _, value = model.get_action_and_value(next_obs, generator=generator)
            actions_buf[t], logprobs_buf[t], values_buf[t] = action, logprob, value
            step_actions = action.cpu().numpy().reshape(w, n)
            if opponent is not None:
                opponent.act(envs, next_obs.cpu().numpy().reshape(w, n, -1), step_actions)
            o, r, term, trunc = envs.step(step_actions)
            done = (term | trunc).reshape(-1)
            rewards_buf[t] = torch.as_tensor(r.reshape(-1), device=device)
            dones_buf[t] = torch.as_tensor(done, device=device)
            next_obs = torch.as_tensor(o, device=device).reshape(w * n, -1)
            episode_return += r.reshape(-1)
            finished.extend(episode_return[done & learner.reshape(-1)].tolist())
            episode_return[done] = 0.0

        # 2. advantages
        with torch.no_grad():
            last_value = model.get_value(next_obs)
        advantages, returns = compute_gae(
            rewards_buf, values_buf, dones_buf, last_value, config.gamma, config.gae_lambda
        )

        # 3. the update, over the agent-steps that were in an episode
        live = live_buf.reshape(-1)
        batch = Batch(
            obs=obs_buf.reshape(-1, envs.state_size)[live],
            actions=actions_buf.reshape(-1)[live],
            logprobs=logprobs_buf.reshape(-1)[live],
            values=values_buf.reshape(-1)[live],
            advantages=advantages.reshape(-1)[live],
            returns=returns.reshape(-1)[live],
        )
        stats = ppo_update(model, optimizer, batch, config, generator)

        iteration += 1
        done_iters += 1
        agent_steps += len(batch)
        entry: dict[str, Any] = {
            "iteration": iteration,
            "agent_steps": agent_steps,
            "batch": len(batch),
            "episode_return": float(np.mean(finished)) if finished else None,
            "episodes": len(finished),
            "reward_per_step": float(rewards_buf.reshape(-1)[live].mean()) if len(batch) else 0.0,
            **stats,
            "steps_per_s": len(batch) / max(time.monotonic() - t0, 1e-9),
        }
        curve.append(entry)
        log.info("ppo iteration", extra={"ppo": entry})
        if progress is not None:
            progress(entry)
        if out is not None and iteration % save_every == 0:
            checkpoint()
    checkpoint()
    return TrainResult(model, iteration, curve)


# --- the trained policy --------------------------------------------------------------------------------------------


def load_model(checkpoint: str | Path | dict[str, Any]) -> tuple[ActorCritic, PPOConfig]:
    """The network and config of a checkpoint (a path, or a checkpoint dict as saved), on the CPU, in eval mode."""
    ckpt = load_checkpoint(checkpoint) if isinstance(checkpoint, str | Path) else checkpoint
    config = PPOConfig.from_dict(ckpt["config"])
    model = build_model(dataclasses.replace(config, device="cpu"))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, config


def load_policy(checkpoint: str | Path | dict[str, Any], sample: bool = False, seed: int = 0) -> LearnedPolicy:
    """A trained policy behind the Policy interface: argmax of the logits, or (``sample=True``) actions sampled
    from them with a seeded RNG. It reads the observations' state vectors (``env.policy_observation()``)."""
    model, _ = load_model(checkpoint)

    def logits(x: NDArray) -> NDArray:
        with torch.no_grad():
            return model.get_logits(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()

    return LearnedPolicy(logits, inputs="state", sample=sample, seed=seed)

"""Each world-model component: shapes, a few optimisation steps reduce the loss, save/load round trip."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mpgenie.errors import UsageError
from mpgenie.models.checkpoint import load_checkpoint
from mpgenie.models.dynamics import Dynamics, DynamicsConfig
from mpgenie.models.frames import to_tensor
from mpgenie.models.fsq import FSQ
from mpgenie.models.genie import Genie, GenieConfig, preset
from mpgenie.models.lam import LatentActionConfig, LatentActionModel
from mpgenie.models.tokenizer import Tokenizer, TokenizerConfig
from mpgenie.models.train import encode_views

torch.manual_seed(0)
torch.set_num_threads(1)


def frames(b: int = 4, res: int = 32) -> torch.Tensor:
    """Smooth, structured images (gradients + a moving square): learnable, unlike noise."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    out = []
    for i in range(b):
        img = torch.stack([x, y, x * y]) * 0.5
        img[:, 8 + i : 14 + i, 8:14] = 0.9
        out.append(img)
    return torch.stack(out)


def train(model: torch.nn.Module, loss_fn, steps: int = 40, lr: float = 3e-3) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = float(loss_fn().detach())
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    return first, float(loss_fn().detach())


def test_fsq_codes_round_trip() -> None:
    fsq = FSQ((8, 5, 5, 5))
    assert fsq.codebook_size == 1000
    z = torch.randn(6, 7, 4) * 3
    q, codes = fsq(z)
    assert codes.min() >= 0 and codes.max() < 1000 and q.abs().max() <= 1.0
    assert torch.allclose(fsq.decode_codes(codes), q)
    with pytest.raises(ValueError):
        FSQ((1, 4))


@pytest.mark.parametrize("levels", [(2, 2, 2), (8, 5, 5, 5), (3, 4)])
def test_fsq_uses_every_level_and_passes_gradients_at_zero(levels: tuple[int, ...]) -> None:
    """A latent near zero must reach every code and get a real gradient: the two-level latent action quantizer
    once sat on tanh's flat tail (gradient ~0.002) and every transition got the same code."""
    fsq = FSQ(levels)
    _, codes = fsq(torch.randn(4000, len(levels)) * 2)
    basis = 1
    for level in levels:  # every channel takes every one of its levels
        assert ((codes // basis) % level).unique().tolist() == list(range(level))
        basis *= level
    z = torch.zeros(1, len(levels), requires_grad=True)
    q, _ = fsq(z)
    q.sum().backward()
    assert z.grad is not None and float(z.grad.min()) > 0.5
    grid = fsq.decode_codes(torch.arange(fsq.codebook_size))
    assert torch.allclose(grid.mean(0), torch.zeros(len(levels)), atol=1e-6)  # symmetric around zero


@pytest.mark.parametrize("residual", [False, True])
def test_tokenizer_learns_and_round_trips(tmp_path: Path, residual: bool) -> None:
    levels = (8, 8, 8, 5, 5, 5) if residual else (8, 5, 5, 5)
    model = Tokenizer(TokenizerConfig(resolution=32, channels=32, downsample=2, levels=levels, residual=residual))
    x = frames()
    _, codes = model(x)
    assert codes.shape == (4, 8, 8) and codes.dtype == torch.long
    first, last = train(model, lambda: model(x)[0])
    assert last < 0.5 * first
    torch.save(model.state_dict(), tmp_path / "tok.pt")
    again = Tokenizer(model.cfg)
    again.load_state_dict(torch.load(tmp_path / "tok.pt"))
    assert torch.equal(again.encode(x)[1], model.encode(x)[1])
    assert again.decode_codes(codes).shape == (4, 3, 32, 32)


def test_an_untrained_reference_decoder_repeats_the_frame_before() -> None:
    """The reference design's last layer starts at zero: decoding any tokens from frame ``r`` gives ``r``, so
    training starts from "standing still" and learns the corrections."""
    model = Tokenizer(TokenizerConfig(resolution=32, channels=16, downsample=2, reference=True))
    x = frames()
    before = frames().roll(3, dims=-1)
    _, codes = model.encode(x)
    assert torch.equal(model.decode_codes(codes, before), before)
    assert torch.equal(model.decode_codes(codes), torch.zeros_like(x))  # no frame before: from the tokens alone
    plain = Tokenizer(TokenizerConfig(resolution=32, channels=16, downsample=2))
    assert torch.equal(plain.decode_codes(codes, before), plain.decode_codes(codes))  # other designs ignore it


def test_the_reference_decoder_learns_more_than_the_frame_before() -> None:
    """Trained on pairs (square one pixel further along), decoding from the frame before beats repeating it, and
    the examples trained without a frame before teach it to draw from the tokens alone."""
    model = Tokenizer(TokenizerConfig(resolution=32, channels=16, downsample=2, reference=True))
    x = frames(6)
    before = torch.cat([frames(1)[:, :, :, :], x[:-1]])  # frame i-1 before frame i (the square moves one row)
    torch.manual_seed(1)
    first, last = train(model, lambda: model(x, before)[0], steps=80)
    assert last < 0.3 * first
    model.eval()
    copy = float(((before - x) ** 2).mean())
    with torch.no_grad():
        assert float(((model.reconstruct(x, before) - x) ** 2).mean()) < 0.5 * copy
        assert float(((model.reconstruct(x) - x) ** 2).mean()) < float((x**2).mean())  # better than nothing


def test_rollouts_and_served_streams_decode_from_the_frame_before() -> None:
    """An untrained reference decoder repeats its reference, so a rollout (and a served stream) that passes the
    frame before along keeps showing the last context frame, step after step."""
    from mpgenie.genie.backends import LearnedWorldModel  # noqa: PLC0415
    from mpgenie.genie.context import ContextAssembler  # noqa: PLC0415
    from mpgenie.world import World, WorldConfig  # noqa: PLC0415

    model = Genie(preset("tiny", 32, tokenizer="reference"))
    model.eval()
    ctx = frames(4).view(2, 2, 3, 32, 32)
    out = model.rollout(ctx, torch.zeros(2, 3, dtype=torch.long), 3)
    assert torch.allclose(out, ctx[:, -1:].clamp(-1, 1).expand(-1, 3, -1, -1, -1))
    world = World(WorldConfig(seed=1, radius=40.0, num_landmarks=8))
    world.add_players(1)
    world.step()
    last = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    context = ContextAssembler(world).assemble(0, [np.zeros_like(last), last])
    served = LearnedWorldModel(model=model)
    for action in (1, 2, 3):
        assert np.abs(served.step(context, action).astype(int) - last.astype(int)).max() <= 1  # uint8 rounding
    blank = ContextAssembler(world).assemble(0, [])  # nothing seen yet: "no frame before", not a black one
    assert set(np.unique(LearnedWorldModel(model=model).step(blank, 1)).tolist()) <= {127, 128}


def test_presets_name_their_tokenizer_and_old_configs_load_plain() -> None:
    cfg = preset("tiny", 64, tokenizer="residual")
    assert cfg.tokenizer.residual and cfg.tokenizer.decoder_channels == 64
    assert cfg.dynamics.levels == cfg.tokenizer.levels == (8, 8, 8, 5, 5, 5)  # the dynamics predicts six digits
    assert GenieConfig.from_dict(cfg.to_dict()) == cfg
    old = preset("tiny", tokenizer="plain").to_dict()
    assert preset("tiny", tokenizer="reference").tokenizer.design == "reference"
    for key in ("residual", "decoder_channels", "reference"):  # a checkpoint from before the residual design
        del old["tokenizer"][key]  # type: ignore[attr-defined]
    assert GenieConfig.from_dict(old) == preset("tiny", tokenizer="plain") and not preset("tiny").tokenizer.residual
    assert preset("tiny").tokenizer.design == "reference"  # the default since the 2026-12-06 runs
    with pytest.raises(UsageError, match="unknown tokenizer"):
        preset("tiny", tokenizer="huge")


def test_latent_action_model_learns_with_eight_codes(tmp_path: Path) -> None:
    model = LatentActionModel(LatentActionConfig(resolution=32, channels=24))
    assert model.num_actions == 8
    x0 = frames()
    x1 = torch.roll(x0, shifts=2, dims=3)  # everything moved right
    _, codes = model(x0, x1)
    assert codes.shape == (4,) and int(codes.max()) < 8
    first, last = train(model, lambda: model(x0, x1)[0])
    assert last < 0.5 * first
    torch.save(model.state_dict(), tmp_path / "lam.pt")
    again = LatentActionModel(model.cfg)
    again.load_state_dict(torch.load(tmp_path / "lam.pt"))
    assert torch.equal(again.infer(x0, x1)[1], model.infer(x0, x1)[1])


def test_dynamics_learns_action_conditioned_next_tokens(tmp_path: Path) -> None:
    cfg = DynamicsConfig(levels=(4, 4), grid=4, context_frames=2, num_actions=3, dim=64, layers=2, heads=4)
    model = Dynamics(cfg)
    b = 6
    past = torch.randint(0, 16, (2, 2, 4, 4)).repeat(3, 1, 1, 1)  # two contexts, each with all three actions
    action = torch.arange(3).repeat_interleave(2)
    target = (past[:, -1] + action[:, None, None]) % 16  # the same context, three different next frames
    others = torch.randn(1, 4, 5).repeat(b, 1, 1)  # the same for all: only the action tells the targets apart
    assert model.logits(past, action, target, others).shape == (b, 16, 4 + 4)  # one classifier per digit
    codes = torch.arange(16)
    digits = model._digits(codes)  # the tokenizer's FSQ order: code = d0 + 4 * d1
    assert torch.equal(digits[:, 0] + 4 * digits[:, 1], codes)
    assert model._digits(torch.tensor([model.mask_id])).tolist() == [[4, 4]]
    torch.manual_seed(1)
    first, last = train(model, lambda: model.loss(past, action, target, others), steps=150)
    assert last < 0.5 * first
    sample = model.sample(past, action, others)
    assert sample.shape == (b, 4, 4) and sample.max() < 16
    assert (sample == target).float().mean() > 0.5  # it learned the rule on these examples
    torch.save(model.state_dict(), tmp_path / "dyn.pt")
    again = Dynamics(cfg)
    again.load_state_dict(torch.load(tmp_path / "dyn.pt"))
    assert torch.equal(again.sample(past, action, others), sample)
    # Guidance 0 is the no-action prediction (the id that training drops actions to); guidance 1 is the plain one.
    no_action = torch.full_like(action, model.no_action)
    unguided = model.sample(past, no_action, others, guidance=1.0)
    assert torch.equal(model.sample(past, action, others, guidance=0.0), unguided)
    assert not torch.equal(model.sample(past, action, others, guidance=1.0), unguided)


def test_latent_actions_tell_opposite_motions_apart() -> None:
    """The code must carry the change: two motions that need different predictions get different codes (with the
    old two-level FSQ bound every transition got the same code)."""
    torch.manual_seed(2)
    model = LatentActionModel(LatentActionConfig(resolution=32, channels=24))
    x0 = frames(8)
    x1 = torch.cat([torch.roll(x0[:4], 3, dims=3), torch.roll(x0[4:], -3, dims=3)])  # right, then left
    train(model, lambda: model(x0, x1)[0], steps=80)
    model.eval()
    _, codes = model.infer(x0, x1)
    right, left = set(codes[:4].tolist()), set(codes[4:].tolist())
    assert not right & left, (right, left)


def test_encode_views_matches_frame_by_frame_encoding() -> None:
    model = Genie(preset("tiny", 32)).eval()
    video = (torch.rand(2, 7, 32, 32, 3) * 255).to(torch.uint8).numpy()
    tokens, latent = encode_views(model, video, chunk=3)  # chunks that split transitions
    x = to_tensor(video)
    with torch.no_grad():
        for v in range(2):
            assert (tokens[v] == model.tokenizer.encode(x[v])[1].numpy()).all()
            assert (latent[v, 1:] == model.lam.infer(x[v, :-1], x[v, 1:])[1].numpy()).all()


def test_foreign_or_outdated_checkpoints_are_refused_clearly(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    model = Genie(preset("tiny", 32))
    state = model.state_dict()
    del state["lam.balance.running_mean"]  # as a checkpoint from before the latent action encoder changed
    outdated = tmp_path / "outdated.pt"
    torch.save({"config": model.cfg.to_dict(), "model": state, "step": 1, "history": []}, outdated)
    for path in (garbage, outdated):
        with pytest.raises(ValueError, match="not a world-model checkpoint this version can load"):
            load_checkpoint(path)


def test_true_action_ids_are_the_worlds_actions() -> None:
    """The dynamics' true action ids are the world's actions and the latent ids follow them: the count comes from
    mpgenie.world.actions, so a new action cannot collide with the first latent id (it was a copied 10)."""
    from mpgenie.models.genie import TRUE_ACTIONS  # noqa: PLC0415
    from mpgenie.world.actions import NUM_ACTIONS, Action  # noqa: PLC0415

    assert TRUE_ACTIONS == NUM_ACTIONS == len(Action)
    cfg = preset("tiny", 32)
    latent = 1
    for level in cfg.lam.levels:
        latent *= level
    assert cfg.dynamics.num_actions == NUM_ACTIONS + latent

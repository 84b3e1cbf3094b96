"""The league: Elo updates, matchmaking, snapshots, the PBT exploit/explore step, league.json round trips."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpgenie.agents.config import REWARD_SCENARIOS
from mpgenie.agents.population import (
    ANCHOR_RATING,
    HYPERPARAMETERS,
    OPPONENT_MIX,
    PERTURB,
    League,
    diversity_bonus,
    elo_update,
    expected_score,
    member_rewards,
    perturb_hyper,
    perturb_rewards,
)
from mpgenie.errors import UsageError

ratings = st.floats(min_value=0.0, max_value=3000.0)


def test_elo_known_values() -> None:
    assert expected_score(1000, 1000) == 0.5
    assert expected_score(1400, 1000) == pytest.approx(10 / 11)  # 400 points: odds of 10 to 1
    ra, rb = elo_update(1000, 1000, 1.0, k=32)
    assert (ra, rb) == (1016.0, 984.0)
    ra, rb = elo_update(1000, 1000, 0.5, k=32)
    assert (ra, rb) == (1000.0, 1000.0)
    with pytest.raises(ValueError):
        elo_update(1000, 1000, 1.5)


@given(ratings, ratings, st.sampled_from([0.0, 0.5, 1.0]), st.floats(min_value=1.0, max_value=64.0))
def test_elo_update_is_zero_sum_and_moves_toward_the_result(ra: float, rb: float, s: float, k: float) -> None:
    na, nb = elo_update(ra, rb, s, k)
    assert na + nb == pytest.approx(ra + rb)
    e = 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0))  # the formula written out
    assert na - ra == pytest.approx(k * (s - e))
    assert abs(na - ra) <= k
    # the same game seen from b's side gives the same ratings
    nb2, na2 = elo_update(rb, ra, 1.0 - s, k)
    assert (na2, nb2) == pytest.approx((na, nb))


def test_elo_converges_to_the_win_rate() -> None:
    """A player winning 76 % of games against a fixed anchor settles near +200 Elo (expected 0.76)."""
    rng = np.random.default_rng(0)
    league = League.new("compete", 1, rng)
    for _ in range(4000):
        league.record("m0", league.anchor, float(rng.random() < 0.76), k=8)
    assert league.ratings[league.anchor] == ANCHOR_RATING  # anchors do not move
    assert league.ratings["m0"] - ANCHOR_RATING == pytest.approx(200, abs=40)


def test_new_league_members_are_distinct_and_deterministic() -> None:
    a = League.new("compete", 6, np.random.default_rng(1))
    b = League.new("compete", 6, np.random.default_rng(1))
    assert a.to_dict() == b.to_dict()
    compete = {**dataclasses.asdict(REWARD_SCENARIOS["compete"]), "flank": 0.5, "win": 3.0, "draw": -2.0}
    assert a.members[0].rewards == compete  # the scenario's weights and its shaping
    assert a.members[0].hyper == {k: v[0] for k, v in HYPERPARAMETERS.items()}
    styles = {tuple(sorted(m.rewards.items())) + tuple(sorted(m.hyper.items())) for m in a.members}
    assert len(styles) == 6
    coop = League.new("cooperate", 2, np.random.default_rng(1))
    assert coop.members[0].rewards == {**dataclasses.asdict(REWARD_SCENARIOS["cooperate"]), "beacon_press": 0.02}
    with pytest.raises(UsageError):
        League.new("nope", 2, np.random.default_rng(0))
    with pytest.raises(UsageError):
        League.new("compete", 0, np.random.default_rng(0))


@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(REWARD_SCENARIOS)))
def test_explore_stays_in_range_and_keeps_signs(seed: int, scenario: str) -> None:
    rng = np.random.default_rng(seed)
    hyper = {k: v[0] for k, v in HYPERPARAMETERS.items()}
    for _ in range(5):
        new = perturb_hyper(hyper, rng)
        for name, value in new.items():
            _, lo, hi = HYPERPARAMETERS[name]
            assert lo <= value <= hi
            old = hyper[name]
            ratio = (1 - value) / (1 - old) if name == "gamma" else value / old
            clipped = value in (lo, hi)
            assert clipped or min(abs(ratio - f) for f in PERTURB) < 1e-9
        hyper = new
    base = dataclasses.asdict(REWARD_SCENARIOS[scenario])
    rewards = perturb_rewards(base, scenario, rng)
    for name, value in rewards.items():
        if base[name] != 0.0:
            assert min(abs(value / base[name] - f) for f in PERTURB) < 1e-9
        assert value == 0.0 or np.sign(value) == {"hit_taken": -1, "hazard": -1, "draw": -1}.get(name, 1)


def test_pbt_step_exploits_the_weak_and_explores() -> None:
    league = League.new("compete", 4, np.random.default_rng(2))
    league.round = 5
    league.ratings.update(m0=1300.0, m1=1100.0, m2=1050.0, m3=900.0)
    m3_before = dataclasses.replace(league.member("m3"))
    pairs = league.pbt_step(np.random.default_rng(3), fraction=0.25)
    assert pairs == [("m3", "m0")]  # bottom quarter copies the top quarter
    m3, m0 = league.member("m3"), league.member("m0")
    assert m3.parent == "m0" and m3.generation == 1 and m3.last_exploit == 5
    assert league.ratings["m3"] == 1300.0
    assert m3.hyper not in (m3_before.hyper, m0.hyper)  # copied, then perturbed
    for name, value in m3.hyper.items():
        _, lo, hi = HYPERPARAMETERS[name]
        src = m0.hyper[name]
        ratio = (1 - value) / (1 - src) if name == "gamma" else value / src
        assert value in (lo, hi) or min(abs(ratio - f) for f in PERTURB) < 1e-9
    # the same seed, the same step
    again = League.new("compete", 4, np.random.default_rng(2))
    again.round = 5
    again.ratings.update(m0=1300.0, m1=1100.0, m2=1050.0, m3=900.0)
    assert again.pbt_step(np.random.default_rng(3), fraction=0.25) == pairs
    assert again.to_dict() == league.to_dict()
    # not ready again until ready_rounds have passed; a small gap is no reason to copy
    league.ratings["m3"] = 800.0
    assert league.pbt_step(np.random.default_rng(4)) == []
    league.round = 7
    assert league.pbt_step(np.random.default_rng(4)) == [("m3", "m0")]
    league.round = 20
    league.ratings.update(m0=1000.0, m1=995.0, m2=992.0, m3=990.0)
    assert league.pbt_step(np.random.default_rng(5), min_gap=25.0) == []


def test_styled_members_keep_their_style_through_pbt() -> None:
    """Members started from scripted styles are paid as their style's scenario pays and exploit only members of
    their own style: the strongest collector is never copied over the explorer."""
    styles = ["collector", "explorer", "collector", "wanderer"]
    league = League.new("mixed", 4, np.random.default_rng(0), styles)
    assert [m.style for m in league.members] == styles
    assert league.members[0].rewards == member_rewards("collect")  # the first of a style: unperturbed
    assert league.members[1].rewards == member_rewards("explore")
    assert league.members[3].rewards == member_rewards("mixed")  # no scenario of its own: the league's
    m2 = league.members[2].rewards
    assert m2 != member_rewards("collect") and m2["pickup"] != 0.0 and m2["beacon"] in (0.0, 0.05)
    league.round = 5
    league.ratings.update(m0=1400.0, m1=900.0, m2=1000.0, m3=800.0)
    pairs = league.pbt_step(np.random.default_rng(1), fraction=0.5)
    assert pairs == [("m2", "m0")]  # within the collectors; the explorer and the wanderer have no peer
    assert league.member("m2").style == "collector" and league.pays(league.member("m2")) == "collect"
    # without styles, one group: the strongest member is copied over the weakest, whatever it does
    plain = League.new("mixed", 4, np.random.default_rng(0))
    plain.round = 5
    plain.ratings.update(m0=1400.0, m1=900.0, m2=1000.0, m3=800.0)
    assert plain.pbt_step(np.random.default_rng(1), fraction=0.25) == [("m3", "m0")]


def _js(p: np.ndarray, q: np.ndarray) -> float:
    def h(x: np.ndarray) -> float:
        return float(-(x * np.log(x)).sum())

    return h(0.5 * (p + q)) - 0.5 * (h(p) + h(q))


@given(st.lists(st.integers(0, 500), min_size=10, max_size=10), st.lists(st.integers(0, 500), min_size=10, max_size=10))
def test_diversity_bonus_is_the_js_gradient(mine: list[int], theirs: list[int]) -> None:
    """The bonus is d JS(p, q) / d p (x 2, up to a constant), so moving p along it raises the divergence; where
    unclipped, its mean under p is KL(p || m)."""
    counts = {"m0": mine, "m1": theirs, "m2": theirs}
    bonus = np.array(diversity_bonus(counts, "m0", 1.0))
    p = (np.array(mine) + 1.0) / (np.sum(mine) + 10.0)
    q = (np.array(theirs) + 1.0) / (np.sum(theirs) + 10.0)
    m = 0.5 * (p + q)
    raw = np.log(p / m)
    assert np.allclose(bonus, np.clip(raw, -1.0, np.log(2.0)))
    if np.all(raw >= -1.0):
        assert float(p @ bonus) == pytest.approx(float((p * np.log(p / m)).sum()))
        step = 1e-4 * (bonus - bonus.mean())  # stays a distribution
        if np.abs(bonus - bonus.mean()).max() > 1e-3:
            assert _js(p + step, q) > _js(p, q)
    assert diversity_bonus(counts, "m0", 0.0) == [] and diversity_bonus({"m0": mine}, "m0", 1.0) == []
    assert diversity_bonus(counts, "m9", 1.0) == []


def test_diversity_bonus_pays_the_actions_others_do_not_use() -> None:
    counts = {"m0": [0, 90, 0, 0, 0, 0, 0, 0, 0, 10], "m1": [0, 100, 0, 0, 0, 0, 0, 0, 0, 0]}
    bonus = diversity_bonus(counts, "m0", 0.1)
    assert bonus[9] == max(bonus) > 0.05  # interact: only m0 presses it
    assert abs(bonus[1]) < 0.01  # forward: both use it


def test_opponent_sampling_follows_the_mix() -> None:
    league = League.new("cooperate", 3, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    # no snapshots yet: their share goes to the other kinds
    picks = [league.sample_opponent("m0", rng) for _ in range(4000)]
    assert "m0" not in picks and not any("@" in p for p in picks)
    rest = 1.0 - OPPONENT_MIX["snapshot"]
    assert picks.count("self") / 4000 == pytest.approx(OPPONENT_MIX["self"] / rest, abs=0.03)
    assert picks.count("scripted:cooperator") / 4000 == pytest.approx(OPPONENT_MIX["scripted"] / rest, abs=0.03)
    league.add_snapshot("m1")
    league.add_snapshot("m2")
    picks = [league.sample_opponent("m0", rng) for _ in range(4000)]
    snaps = [p for p in picks if "@" in p]
    assert len(snaps) / 4000 == pytest.approx(OPPONENT_MIX["snapshot"], abs=0.03)
    assert set(snaps) == {"m1@r0", "m2@r0"}
    assert {p for p in picks if p.startswith("m") and "@" not in p} == {"m1", "m2"}


def test_pairings_and_snapshots() -> None:
    league = League.new("compete", 3, np.random.default_rng(0))
    league.max_snapshots = 2
    games = league.pairings(np.random.default_rng(0))
    assert len(games) == 6 and all(a != b for a, b in games)
    assert [b for a, b in games if b.startswith("scripted:")] == ["scripted:competitor"] * 3
    league.ratings["m0"] = 1111.0
    snap, dropped = league.add_snapshot("m0")
    assert snap.id == "m0@r0" and dropped == [] and league.ratings["m0@r0"] == 1111.0
    league.round = 1
    league.add_snapshot("m1")
    league.round = 2
    _, dropped = league.add_snapshot("m2")
    assert [s.id for s in dropped] == ["m0@r0"] and "m0@r0" not in league.ratings
    assert [s.id for s in league.snapshots] == ["m1@r1", "m2@r2"]
    games = league.pairings(np.random.default_rng(0))
    assert len(games) == 9  # member, snapshot, anchor for each


def test_league_round_trip_and_table() -> None:
    league = League.new("mixed", 3, np.random.default_rng(0))
    league.add_snapshot("m1")
    league.record("m0", "m1", 1.0)
    league.record("m2", league.anchor, 0.0)
    back = League.from_dict(league.to_dict())
    assert back == league
    table = league.table()
    assert [r["rating"] for r in table] == sorted((r["rating"] for r in table), reverse=True)
    assert {r["kind"] for r in table} == {"member", "snapshot", "scripted"}
    assert league.best().id == "m0" and math.isclose(table[0]["rating"], league.ratings["m0"])

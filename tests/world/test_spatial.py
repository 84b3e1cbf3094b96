"""The cell grid against the brute-force oracle, on random and adversarial layouts."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mpgenie.world import geometry as geo
from mpgenie.world.spatial import (
    CellGrid,
    Neighbors,
    brute_force_neighbors,
    chord_unit,
    diff_neighbors,
    knearest,
)


def _as_dict(nb: Neighbors, n: int) -> dict[int, set[int]]:
    got = nb.to_sets()
    return {i: got.get(i, set()) for i in range(n)}


def _check(points: np.ndarray, chord: float) -> None:
    nb = CellGrid(points, chord).neighbors_within(chord)
    assert _as_dict(nb, len(points)) == brute_force_neighbors(points, chord)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[np.ndarray, float]:
    """Uniform points, clusters at the poles, clusters straddling the date line, and exact duplicates."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    radius = draw(st.sampled_from([10.0, 100.0, 1000.0]))
    render = draw(st.floats(0.5, min(60.0, radius * 2.5)))
    parts = [geo.random_unit_vectors(rng, draw(st.integers(0, 300)))]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["pole_n", "pole_s", "dateline", "duplicate", "ring"]))
        k = draw(st.integers(1, 60))
        spread = render / radius * draw(st.floats(0.1, 3.0))
        if kind in ("pole_n", "pole_s"):
            lat = (90.0 if kind == "pole_n" else -90.0) - np.sign(1 if kind == "pole_n" else -1) * np.abs(
                rng.normal(0.0, math.degrees(spread), k)
            )
            parts.append(geo.latlon_to_vec(np.clip(lat, -90, 90), rng.uniform(-180, 180, k)))
        elif kind == "dateline":
            lon = 180.0 + rng.normal(0.0, math.degrees(spread), k)
            parts.append(geo.latlon_to_vec(rng.normal(0.0, math.degrees(spread), k), (lon + 180) % 360 - 180))
        elif kind == "duplicate" and parts[0].shape[0]:
            parts.append(np.repeat(parts[0][:1], k, axis=0))
        else:  # points on a ring exactly around one point, at about the render distance
            centre = geo.random_unit_vectors(rng, 1)
            d = geo.random_tangents(rng, np.repeat(centre, k, axis=0))
            p, _ = geo.move_along(np.repeat(centre, k, axis=0), d, render / radius)
            parts.append(np.concatenate([centre, p]))
    return np.concatenate(parts), chord_unit(render, radius)


@given(layouts())
def test_neighbors_equal_brute_force(layout: tuple[np.ndarray, float]) -> None:
    points, chord = layout
    _check(points, chord)


@given(layouts(), st.integers(0, 2**32 - 1))
def test_cross_query_equals_brute_force(layout: tuple[np.ndarray, float], seed: int) -> None:
    points, chord = layout
    queries = np.concatenate([geo.random_unit_vectors(np.random.default_rng(seed), 50), points[:20]])
    got = CellGrid(points, chord).query(queries, chord)
    for i, q in enumerate(queries):
        d2 = np.sum((q - points) ** 2, axis=1)
        assert set(got.row(i).tolist()) == set(np.flatnonzero(d2 <= chord * chord).tolist())


def test_small_and_empty_inputs() -> None:
    for n in (0, 1, 2):
        _check(geo.random_unit_vectors(np.random.default_rng(n), n), 0.1)


def test_dateline_and_pole_neighbours_are_found() -> None:
    radius, render = 100.0, 30.0
    chord = chord_unit(render, radius)
    # 10 m apart across the date line, and 10 m apart across the north pole.
    half = math.degrees(5.0 / radius)
    pts = geo.latlon_to_vec([0.0, 0.0, 90 - half, 90 - half], [180 - half, -180 + half, 0.0, 180.0])
    nb = CellGrid(pts, chord).neighbors_within(chord)
    assert set(nb.row(0).tolist()) == {1}
    assert set(nb.row(2).tolist()) == {3}


def test_large_radius_grid_is_capped_and_exact() -> None:
    rng = np.random.default_rng(5)
    pts = geo.random_unit_vectors(rng, 3000)
    chord = chord_unit(0.5, 100.0)  # tiny cells would need > 128 per axis
    grid = CellGrid(pts, chord)
    assert grid.cells_per_axis == 128
    _check(pts, chord)


@given(st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_knearest_equals_brute_force(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    pts = geo.random_unit_vectors(rng, 200)
    q = geo.random_unit_vectors(rng, 5)
    _, idx = knearest(pts, q, k)
    for i in range(5):
        angles = geo.central_angle(q[i], pts)
        expected = np.sort(angles)[:k]
        np.testing.assert_allclose(np.sort(angles[idx[i]]), expected, atol=1e-12)


@given(st.integers(0, 2**32 - 1))
def test_diff_equals_set_difference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = geo.random_unit_vectors(rng, 300)
    b, _ = geo.move_along(a, geo.random_tangents(rng, a), rng.uniform(0, 0.05, 300))
    chord = 0.15
    old, new = (CellGrid(x, chord).neighbors_within(chord) for x in (a, b))
    er, ec, lr, lc = diff_neighbors(old, new)
    so, sn = _as_dict(old, 300), _as_dict(new, 300)
    assert set(zip(er.tolist(), ec.tolist(), strict=True)) == {(i, j) for i in sn for j in sn[i] - so[i]}
    assert set(zip(lr.tolist(), lc.tolist(), strict=True)) == {(i, j) for i in so for j in so[i] - sn[i]}


@given(st.integers(0, 2**32 - 1))
def test_tracked_changes_equal_set_difference(seed: int) -> None:
    """The one-scan temporal test gives the same enter/leave sets as a full diff, for small moves."""
    rng = np.random.default_rng(seed)
    n, chord, margin = 400, 0.15, 0.01
    a = geo.random_unit_vectors(rng, n)
    b, _ = geo.move_along(a, geo.random_tangents(rng, a), rng.uniform(0, margin / 2 * 0.99, n))
    valid = rng.random(n) > 0.1
    old_grid = CellGrid(a[valid], chord, ids=np.flatnonzero(valid), id_space=n)
    old = old_grid.neighbors_within(chord)
    new, (er, ec, lr, lc) = CellGrid(b, chord + margin).neighbors_and_changes(chord, a, valid, np.zeros(n, dtype=bool))
    rows = diff_neighbors(old, new)
    assert set(zip(er.tolist(), ec.tolist(), strict=True)) == set(zip(rows[0].tolist(), rows[1].tolist(), strict=True))
    assert set(zip(lr.tolist(), lc.tolist(), strict=True)) == set(zip(rows[2].tolist(), rows[3].tolist(), strict=True))

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpgenie.world import geometry as geo

lat = st.floats(-89.9, 89.9)
lon = st.floats(-179.99, 180.0)


@given(lat, lon)
def test_latlon_round_trip(la: float, lo: float) -> None:
    p = geo.latlon_to_vec(la, lo)
    assert np.linalg.norm(p) == pytest.approx(1.0)
    la2, lo2 = geo.vec_to_latlon(p)
    assert la2 == pytest.approx(la, abs=1e-9)
    assert ((lo2 - lo + 180.0) % 360.0 - 180.0) == pytest.approx(0.0, abs=1e-9)


def test_known_distances_and_bearings() -> None:
    r = 100.0
    equator0 = geo.latlon_to_vec(0.0, 0.0)
    pole = geo.latlon_to_vec(90.0, 0.0)
    assert geo.great_circle_distance(equator0, pole, r) == pytest.approx(math.pi / 2 * r)
    assert geo.great_circle_distance(equator0, -equator0, r) == pytest.approx(math.pi * r)
    assert geo.bearing(equator0, pole) == pytest.approx(0.0, abs=1e-9)
    assert geo.bearing(equator0, geo.latlon_to_vec(0.0, 10.0)) == pytest.approx(90.0)
    assert geo.bearing(equator0, geo.latlon_to_vec(0.0, -10.0)) == pytest.approx(270.0)
    # Across the date line: 179.9E to 179.9W is 0.2 degrees, heading east.
    a, b = geo.latlon_to_vec(0.0, 179.9), geo.latlon_to_vec(0.0, -179.9)
    assert geo.great_circle_distance(a, b, r) == pytest.approx(math.radians(0.2) * r)
    assert geo.bearing(a, b) == pytest.approx(90.0)


def test_tiny_distances_are_accurate() -> None:
    a = geo.latlon_to_vec(10.0, 20.0)
    b = geo.latlon_to_vec(10.0 + 1e-9, 20.0)
    assert geo.great_circle_distance(a, b, 6.4e6) == pytest.approx(math.radians(1e-9) * 6.4e6, rel=1e-6)


@given(lat, lon, st.floats(0.0, 359.99))
def test_heading_bearing_round_trip(la: float, lo: float, bearing: float) -> None:
    p = geo.latlon_to_vec(la, lo)
    h = geo.heading_from_bearing(p, bearing)
    assert abs(float(np.dot(h, p))) < 1e-12
    got = float(geo.heading_bearing(p, h))
    assert min(abs(got - bearing), 360 - abs(got - bearing)) < 1e-7


@given(lat, lon, st.floats(0.0, 359.99), st.floats(-3.0, 3.0))
def test_move_along_stays_on_sphere_and_travels_the_angle(la: float, lo: float, bearing: float, angle: float) -> None:
    p = geo.latlon_to_vec(la, lo)[None]
    d = geo.heading_from_bearing(p[0], bearing)[None]
    q, d2 = geo.move_along(p, d, angle)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    assert abs(float(np.sum(q * d2))) < 1e-12
    assert float(geo.central_angle(p, q)[0]) == pytest.approx(abs(angle), abs=1e-9)


def test_walking_a_full_great_circle_returns_home() -> None:
    p = geo.latlon_to_vec(37.0, -122.0)[None]
    h = geo.heading_from_bearing(p[0], 33.0)[None]
    step = 2 * math.pi / 10_000
    for _ in range(10_000):
        p, h = geo.move_along(p, h, step)
        p, h = geo.renormalize(p, h)
    assert float(geo.central_angle(p, geo.latlon_to_vec(37.0, -122.0)[None])[0]) < 1e-9


def test_poles_have_a_well_defined_frame() -> None:
    pole = geo.latlon_to_vec(90.0, 0.0)
    east, north = geo.east_north(pole)
    assert np.linalg.norm(east) == pytest.approx(1.0)
    assert np.linalg.norm(north) == pytest.approx(1.0)
    assert abs(float(np.dot(east, pole))) < 1e-12


def test_renormalize_repairs_garbage_heading() -> None:
    p = np.array([[0.0, 0.0, 2.0]])
    h = np.array([[0.0, 0.0, 1.0]])  # parallel to p: no tangent direction at all
    p2, h2 = geo.renormalize(p, h)
    assert np.linalg.norm(p2) == pytest.approx(1.0)
    assert np.linalg.norm(h2) == pytest.approx(1.0)
    assert abs(float(np.sum(p2 * h2))) < 1e-12

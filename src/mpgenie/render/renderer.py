"""First-person views of every player in one batched call: a ray caster over the planet and its objects.

Each pixel's ray is intersected with the planet (a sphere of radius R) and with the objects near the viewer
(players, collectibles, beacons, hazards, landmarks, each a coloured sphere). The ground is coloured by biome
(the layout's spherical Voronoi cells) with a procedural pattern a couple of metres across, so that motion is
visible in every view; everything is lit by a fixed sun and fades into the sky colour towards the render
distance. Deterministic: the same world state gives the same bytes.

The per-pixel work is one Numba kernel over all views (per view, only objects in front of the camera and within
the render distance are tested). The arrays it takes are plain (views, ...) tensors, so the same algorithm maps to
a batched GPU implementation (e.g. PyTorch) without change of data layout; only the NumPy/Numba one exists here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from mpgenie.world.actions import Action
from mpgenie.world.layout import Biome, LandmarkKind
from mpgenie.world.simulation import World

# Colours (RGB 0..1).
BIOME_COLOURS = np.array(
    [
        (0.93, 0.95, 0.98),  # snowfield
        (0.62, 0.66, 0.55),  # tundra
        (0.70, 0.85, 0.95),  # glacier
        (0.16, 0.38, 0.22),  # pine forest
        (0.50, 0.45, 0.40),  # rocklands
        (0.35, 0.55, 0.80),  # frozen lake
    ]
)
assert BIOME_COLOURS.shape[0] == len(Biome)
LANDMARK_COLOURS = np.array(
    [
        (0.05, 0.30, 0.12),  # pine
        (0.42, 0.40, 0.38),  # boulder
        (0.75, 0.92, 1.00),  # ice spire
        (0.98, 0.98, 1.00),  # igloo
        (0.60, 0.30, 0.15),  # totem
    ]
)
assert LANDMARK_COLOURS.shape[0] == len(LandmarkKind)
COLLECTIBLE_COLOUR = (1.00, 0.82, 0.10)
BEACON_COLOUR = (0.10, 0.95, 0.95)
BEACON_LIT_COLOUR = (1.00, 1.00, 0.60)
HAZARD_COLOUR = (0.90, 0.12, 0.10)
#: Action cues (``RenderSettings.action_cues``): a snowball thrown (attack) and a glowing glove (interact), drawn in
#: the player's own view (lower centre / lower right, as a first-person game draws the arm) and, for everybody
#: else, as a small sphere in front of that player. Without them an attack that hits nobody and an interact away
#: from a ready beacon leave every view identical to doing nothing, which no inverse dynamics model can tell apart.
#: Both nearly white, told apart by place: the datasets' video is 4:2:0, whose quarter-resolution chroma smears a
#: saturated disc of a few pixels (an orange glove cost 1.2 dB of codec PSNR on 32x32 frames).
ATTACK_CUE_COLOUR = (1.00, 1.00, 1.00)
INTERACT_CUE_COLOUR = (1.00, 0.93, 0.65)
CUE_RADIUS_M = 0.22
CUE_DISC = 0.07  # radius of the own view's disc, in view widths
CUE_DARK = 0.2  # the cue's colour scaled by this over bright ground
CUE_OPACITY = 0.6  # blended over the view: the codec keeps frames with cues within 0.5 dB of those without
_CUES = ((Action.ATTACK, ATTACK_CUE_COLOUR, 0.50), (Action.INTERACT, INTERACT_CUE_COLOUR, 0.80))  # + x in the view
SKY_HORIZON = (0.78, 0.86, 0.95)
SKY_ZENITH = (0.30, 0.50, 0.85)
SUN = np.array([0.4, 0.3, 0.866]) / np.linalg.norm([0.4, 0.3, 0.866])


@dataclass(frozen=True, slots=True)
class RenderSettings:
    resolution: int = 64
    fov_deg: float = 90.0
    pitch_deg: float = -12.0  # look slightly down, as a person walking does
    pattern_m: float = 2.0  # size of the ground pattern
    player_radius: float = 0.45
    collectible_radius: float = 0.35
    beacon_radius: float = 0.8
    hazard_radius: float = 1.2
    landmark_radius: float = 1.6
    action_cues: bool = True  # draw attack/interact presses (see ATTACK_CUE_COLOUR); datasets record the choice

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be 8..1024, got {self.resolution}")
        if not 10.0 <= self.fov_deg <= 170.0:
            raise ValueError(f"fov_deg must be 10..170, got {self.fov_deg}")


@dataclass(frozen=True, slots=True)
class Camera:
    """Where views are taken from: eye positions (metres, planet-centred) and orthonormal bases."""

    eye: NDArray[np.float64]  # (V, 3)
    forward: NDArray[np.float64]  # (V, 3)
    right: NDArray[np.float64]  # (V, 3)
    up: NDArray[np.float64]  # (V, 3)

    @staticmethod
    def first_person(world: World, players: NDArray[np.int64], settings: RenderSettings) -> Camera:
        cfg = world.cfg
        p = world.pos[players]
        h = world.fwd[players]
        eye = p * (cfg.radius + cfg.eye_height + world.height[players])[:, None]
        pitch = math.radians(settings.pitch_deg)
        forward = h * math.cos(pitch) + p * math.sin(pitch)
        right = np.cross(h, p)
        up = np.cross(right, forward)
        return Camera(eye, forward, right, up)


class Renderer:
    """Renders views of one world. Reuses its scene buffers between calls."""

    def __init__(self, world: World, settings: RenderSettings | None = None) -> None:
        self.world = world
        self.settings = settings or RenderSettings()
        lay = world.layout
        r = world.cfg.radius
        s = self.settings
        # Static spheres: landmarks, beacons, hazards, collectibles (metres, planet-centred).
        self._static_centres = np.concatenate(
            [
                lay.landmark_pos * (r + s.landmark_radius),
                lay.beacon_pos * (r + s.beacon_radius),
                lay.hazard_pos * (r + 0.2 * s.hazard_radius),
                lay.collectible_pos * (r + 0.5),
            ]
        ).reshape(-1, 3)
        self._static_radii = np.concatenate(
            [
                np.full(lay.landmark_pos.shape[0], s.landmark_radius),
                np.full(lay.beacon_pos.shape[0], s.beacon_radius),
                np.full(lay.hazard_pos.shape[0], s.hazard_radius),
                np.full(lay.collectible_pos.shape[0], s.collectible_radius),
            ]
        )
        self._static_colours = np.concatenate(
            [
                LANDMARK_COLOURS[lay.landmark_kind].reshape(-1, 3),
                np.tile(BEACON_COLOUR, (lay.beacon_pos.shape[0], 1)),
                np.tile(HAZARD_COLOUR, (lay.hazard_pos.shape[0], 1)),
                np.tile(COLLECTIBLE_COLOUR, (lay.collectible_pos.shape[0], 1)),
            ]
        ).reshape(-1, 3)
        self._n_landmarks = lay.landmark_pos.shape[0]
        self._n_beacons = lay.beacon_pos.shape[0]
        self._n_hazards = lay.hazard_pos.shape[0]
        rng = np.random.default_rng([world.cfg.seed, 900])
        self._pattern_axes = rng.normal(size=(2, 3))
        self._pattern_axes /= np.linalg.norm(self._pattern_axes, axis=1, keepdims=True)

    def _scene(self) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """All spheres now: static ones (collectibles hidden while picked up, lit beacons glow) + players."""
        w = self.world
        s = self.settings
        ids = w.active_ids()
        colours = self._static_colours.copy()
        visible = np.ones(self._static_radii.shape[0], dtype=bool)
        start_c = self._n_landmarks + self._n_beacons + self._n_hazards
        visible[start_c:] = w.collectible_active
        b0 = self._n_landmarks
        lit = w.beacon_ready_at > w.tick  # resting after activation: shown lit
        colours[b0 : b0 + self._n_beacons][lit] = BEACON_LIT_COLOUR
        player_centres = w.pos[ids] * (w.cfg.radius + s.player_radius * 2.0 + w.height[ids])[:, None]
        player_colours = _player_colours(ids)
        centres = np.concatenate([self._static_centres[visible], player_centres])
        radii = np.concatenate([self._static_radii[visible], np.full(ids.shape[0], s.player_radius)])
        cols = np.concatenate([colours[visible], player_colours])
        owner = np.concatenate([np.full(int(visible.sum()), -1, dtype=np.int64), ids])
        if s.action_cues:  # a small sphere in front of each player pressing attack or interact (its own)
            action = w.last_action[ids]
            for kind, colour, _ in _CUES:
                who = ids[action == kind]
                if who.size:
                    up = w.cfg.radius + s.player_radius * 2.0 + w.height[who]
                    at = w.pos[who] * up[:, None] + w.fwd[who] * (s.player_radius + CUE_RADIUS_M)
                    centres = np.concatenate([centres, at])
                    radii = np.concatenate([radii, np.full(who.size, CUE_RADIUS_M)])
                    cols = np.concatenate([cols, np.tile(colour, (who.size, 1))])
                    owner = np.concatenate([owner, who])
        return centres, radii, cols, owner

    def render(self, players: NDArray[np.integer] | None = None, others: bool = True) -> NDArray[np.uint8]:
        """First-person views of ``players`` (default: every active player), shape (V, res, res, 3) uint8.
        ``others=False`` leaves every player out of the scene: the difference to the full view is exactly where other
        players are seen (occlusion included), which is how the world model's multiplayer consistency is scored."""
        w = self.world
        ids = w.active_ids() if players is None else np.asarray(players, dtype=np.int64)
        cam = Camera.first_person(w, ids, self.settings)
        out = self.render_cameras(cam, viewers=ids, others=others)
        if self.settings.action_cues:
            _draw_own_cues(out, w.last_action[ids])
        return out

    def render_cameras(
        self, cam: Camera, viewers: NDArray[np.int64] | None = None, others: bool = True
    ) -> NDArray[np.uint8]:
        """Views from arbitrary cameras (spectator/orbit cameras pass ``viewers=None``: nobody is hidden)."""
        s = self.settings
        cfg = self.world.cfg
        n_views = cam.eye.shape[0]
        centres, radii, colours, owner = self._scene()
        # Per view, the spheres in front of the camera and within the render distance (+ radius): CSR lists.
        rel = centres[None, :, :] - cam.eye[:, None, :]
        dist = np.linalg.norm(rel, axis=2)
        ahead = np.einsum("vkc,vc->vk", rel, cam.forward) > -radii[None, :]
        near = dist < cfg.render_distance + radii[None, :]
        mine = owner[None, :] == (viewers[:, None] if viewers is not None else -2)
        keep = ahead & near & ~mine & (others | (owner < 0))[None, :]
        counts = keep.sum(axis=1)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        indices = np.nonzero(keep)[1].astype(np.int64)
        out = np.empty((n_views, s.resolution, s.resolution, 3), dtype=np.uint8)
        tan_half = math.tan(math.radians(s.fov_deg) / 2.0)
        _render_kernel(
            out,
            cam.eye,
            cam.forward,
            cam.right,
            cam.up,
            tan_half,
            cfg.radius,
            cfg.render_distance,
            centres,
            radii,
            colours,
            indptr,
            indices,
            self.world.layout.biome_centers,
            BIOME_COLOURS,
            self._pattern_axes,
            2.0 * math.pi * cfg.radius / s.pattern_m,
            SUN,
            np.array(SKY_HORIZON),
            np.array(SKY_ZENITH),
        )
        return out


def _draw_own_cues(out: NDArray[np.uint8], actions: NDArray[np.int8]) -> None:
    """The own view's cue for each view whose player pressed attack or interact: a disc near the bottom edge,
    light over dark ground and dark over light ground (snowfields), its rim blended by pixel coverage (a hard rim
    costs the video codec more than the disc is worth)."""
    res = out.shape[1]
    for kind, colour, x in _CUES:
        views = np.flatnonzero(actions == kind)
        if views.size:
            rows, cols = np.mgrid[0:res, 0:res] + 0.5
            dist = np.hypot(rows - 0.9 * res, cols - x * res)
            alpha = CUE_OPACITY * np.clip(CUE_DISC * res - dist + 0.5, 0.0, 1.0)
            r, c = np.nonzero(alpha)
            under = out[views[:, None], r, c].astype(np.float64)  # (views, pixels, 3)
            light = np.array(colour) * 255.0
            dark = light * CUE_DARK
            bright = under.mean(axis=(1, 2)) > 150.0
            ink = np.where(bright[:, None, None], dark, light)
            a = alpha[r, c][None, :, None]
            out[views[:, None], r, c] = np.round(under * (1.0 - a) + ink * a).astype(np.uint8)


def _player_colours(ids: NDArray[np.int64]) -> NDArray[np.float64]:
    """A stable, saturated colour per player id (golden-ratio hues), so views tell players apart."""
    hue = (ids * 0.61803398875) % 1.0
    h6 = hue * 6.0
    c = np.stack([np.abs(h6 - 3.0) - 1.0, 2.0 - np.abs(h6 - 2.0), 2.0 - np.abs(h6 - 4.0)], axis=1)
    return 0.15 + 0.75 * np.clip(c, 0.0, 1.0)


@njit(cache=True)
def _render_kernel(  # type: ignore[no-untyped-def]
    out,
    eye,
    forward,
    right,
    up,
    tan_half,
    radius,
    render_distance,
    centres,
    radii,
    colours,
    indptr,
    indices,
    biome_centres,
    biome_colours,
    pattern_axes,
    pattern_freq,
    sun,
    sky_horizon,
    sky_zenith,
):
    n_views, res = out.shape[0], out.shape[1]
    n_biomes = biome_centres.shape[0]
    r2 = radius * radius
    for v in range(n_views):
        ex, ey, ez = eye[v, 0], eye[v, 1], eye[v, 2]
        enorm = math.sqrt(ex * ex + ey * ey + ez * ez)
        ux, uy, uz = ex / enorm, ey / enorm, ez / enorm  # local vertical, for the sky gradient
        e2 = ex * ex + ey * ey + ez * ez
        for row in range(res):
            sy = (1.0 - 2.0 * (row + 0.5) / res) * tan_half
            for col in range(res):
                sx = (2.0 * (col + 0.5) / res - 1.0) * tan_half
                dx = forward[v, 0] + sx * right[v, 0] + sy * up[v, 0]
                dy = forward[v, 1] + sx * right[v, 1] + sy * up[v, 1]
                dz = forward[v, 2] + sx * right[v, 2] + sy * up[v, 2]
                dn = math.sqrt(dx * dx + dy * dy + dz * dz)
                dx, dy, dz = dx / dn, dy / dn, dz / dn
                # Planet.
                b = ex * dx + ey * dy + ez * dz
                disc = b * b - (e2 - r2)
                t_best = 1e30
                hit = -1  # -1 sky, -2 ground, k >= 0 sphere k
                if disc >= 0.0:
                    t = -b - math.sqrt(disc)
                    if t > 0.0:
                        t_best = t
                        hit = -2
                # Objects.
                for j in range(indptr[v], indptr[v + 1]):
                    k = indices[j]
                    ox, oy, oz = ex - centres[k, 0], ey - centres[k, 1], ez - centres[k, 2]
                    bb = ox * dx + oy * dy + oz * dz
                    cc = ox * ox + oy * oy + oz * oz - radii[k] * radii[k]
                    dd = bb * bb - cc
                    if dd >= 0.0:
                        t = -bb - math.sqrt(dd)
                        if 0.0 < t < t_best:
                            t_best = t
                            hit = k
                # Sky colour for this direction (also the fog colour).
                elev = dx * ux + dy * uy + dz * uz
                w = min(1.0, max(0.0, elev * 2.0))
                skr = sky_horizon[0] * (1.0 - w) + sky_zenith[0] * w
                skg = sky_horizon[1] * (1.0 - w) + sky_zenith[1] * w
                skb = sky_horizon[2] * (1.0 - w) + sky_zenith[2] * w
                if hit == -1:
                    cr, cg, cb = skr, skg, skb
                else:
                    px, py, pz = ex + t_best * dx, ey + t_best * dy, ez + t_best * dz
                    if hit == -2:
                        nx, ny, nz = px / radius, py / radius, pz / radius
                        best = -2.0
                        biome = 0
                        for i in range(n_biomes):
                            dot = nx * biome_centres[i, 0] + ny * biome_centres[i, 1] + nz * biome_centres[i, 2]
                            if dot > best:
                                best = dot
                                biome = i
                        bi = biome % biome_colours.shape[0]
                        a = nx * pattern_axes[0, 0] + ny * pattern_axes[0, 1] + nz * pattern_axes[0, 2]
                        c2 = nx * pattern_axes[1, 0] + ny * pattern_axes[1, 1] + nz * pattern_axes[1, 2]
                        pattern = 0.88 + 0.12 * math.sin(pattern_freq * a) * math.sin(pattern_freq * c2)
                        br, bg, bbl = (
                            biome_colours[bi, 0] * pattern,
                            biome_colours[bi, 1] * pattern,
                            biome_colours[bi, 2] * pattern,
                        )
                    else:
                        nx = (px - centres[hit, 0]) / radii[hit]
                        ny = (py - centres[hit, 1]) / radii[hit]
                        nz = (pz - centres[hit, 2]) / radii[hit]
                        br, bg, bbl = colours[hit, 0], colours[hit, 1], colours[hit, 2]
                    light = 0.45 + 0.55 * max(0.0, nx * sun[0] + ny * sun[1] + nz * sun[2])
                    fog = min(1.0, t_best / render_distance)
                    fog = fog * fog
                    cr = br * light * (1.0 - fog) + skr * fog
                    cg = bg * light * (1.0 - fog) + skg * fog
                    cb = bbl * light * (1.0 - fog) + skb * fog
                out[v, row, col, 0] = min(255, int(cr * 255.0 + 0.5))
                out[v, row, col, 1] = min(255, int(cg * 255.0 + 0.5))
                out[v, row, col, 2] = min(255, int(cb * 255.0 + 0.5))

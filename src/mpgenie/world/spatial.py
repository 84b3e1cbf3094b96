"""Spatial index on the sphere: radius (area-of-interest) queries, cross queries and k-nearest neighbours.

Chosen by measurement (BENCHMARKS.md, ``mpgenie bench aoi``): a uniform 3D cell grid over the unit sphere's
bounding cube, rebuilt every tick by a counting sort and scanned by compiled (Numba) kernels. Points are unit
vectors; a great-circle radius ``d`` on a planet of radius ``R`` is the 3D chord ``2 sin(d / 2R)``, and chord length
is monotonic in surface distance, so a 3D radius query *is* an exact great-circle query: no special case at the
poles or the date line (there is no date line in 3D).

Why not the alternatives: SciPy's cKDTree ``query_pairs`` returns a flat unordered pair list (per-player lists
then need an O(P log P) sort) and costs ~3x the grid; brute force is O(N^2). HEALPix/H3 cells would need a
neighbour-ring walk per cell for the same result. The grid's scan also yields the tick-to-tick AOI changes
(:meth:`CellGrid.neighbors_and_changes`), so no separate diff is needed on the usual path.

Neighbour sets are returned as CSR (:class:`Neighbors`), one row per indexed id in the grid's cell order, each row
listing every other id within the radius (unordered; :meth:`Neighbors.row` sorts one). Rows are symmetric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mpgenie.world.geometry import Vec

#: The grid never has more than this many cells per axis (bounds memory at 128^3 counters; for tiny radii
#: the cells simply become larger than the radius, which stays exact and only scans more candidates).
MAX_CELLS_PER_AXIS = 128
_LO = -1.0 - 1e-9


@dataclass(frozen=True, slots=True)
class Neighbors:
    """Neighbour lists in CSR form, rows in storage order (the grid's cell order, for speed).

    Storage row ``r`` belongs to id ``row_ids[r]`` and holds its neighbours' ids in
    ``indices[indptr[r]:indptr[r + 1]]`` (in no particular order). ``row_of[id]`` is the storage row of an id, or
    -1 when the id has no row (not indexed). Use :meth:`row` to read one id's neighbours.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    row_ids: NDArray[np.int64]
    row_of: NDArray[np.int64]

    @property
    def num_entries(self) -> int:
        """Number of (row, neighbour) entries; twice the number of unordered pairs for a symmetric set."""
        return int(self.indptr[-1])

    def row(self, ident: int) -> NDArray[np.int64]:
        """The neighbours of ``ident``, ascending (empty when it has no row)."""
        if not 0 <= ident < self.row_of.shape[0] or self.row_of[ident] < 0:
            return np.zeros(0, dtype=np.int64)
        r = self.row_of[ident]
        return np.sort(self.indices[self.indptr[r] : self.indptr[r + 1]])

    def pairs(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """All entries as (id, neighbour id) arrays, sorted by id then neighbour (allocates; not for hot paths)."""
        rows = np.repeat(self.row_ids, np.diff(self.indptr))
        order = np.lexsort((self.indices, rows))
        return rows[order], self.indices[order]

    def to_sets(self) -> dict[int, set[int]]:
        """``{id: set of neighbour ids}`` for every id with a row (for tests and small tools)."""
        return {
            int(ident): set(self.indices[self.indptr[r] : self.indptr[r + 1]].tolist())
            for r, ident in enumerate(self.row_ids)
        }

    @staticmethod
    def empty(id_space: int) -> Neighbors:
        return Neighbors(
            np.zeros(1, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.full(id_space, -1, dtype=np.int64),
        )


def chord_unit(distance: float, radius: float) -> float:
    """Chord on the unit sphere for a great-circle ``distance`` on a sphere of ``radius``."""
    return 2.0 * math.sin(min(distance / radius, math.pi) / 2.0)


class CellGrid:
    """Points on the unit sphere binned into a uniform 3D grid of ``cell``-sized cubes.

    Exact for any query chord <= the cell size (each query scans its own cell and the 26 around it).
    ``ids`` names the points in results (default 0..N-1); ``id_space`` bounds the ids (default max id + 1).
    """

    def __init__(
        self, points: Vec, cell: float, ids: NDArray[np.int64] | None = None, id_space: int | None = None
    ) -> None:
        if cell <= 0.0 or not math.isfinite(cell):
            raise ValueError(f"cell size must be positive, got {cell!r}")
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"points must have shape (N, 3), got {self.points.shape}")
        n = self.points.shape[0]
        self.ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
        if self.ids.shape != (n,):
            raise ValueError(f"ids must have shape ({n},), got {self.ids.shape}")
        self.id_space = id_space if id_space is not None else (int(self.ids.max()) + 1 if n else 0)
        span = 2.0 + 2e-9
        per_axis = min(MAX_CELLS_PER_AXIS, max(1, math.floor(span / cell)))
        self.cells_per_axis = per_axis
        self.cell = span / per_axis
        self._inv = 1.0 / self.cell
        cells, self._starts, order = _bin_points(self.points, _LO, self._inv, per_axis)
        self._order = order
        # Points, ids and cells in cell order: a neighbourhood scan then reads contiguous memory.
        self._sorted_points = np.ascontiguousarray(self.points[order])
        self._sorted_ids = self.ids[order]
        self._sorted_cells = cells[order]

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def _check_chord(self, chord: float) -> float:
        if not (0.0 <= chord <= self.cell):
            raise ValueError(f"query chord {chord!r} outside [0, cell={self.cell!r}]")
        return chord * chord

    def neighbors_within(self, chord: float, capacity_hint: int = 0) -> Neighbors:
        """For every indexed point, the other indexed points within ``chord`` (inclusive).

        ``capacity_hint`` (e.g. last tick's entry count) sizes the output buffer so that one pass suffices.
        """
        r2 = self._check_chord(chord)
        n = len(self)
        args = (
            self._sorted_points,
            self._sorted_ids,
            self._sorted_cells,
            self._starts,
            self.cells_per_axis,
            r2,
        )
        buf = np.empty(max(1024, capacity_hint + capacity_hint // 8, 32 * n), dtype=np.int64)
        indptr, needed = _self_neighbors(*args, buf)
        if needed >= buf.shape[0]:
            buf = np.empty(needed + 1, dtype=np.int64)
            indptr, needed = _self_neighbors(*args, buf)
        return Neighbors(indptr, buf[:needed], self._sorted_ids, self._row_of(self._sorted_ids))

    def neighbors_and_changes(
        self,
        chord: float,
        prev_points: Vec,
        prev_valid: NDArray[np.bool_],
        untracked: NDArray[np.bool_],
        capacity_hints: tuple[int, int, int] = (0, 0, 0),
    ) -> tuple[Neighbors, tuple[NDArray[np.int64], ...]]:
        """:meth:`neighbors_within` plus which pairs entered/left the radius since ``prev_points``.

        The temporal test in the same scan: a pair enters when it is within ``chord`` now but was not at
        ``prev_points`` (or one side was not ``prev_valid``), and leaves the other way round. Exact for every
        pair where both points moved less than ``(cell - chord) / 2`` since then (a pair that was inside is then
        still among the scanned candidates); pairs touching an ``untracked`` point (teleported ones) are left to
        the caller. Arrays are aligned with the grid's points. Returns the neighbours and
        ``(enter_ids, enter_neighbors, leave_ids, leave_neighbors)``.
        """
        r2 = self._check_chord(chord)
        order = self._order
        sorted_prev = np.ascontiguousarray(np.asarray(prev_points, dtype=np.float64)[order])
        # Points without a previous position get distinct far-away sentinels: they were never within range of
        # anything, so the kernel needs no validity test in its inner loop.
        invalid = np.flatnonzero(~np.asarray(prev_valid, dtype=bool)[order])
        sorted_prev[invalid] = 0.0
        sorted_prev[invalid, 0] = 1e3 * (invalid + 1.0)
        skip = np.ascontiguousarray(untracked[order])
        n = len(self)
        hint_n, hint_e, hint_l = capacity_hints
        sizes = (max(1024, hint_n + hint_n // 8, 32 * n), max(1024, 2 * hint_e), max(1024, 2 * hint_l))
        for _ in range(2):
            out, enter_r, enter_c = (
                np.empty(sizes[0], np.int64),
                np.empty(sizes[1], np.int64),
                np.empty(sizes[1], np.int64),
            )
            leave_r, leave_c = np.empty(sizes[2], np.int64), np.empty(sizes[2], np.int64)
            indptr, m, ne, nl = _self_neighbors_tracked(
                self._sorted_points,
                sorted_prev,
                skip,
                self._sorted_ids,
                self._sorted_cells,
                self._starts,
                self.cells_per_axis,
                r2,
                out,
                enter_r,
                enter_c,
                leave_r,
                leave_c,
            )
            if m < sizes[0] and ne <= sizes[1] and nl <= sizes[2]:
                break
            sizes = (m + 1, ne + 1, nl + 1)
        nb = Neighbors(indptr, out[:m], self._sorted_ids, self._row_of(self._sorted_ids))
        return nb, (enter_r[:ne], enter_c[:ne], leave_r[:nl], leave_c[:nl])

    def query(self, queries: Vec, chord: float) -> Neighbors:
        """For every query point ``q`` (row id = its index), the indexed ids within ``chord`` (inclusive)."""
        r2 = self._check_chord(chord)
        q = np.ascontiguousarray(queries, dtype=np.float64).reshape(-1, 3)
        args = (
            q,
            self._sorted_points,
            self._sorted_ids,
            _LO,
            self._inv,
            self.cells_per_axis,
            self._starts,
            r2,
        )
        buf = np.empty(max(1024, 4 * q.shape[0]), dtype=np.int64)
        indptr, needed = _cross_neighbors(*args, buf)
        if needed >= buf.shape[0]:
            buf = np.empty(needed + 1, dtype=np.int64)
            indptr, needed = _cross_neighbors(*args, buf)
        rows = np.arange(q.shape[0], dtype=np.int64)
        return Neighbors(indptr, buf[:needed], rows, rows.copy())

    def _row_of(self, row_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        row_of = np.full(self.id_space, -1, dtype=np.int64)
        row_of[row_ids] = np.arange(row_ids.shape[0], dtype=np.int64)
        return row_of


def knearest(points: Vec, queries: Vec, k: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The ``k`` nearest indexed points (by great-circle distance) to each query: (unit chords, indices).

    Nearest by chord is nearest by great-circle distance (monotonic). Rows with fewer than ``k`` points have
    ``inf`` chords and index ``len(points)``, as in SciPy. Not a per-tick hot path, so SciPy's kd-tree is fine.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    tree = cKDTree(points)
    dist, idx = tree.query(np.asarray(queries, dtype=np.float64).reshape(-1, 3), k=k)
    return np.asarray(dist).reshape(-1, k), np.asarray(idx, dtype=np.int64).reshape(-1, k)


def brute_force_neighbors(points: Vec, chord: float, block: int = 2048) -> dict[int, set[int]]:
    """The O(N^2) oracle for :meth:`CellGrid.neighbors_within`: same comparison, no index."""
    p = np.asarray(points, dtype=np.float64)
    n = p.shape[0]
    r2 = chord * chord
    result: dict[int, set[int]] = {i: set() for i in range(n)}
    for start in range(0, n, block):
        a = p[start : start + block]
        dx = a[:, None, 0] - p[None, :, 0]
        dy = a[:, None, 1] - p[None, :, 1]
        dz = a[:, None, 2] - p[None, :, 2]
        i, j = np.nonzero(dx * dx + dy * dy + dz * dz <= r2)
        for a_i, b_j in zip((i + start).tolist(), j.tolist(), strict=True):
            if a_i != b_j:
                result[a_i].add(b_j)
    return result


def diff_neighbors(old: Neighbors, new: Neighbors) -> tuple[NDArray[np.int64], ...]:
    """Entries that appeared and disappeared between two neighbour sets over the same id space.

    Returns ``(enter_ids, enter_neighbors, leave_ids, leave_neighbors)``, each sorted by id then neighbour.
    An id present in only one of the two sets enters (or leaves) with all its neighbours.
    """
    if old.row_of.shape[0] != new.row_of.shape[0]:
        raise ValueError(f"id spaces differ: {old.row_of.shape[0]} != {new.row_of.shape[0]}")
    er, ec, lr, lc = _diff_rows(
        old.indptr, old.indices, old.row_ids, old.row_of, new.indptr, new.indices, new.row_ids, new.row_of
    )
    enter = np.lexsort((ec, er))
    leave = np.lexsort((lc, lr))
    return er[enter], ec[enter], lr[leave], lc[leave]


# --- compiled kernels -----------------------------------------------------------------------------------------
# Written for the branch predictor: candidates are appended unconditionally and the write cursor advances by
# the comparison's result (0 or 1), and buffers are never reallocated inside a loop (an undersized buffer makes
# the kernel report the size it needs; the caller retries once). The slot at the cursor is always scratch, so a
# buffer is big enough only when the final count is strictly below its length.


@njit(cache=True)
def _cell_coord(v: float, lo: float, inv: float, g: int) -> int:
    c = int((v - lo) * inv)
    if c < 0:
        return 0
    if c >= g:
        return g - 1
    return c


@njit(cache=True)
def _bin_points(points, lo, inv, g):  # type: ignore[no-untyped-def]
    """Counting sort of points by cell: (cell of each point, first sorted index of each cell, sort order)."""
    n = points.shape[0]
    cells = np.empty(n, np.int64)
    total = g * g * g
    starts = np.zeros(total + 1, np.int64)
    for i in range(n):
        ix = _cell_coord(points[i, 0], lo, inv, g)
        iy = _cell_coord(points[i, 1], lo, inv, g)
        iz = _cell_coord(points[i, 2], lo, inv, g)
        c = (ix * g + iy) * g + iz
        cells[i] = c
        starts[c + 1] += 1
    for c in range(total):
        starts[c + 1] += starts[c]
    cursor = starts[:total].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        c = cells[i]
        order[cursor[c]] = i
        cursor[c] += 1
    return cells, starts, order


@njit(cache=True, inline="always")
def _scan(x, y, z, skip, pts, ids, ix, iy, iz, g, starts, r2, out, m):  # type: ignore[no-untyped-def]
    """Append the ids of sorted points within ``r2`` of (x, y, z), except sorted index ``skip``."""
    last = out.shape[0] - 1
    for ax in range(max(ix - 1, 0), min(ix + 2, g)):
        for ay in range(max(iy - 1, 0), min(iy + 2, g)):
            base = (ax * g + ay) * g
            # The three cells along z are adjacent in sorted order: one contiguous range.
            for k in range(starts[base + max(iz - 1, 0)], starts[base + min(iz + 2, g)]):
                dx = x - pts[k, 0]
                dy = y - pts[k, 1]
                dz = z - pts[k, 2]
                out[min(m, last)] = ids[k]
                m += (dx * dx + dy * dy + dz * dz <= r2) & (k != skip)
    return m


@njit(cache=True)
def _self_neighbors(pts, ids, cells, starts, g, r2, out):  # type: ignore[no-untyped-def]
    n = pts.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    gg = g * g
    m = 0
    for s in range(n):
        c = cells[s]
        m = _scan(pts[s, 0], pts[s, 1], pts[s, 2], s, pts, ids, c // gg, (c // g) % g, c % g, g, starts, r2, out, m)
        indptr[s + 1] = m
    return indptr, m


@njit(cache=True)
def _cross_neighbors(queries, pts, ids, lo, inv, g, starts, r2, out):  # type: ignore[no-untyped-def]
    n = queries.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    m = 0
    for i in range(n):
        x, y, z = queries[i, 0], queries[i, 1], queries[i, 2]
        m = _scan(
            x,
            y,
            z,
            -1,
            pts,
            ids,
            _cell_coord(x, lo, inv, g),
            _cell_coord(y, lo, inv, g),
            _cell_coord(z, lo, inv, g),
            g,
            starts,
            r2,
            out,
            m,
        )
        indptr[i + 1] = m
    return indptr, m


@njit(cache=True)
def _diff_rows(old_ptr, old_idx, old_ids, old_row_of, new_ptr, new_idx, new_ids, new_row_of):  # type: ignore[no-untyped-def]
    """Set difference per id with stamp arrays: ``in_old[j] == id`` marks j as in id's old row, and so on.

    Row ids are unique, so an id is its own stamp and the arrays need no clearing between rows.
    """
    space = old_row_of.shape[0]
    in_old = np.full(space, -1, np.int64)
    in_new = np.full(space, -1, np.int64)
    enter_r = np.empty(new_idx.shape[0], np.int64)
    enter_c = np.empty(new_idx.shape[0], np.int64)
    leave_r = np.empty(old_idx.shape[0], np.int64)
    leave_c = np.empty(old_idx.shape[0], np.int64)
    ne = 0
    nl = 0
    for r in range(new_ids.shape[0]):
        ident = new_ids[r]
        o = old_row_of[ident]
        if o >= 0:
            for e in range(old_ptr[o], old_ptr[o + 1]):
                in_old[old_idx[e]] = ident
        for e in range(new_ptr[r], new_ptr[r + 1]):
            j = new_idx[e]
            in_new[j] = ident
            enter_r[ne] = ident
            enter_c[ne] = j
            ne += in_old[j] != ident
        if o >= 0:
            for e in range(old_ptr[o], old_ptr[o + 1]):
                j = old_idx[e]
                leave_r[nl] = ident
                leave_c[nl] = j
                nl += in_new[j] != ident
    for o in range(old_ids.shape[0]):
        ident = old_ids[o]
        if new_row_of[ident] < 0:
            for e in range(old_ptr[o], old_ptr[o + 1]):
                leave_r[nl] = ident
                leave_c[nl] = old_idx[e]
                nl += 1
    return enter_r[:ne].copy(), enter_c[:ne].copy(), leave_r[:nl].copy(), leave_c[:nl].copy()


@njit(cache=True)
def _self_neighbors_tracked(  # type: ignore[no-untyped-def]
    pts,
    prev,
    skip,
    ids,
    cells,
    starts,
    g,
    r2,
    out,
    enter_r,
    enter_c,
    leave_r,
    leave_c,
):
    n = pts.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    last_o = out.shape[0] - 1
    cap_e = enter_r.shape[0]
    cap_l = leave_r.shape[0]
    gg = g * g
    m = 0
    ne = 0
    nl = 0
    for s in range(n):
        c = cells[s]
        ix, iy, iz = c // gg, (c // g) % g, c % g
        x, y, z = pts[s, 0], pts[s, 1], pts[s, 2]
        qx, qy, qz = prev[s, 0], prev[s, 1], prev[s, 2]
        me = ids[s]
        skip_s = skip[s]
        for ax in range(max(ix - 1, 0), min(ix + 2, g)):
            for ay in range(max(iy - 1, 0), min(iy + 2, g)):
                base = (ax * g + ay) * g
                for k in range(starts[base + max(iz - 1, 0)], starts[base + min(iz + 2, g)]):
                    dx = x - pts[k, 0]
                    dy = y - pts[k, 1]
                    dz = z - pts[k, 2]
                    ex = qx - prev[k, 0]
                    ey = qy - prev[k, 1]
                    ez = qz - prev[k, 2]
                    now_in = dx * dx + dy * dy + dz * dz <= r2
                    was_in = ex * ex + ey * ey + ez * ez <= r2
                    out[min(m, last_o)] = ids[k]
                    m += now_in & (k != s)
                    # Rare (a pair crossing the radius): a well-predicted branch.
                    if now_in != was_in:
                        if k == s or skip_s or skip[k]:
                            continue
                        if now_in:
                            if ne < cap_e:
                                enter_r[ne] = me
                                enter_c[ne] = ids[k]
                            ne += 1
                        else:
                            if nl < cap_l:
                                leave_r[nl] = me
                                leave_c[nl] = ids[k]
                            nl += 1
        indptr[s + 1] = m
    return indptr, m, ne, nl

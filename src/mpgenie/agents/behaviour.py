"""Behavioural diversity of agents from their action histograms: one definition for ``dataset stats`` (recorded
episodes) and ``eval agents`` (a population against the scripted mixture), so both report the same measure.

- action entropy: the entropy (bits, 0..log2(10)) of each agent's action distribution, averaged over agents;
- diversity: the mean Jensen-Shannon divergence (bits, 0..1) between every two agents' action distributions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def entropy_bits(p: NDArray[np.float64]) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def js_bits(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    m = 0.5 * (p + q)
    return entropy_bits(m) - 0.5 * (entropy_bits(p) + entropy_bits(q))


def distributions(histograms: NDArray[np.integer]) -> NDArray[np.float64]:
    """Rows of action counts ``(agents, 10)`` as distributions (an agent that never acted stays all zeros)."""
    h = np.asarray(histograms, dtype=np.float64)
    return h / np.maximum(h.sum(axis=1, keepdims=True), 1.0)


def mean_action_entropy_bits(dists: NDArray[np.float64]) -> float:
    return float(np.mean([entropy_bits(p) for p in dists])) if len(dists) else 0.0


def diversity_js_bits(dists: NDArray[np.float64]) -> float:
    pairs = [js_bits(dists[i], dists[j]) for i in range(len(dists)) for j in range(i + 1, len(dists))]
    return float(np.mean(pairs)) if pairs else 0.0

"""Mesh edge topology (numpy, computed once per triangle list)."""
from __future__ import annotations

import numpy as np


def triangle_neighbors(triangles) -> np.ndarray:
    """Neighbour across each edge.

    Args:
      triangles: (F, 3) integer array (concrete, not traced).
    Returns:
      (F, 3) int32: entry ``[f, k]`` is a triangle sharing the edge opposite
      corner ``k`` (corners ``k+1, k+2``), or -1 on a boundary. On a
      non-manifold edge one of the other triangles is chosen.
    """
    tri = np.asarray(triangles, np.int64)
    f = len(tri)
    if f == 0:
        return np.zeros((0, 3), np.int32)
    a = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0]])
    b = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    owner = np.tile(np.arange(f), 3)
    slot = np.repeat(np.arange(3), f)
    order = np.lexsort((owner, hi, lo))
    lo_s, hi_s, own_s = lo[order], hi[order], owner[order]
    same_next = np.zeros(len(order), bool)
    same_next[:-1] = (lo_s[:-1] == lo_s[1:]) & (hi_s[:-1] == hi_s[1:])
    same_prev = np.zeros(len(order), bool)
    same_prev[1:] = same_next[:-1]
    nb_sorted = np.full(len(order), -1, np.int64)
    nb_sorted[same_next] = own_s[1:][same_next[:-1]]
    take_prev = same_prev & (nb_sorted < 0)
    nb_sorted[take_prev] = own_s[:-1][take_prev[1:]]
    out = np.full((f, 3), -1, np.int32)
    out[owner[order], slot[order]] = nb_sorted
    return out

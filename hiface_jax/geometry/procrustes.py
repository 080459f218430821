"""Rigid (and similarity) alignment of corresponding point sets: Kabsch / Umeyama."""

from __future__ import annotations

import numpy as np


def procrustes(
    source: np.ndarray, target: np.ndarray, with_scale: bool = False, weights: np.ndarray | None = None
) -> tuple[np.ndarray, float, np.ndarray]:
    """The rotation R, scale s and translation t minimising sum_i w_i |s R source_i + t - target_i|^2.

    Umeyama (1991), with the reflection fix, so R is a proper rotation.

    Args:
      source: (N, 3) points.
      target: (N, 3) corresponding points.
      with_scale: also fit a uniform scale (else s = 1).
      weights: (N,) non-negative weights of the pairs (default: all 1).
    Returns:
      R (3, 3), s, t (3,).
    """
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd((b * w[:, None]).T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    r = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / (w @ (a**2).sum(1))) if with_scale else 1.0
    return r, s, mu_d - s * r @ mu_s


def aligned_error(source: np.ndarray, target: np.ndarray, with_scale: bool = False) -> np.ndarray:
    """(N,) distances between ``target`` and ``source`` after the best rigid alignment."""
    r, s, t = procrustes(source, target, with_scale)
    return np.linalg.norm(s * np.asarray(source) @ r.T + t - np.asarray(target), axis=1)

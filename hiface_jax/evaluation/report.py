"""What an evaluation run writes: Markdown tables, bar plots, per-vertex error heat maps.

``runs`` below maps (split variant, method name) to the ``runner.aggregate`` summary.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection

from hiface_jax import mesh_io
from hiface_jax.evaluation import detail_metrics
from hiface_jax.evaluation.regions import REGIONS

Runs = dict[tuple[str, str], dict]
SHAPE_COLUMNS = ("all",) + REGIONS
HEATMAP_MAX_MM = 3.0  # the colour scale's top: errors at or above it are the hottest colour
NO_REGION_GREY = (0.78, 0.78, 0.78)


def _cell(stats: dict | None) -> str:
    return "–" if stats is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def shape_table(runs: Runs) -> str:
    """Markdown: per split, one row per method and expression group, REALY columns (mm)."""
    lines = []
    for variant in dict.fromkeys(v for v, _ in runs):
        lines += [
            f"**{variant}** — REALY region error, mm (mean ± std over images)",
            "",
            "| method | faces | scored | " + " | ".join(SHAPE_COLUMNS) + " |",
            "|---|---|---|" + "---|" * len(SHAPE_COLUMNS),
        ]
        for (v, method), summary in runs.items():
            if v != variant:
                continue
            for group in ("neutral", "expressive", "all"):
                entry = summary[group]
                shape = entry.get("shape", {})
                scored = entry["images"] - entry["failed"]
                cells = " | ".join(_cell(shape.get(c)) for c in SHAPE_COLUMNS)
                lines.append(f"| {method} | {group} | {scored}/{entry['images']} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def detail_table(runs: Runs) -> str:
    """Markdown: detail errors over the wrinkle regions, static / dynamic / total parts."""
    lines = [
        (
            "Detail in the wrinkle regions (forehead, crow's feet, nasolabial folds): displacement error mm / "
            "normal angle error degrees, mean over images; methods without detail are scored with zero maps."
        ),
        "",
        "| split | method | faces | " + " | ".join(f"{p} mm | {p} deg" for p in detail_metrics.PARTS) + " |",
        "|---|---|---|" + "---|---|" * len(detail_metrics.PARTS),
    ]
    for (variant, method), summary in runs.items():
        for group in ("neutral", "expressive"):
            detail = summary[group].get("detail", {})
            cells = []
            for part in detail_metrics.PARTS:
                for unit in ("displacement_mm", "normal_deg"):
                    stats = detail.get(f"{part}_all_{unit}")
                    cells.append("–" if stats is None else f"{stats['mean']:.3f}")
            lines.append(f"| {variant} | {method} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def region_bars(runs: Runs, variant: str, path: Path) -> Path:
    """PNG: grouped bars (regions x methods), neutral and expressive faces in two rows."""
    methods = [m for v, m in runs if v == variant]
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.5), sharex=True, sharey=True)
    x = np.arange(len(SHAPE_COLUMNS))
    width = 0.8 / max(len(methods), 1)
    for ax, group in zip(axes, ("neutral", "expressive")):
        for k, method in enumerate(methods):
            shape = runs[(variant, method)][group].get("shape")
            if shape is None:
                continue
            means = [shape[c]["mean"] for c in SHAPE_COLUMNS]
            stds = [shape[c]["std"] for c in SHAPE_COLUMNS]
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=method)
        ax.set(ylabel="error (mm)", title=f"{variant}: {group} faces")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(x, SHAPE_COLUMNS)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def error_colours(errors: np.ndarray, max_mm: float = HEATMAP_MAX_MM) -> np.ndarray:
    """(N, 3) RGB: errors through matplotlib's 'inferno' on [0, max_mm]; NaN grey."""
    colours = matplotlib.colormaps["inferno"](np.clip(np.nan_to_num(errors) / max_mm, 0.0, 1.0))[:, :3]
    return np.where(np.isnan(errors)[:, None], NO_REGION_GREY, colours)


def draw_mesh(ax, vertices: np.ndarray, triangles: np.ndarray, face_colours: np.ndarray) -> None:
    """Draws a mesh seen along -z (orthographic): back faces culled, far to near, Lambert shading."""
    tri = vertices[triangles]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    keep = n[:, 2] > 0
    order = np.argsort(tri[keep, :, 2].mean(1))
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    shade = 0.35 + 0.65 * np.clip(n[keep] @ light, 0, 1)
    faces = face_colours[keep] * shade[:, None]
    ax.add_collection(PolyCollection(tri[keep][order][:, :, :2], facecolors=faces[order], edgecolors="none"))
    lo, hi = tri[keep].reshape(-1, 3).min(0), tri[keep].reshape(-1, 3).max(0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.axis("off")


def write_heatmap(
    path: Path, vertices_mm: np.ndarray, triangles: np.ndarray, errors: np.ndarray, title: str
) -> list[Path]:
    """``path``.obj with vertex colours and ``path``.png (frontal view with a colour bar)
    of per-vertex errors (mm, NaN outside the regions) on a ground-truth mesh."""
    colours = error_colours(errors)
    obj = mesh_io.write_obj(path.with_suffix(".obj"), vertices_mm, triangles, vertex_colors=colours)
    fig, ax = plt.subplots(figsize=(4.0, 4.6))
    draw_mesh(ax, vertices_mm, triangles, colours[triangles].mean(1))
    mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0.0, HEATMAP_MAX_MM), "inferno")
    fig.colorbar(mappable, ax=ax, fraction=0.04, label="error (mm)")
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return obj + [png]

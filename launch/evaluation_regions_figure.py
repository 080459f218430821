"""The figure of the evaluation regions and keypoints: ``docs/evaluation_regions.png``.

    python -m launch.evaluation_regions_figure [--output docs/evaluation_regions.png]

Renders the ICT mean face (shaded, painter's algorithm in matplotlib), frontal and at
35 degrees of yaw, with the four REALY regions in colour and the 85 keypoints (68 iBUG
landmarks in white, the 17 extra ones in black, numbered). The picture is a rendering,
not mesh data: nothing of ICT-FaceKit's geometry is stored by it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from absl import app, flags
from PIL import Image

from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.evaluation import report
from hiface_jax.face import face_model as fm
from hiface_jax.geometry import rotation

_OUTPUT = flags.DEFINE_string("output", "docs/evaluation_regions.png", "PNG to write.")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")

REGION_COLOURS = {
    "nose": (0.90, 0.35, 0.25),
    "mouth": (0.85, 0.25, 0.65),
    "forehead": (0.25, 0.55, 0.90),
    "cheek": (0.30, 0.75, 0.35),
}
SKIN = (0.80, 0.78, 0.75)


def draw(model: fm.FaceModel, regions: regions_lib.FaceRegions, ax, yaw_degrees: float, keypoints: bool) -> None:
    v = np.asarray(model.mean_shape, np.float64)[: regions.num_vertices]
    r = np.asarray(rotation.euler_to_matrix(np.deg2rad(np.array([0.0, yaw_degrees, 0.0]))), np.float64)
    centre = v[np.asarray(model.landmark_indices)].mean(0)
    v = (v - centre) @ r.T
    tris = regions.skin_triangles
    lab = regions.labels[tris]
    same = (lab == lab[:, :1]).all(1) & (lab[:, 0] >= 0)
    palette = np.array([REGION_COLOURS[name] for name in regions_lib.REGIONS] + [SKIN])
    colours = palette[np.where(same, lab[:, 0], -1)]
    report.draw_mesh(ax, v, tris, colours)
    if keypoints:  # drawn on the frontal view only, where none is hidden
        kp = (regions.keypoints(np.asarray(model.mean_shape)) - centre) @ r.T
        ax.scatter(kp[:68, 0], kp[:68, 1], s=6, c="white", edgecolors="black", linewidths=0.3, zorder=3)
        ax.scatter(kp[68:, 0], kp[68:, 1], s=10, c="black", zorder=3)
        for k in range(68, regions_lib.NUM_KEYPOINTS):
            ax.annotate(str(k), kp[k, :2], fontsize=5, xytext=(2, 2), textcoords="offset points")
    ax.set_xlim(-12, 12)
    ax.set_ylim(-13, 14)


def main(argv) -> int:
    del argv
    model = fm.load_face_model(_ICT.value)
    regions = regions_lib.face_regions(model)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.8))
    draw(model, regions, axes[0], 0.0, keypoints=True)
    draw(model, regions, axes[1], 35.0, keypoints=False)
    counts = {name: int(regions.mask(name).sum()) for name in regions_lib.REGIONS}
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGION_COLOURS[k]) for k in regions_lib.REGIONS]
    fig.legend(
        handles,
        [f"{k} ({counts[k]} vertices)" for k in regions_lib.REGIONS],
        loc="lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("REALY regions and 85 keypoints on the ICT mean face (white: iBUG 68, black: 68-84)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    out = Path(_OUTPUT.value)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110)
    Image.open(buffer).convert("RGB").quantize(128).save(out, optimize=True)  # a palette PNG: a third of the size
    print(f"wrote {out} ({out.stat().st_size // 1024} KB); vertices per region: {counts}")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))

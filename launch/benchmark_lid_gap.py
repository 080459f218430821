"""How open MediaPipe's mapped lid points say an eye is, against ICT's lid landmark vertices.

    python -m launch.benchmark_lid_gap                 # 64 generator renders, about 35 s
    python -m launch.benchmark_lid_gap --renders 256 --seed 12345

The fitter's eye-closure term (``losses.closure_loss`` on ``losses.EYE_PAIRS``) asks the gap
between ICT's upper and lower lid landmark vertices to match the gap between MediaPipe's mapped
lid points (iBUG 37-41, 38-40, 43-47, 44-46). On generator renders, whose true lids are known,
this prints both gaps (upper minus lower, in image y, which points down, so an open eye's gap is
negative) in units of the eye's width (its corners' distance), by the render's lid closure: a
difference on open eyes is a bias the fit turns into eyeWide.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

_RENDERS = flags.DEFINE_integer("renders", 64, "Generator renders (batches of 16).")
_SEED = flags.DEFINE_integer("seed", 90_000, "First generator sample index.")
BINS = ((0.0, 0.2, "open (closure under 0.2)"), (0.2, 0.6, "drooping (0.2-0.6)"), (0.6, 1.01, "shut (0.6-1)"))


def main(argv) -> None:
    del argv
    from hiface_jax import losses
    from hiface_jax.data import synthetic
    from hiface_jax.photo import landmark_detector as ld

    sampler = synthetic.sampler(synthetic.SyntheticConfig(image_size=224))
    rows = []  # (closure, detected gap, true gap), one per eye pair
    with ld.FaceLandmarkDetector() as detector:
        for start in range(_SEED.value, _SEED.value + _RENDERS.value, 16):
            out = sampler.render(sampler.draw(sampler.keys(start, 16)))
            for i in range(16):
                faces = detector.detect(np.asarray(out["image"][i]))
                if not faces:
                    continue
                detected = ld.mediapipe_to_ibug68(faces[0].landmarks_478)
                true = np.asarray(out["landmarks_2d"][i])
                for k, (a, b) in enumerate(losses.EYE_PAIRS):
                    left = k >= 2
                    inner, outer = (42, 45) if left else (36, 39)
                    width = np.linalg.norm(true[inner] - true[outer])
                    closure = float(out["eyelid_closure"][i][int(left)])
                    rows.append((closure, (detected[a, 1] - detected[b, 1]) / width, (true[a, 1] - true[b, 1]) / width))
    r = np.array(rows)
    print(f"\nEye-pair gaps in eye widths (median), {len(r)} pairs\n")
    print("| lids | pairs | MediaPipe mapped | ICT landmark vertices | difference |")
    print("|---|---|---|---|---|")
    for lo, hi, label in BINS:
        sel = r[(r[:, 0] >= lo) & (r[:, 0] < hi)]
        if len(sel):
            print(
                f"| {label} | {len(sel)} | {np.median(sel[:, 1]):+.3f} | {np.median(sel[:, 2]):+.3f} | {np.median(sel[:, 1] - sel[:, 2]):+.3f} |"
            )


if __name__ == "__main__":
    app.run(main)

"""How open MediaPipe's mapped lid points say an eye is, against ICT's lid landmark vertices.

    python -m launch.benchmark_lid_gap                 # 64 generator renders, about 35 s
    python -m launch.benchmark_lid_gap --renders 256 --seed 12345

The fitter's eye-closure term (``losses.closure_loss`` on ``losses.EYE_PAIRS``) asks the gap
between ICT's upper and lower lid landmark vertices to match the gap between MediaPipe's mapped
lid points (iBUG 37-41, 38-40, 43-47, 44-46). On generator renders, whose true lids are known,
this prints both gaps (``losses.lid_gaps``: lower minus upper lid along the detected eye's
downward normal, in units of its width, the frame the fit corrects in) by the render's lid
closure, and the gap the calibrated correction leaves (``landmark_calibration``,
``DenseEmbedding.lid_gap_bias``): a difference on open eyes is a bias the fit turns into eyeWide.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

_RENDERS = flags.DEFINE_integer("renders", 64, "Generator renders (batches of 16).")
_SEED = flags.DEFINE_integer("seed", 90_000, "First generator sample index.")
BINS = ((0.0, 0.2, "open (closure under 0.2)"), (0.2, 0.6, "drooping (0.2-0.6)"), (0.6, 1.01, "shut (0.6-1)"))


def main(argv) -> None:
    del argv
    from hiface_jax.data import synthetic
    from hiface_jax.face import face_model as fm
    from hiface_jax.fit import landmark_calibration
    from hiface_jax.photo import landmark_detector as ld

    bias = landmark_calibration.calibrated_embedding(fm.load_face_model().submesh()).lid_gap_bias
    sampler = synthetic.sampler(synthetic.SyntheticConfig(image_size=224))
    rows = []  # (closure, detected gap, true gap, calibrated gap), one per eye pair
    with ld.FaceLandmarkDetector() as detector:
        for start in range(_SEED.value, _SEED.value + _RENDERS.value, 16):
            out = sampler.render(sampler.draw(sampler.keys(start, 16)))
            for i in range(16):
                faces = detector.detect(np.asarray(out["image"][i]))
                if not faces:
                    continue
                detected, true = landmark_calibration.lid_gap_readings(faces[0].landmarks_478, out["landmarks_2d"][i])
                closure = landmark_calibration.pair_closure(out["eyelid_closure"][i])
                rows += list(zip(closure, detected, true, detected - bias))
    r = np.array(rows)
    per_pair = np.round(np.asarray(bias, np.float64), 3).tolist()
    print(f"\nEye-pair gaps in eye widths (median), {len(r)} pairs; calibrated bias per pair {per_pair}\n")
    print("| lids | pairs | MediaPipe mapped | ICT landmark vertices | difference | calibrated difference |")
    print("|---|---|---|---|---|---|")
    for lo, hi, label in BINS:
        sel = r[(r[:, 0] >= lo) & (r[:, 0] < hi)]
        if len(sel):
            median = lambda x: f"{np.median(x):+.3f}"
            print(
                f"| {label} | {len(sel)} | {median(sel[:, 1])} | {median(sel[:, 2])} | {median(sel[:, 1] - sel[:, 2])} | {median(sel[:, 3] - sel[:, 2])} |"
            )


if __name__ == "__main__":
    app.run(main)

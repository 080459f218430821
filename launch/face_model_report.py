"""Picture of the identity space: is beta ~ N(0, I) a plausible face?

    python -m launch.face_model_report --output out/report [--ict_dir PATH] [--samples 2000]

Writes ``identity_spread.png`` with three panels:
  1. RMS vertex offset of each stored identity mode (cm per unit coefficient);
  2. per-vertex spread of random faces against the value the stored modes predict,
     sqrt(sum_k |mode_k(v)|^2) (they agree when the scaling is right);
  3. front and side profiles of random faces over the mean face.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from hiface_jax.face import face_model as fm  # noqa: E402

_OUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_SAMPLES = flags.DEFINE_integer("samples", 2000, "Random faces to draw.")


def main(argv):
    del argv
    face = fm.load_face_model(_ICT.value).submesh("face")
    beta = jax.random.normal(jax.random.key(0), (_SAMPLES.value, face.num_identity))
    verts = np.asarray(fm.shape(face, beta, jnp.zeros((_SAMPLES.value, face.num_expression))))
    basis = np.asarray(face.identity_basis, np.float64)
    mode_rms = np.sqrt((basis**2).sum(-1).mean(-1))
    predicted = np.sqrt((basis**2).sum(axis=(0, 2)))
    empirical = np.sqrt(((verts - verts.mean(0)) ** 2).sum(-1).mean(0))

    fig, ax = plt.subplots(1, 4, figsize=(20, 5))
    ax[0].semilogy(mode_rms * 10, ".-")
    ax[0].set(title="stored identity modes", xlabel="mode k", ylabel="RMS vertex offset at +1 sd (mm)")
    ax[1].plot(predicted * 10, empirical * 10, ".", ms=2, alpha=0.4)
    lim = [0, predicted.max() * 10 * 1.05]
    ax[1].plot(lim, lim, "k--", lw=1, label="y = x")
    ax[1].set(
        title=f"{_SAMPLES.value} random faces, beta ~ N(0, I)",
        xlabel="predicted per-vertex sd (mm)",
        ylabel="measured sd (mm)",
    )
    ax[1].legend()
    mean = np.asarray(face.mean_shape)
    ax[2].plot(mean[:, 0], mean[:, 1], ",", color="0.7")
    ax[3].plot(mean[:, 2], mean[:, 1], ",", color="0.7")
    outline = np.asarray(face.region_vertices("narrow_face"))
    for k in range(8):
        ax[2].plot(verts[k, outline, 0], verts[k, outline, 1], ",", alpha=0.5)
        ax[3].plot(verts[k, outline, 2], verts[k, outline, 1], ",", alpha=0.5)
    ax[2].set(title="8 random faces (narrow face), front; grey: mean", xlabel="x (cm)", ylabel="y (cm)", aspect="equal")
    ax[3].set(title="side", xlabel="z (cm)", aspect="equal")
    fig.tight_layout()
    out = Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "identity_spread.png", dpi=80)
    ratio = empirical / predicted
    print(
        f"measured / predicted per-vertex sd: median {np.median(ratio):.3f}, 5-95% [{np.percentile(ratio, 5):.3f}, {np.percentile(ratio, 95):.3f}]"
    )
    print(f"wrote {out / 'identity_spread.png'}")


if __name__ == "__main__":
    app.run(main)

"""Builds the SD-DeTail basis (static PCA, compress / stretch maps) and prints its explained variance.

From your scans (layout in ``hiface_jax/sddetail/detail_basis.py``):

    python -m launch.build_detail_basis --input SCANS --output basis.npz [--resolution 256]

The default basis, from N procedural scans (``hiface_jax/sddetail/detail_scans.py``), written to
``~/.cache/hiface/detail_basis_<resolution>.npz`` with a montage PNG of a few scans
beside it:

    python -m launch.build_detail_basis --procedural 200 [--seed 0] [--save_scans DIR]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from absl import app, flags

from hiface_jax.face import face_model as fm
from hiface_jax.sddetail import detail_basis, detail_scans

_INPUT = flags.DEFINE_string("input", None, "Folder of scans: UV maps (.npy/.png/.npz) or registered .obj meshes.")
_PROCEDURAL = flags.DEFINE_integer("procedural", 0, "Build from this many procedural scans instead of --input.")
_OUTPUT = flags.DEFINE_string("output", None, "Basis file (.npz); default ~/.cache/hiface/detail_basis_<res>.npz.")
_RESOLUTION = flags.DEFINE_integer("resolution", 256, "UV resolution (maps must have it; meshes are rasterised at it).")
_NUM_STATIC = flags.DEFINE_integer("num_static", 64, "Static PCA components K.")
_NUM_DYNAMIC = flags.DEFINE_integer("num_dynamic", 16, "Components of the compress and of the stretch maps.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the procedural people.")
_SAVE_SCANS = flags.DEFINE_string("save_scans", None, "Also write the procedural scans here as <person>.npz (cm).")
_MONTAGE = flags.DEFINE_string("montage", None, "Montage PNG of procedural scans; default beside the output.")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")


def main(argv):
    del argv
    if bool(_INPUT.value) == bool(_PROCEDURAL.value):
        raise app.UsageError("give exactly one of --input DIR or --procedural N")
    res = _RESOLUTION.value
    model = fm.load_face_model(_ICT.value).submesh()
    start = time.time()
    if _INPUT.value:
        try:
            scans = detail_basis.read_scan_folder(_INPUT.value, res, model)
        except detail_basis.DetailScanError as e:
            raise SystemExit(f"error: {e}") from None
        print(f"read {len(scans.names)} people from {_INPUT.value} in {time.time() - start:.1f} s")
        start = time.time()
        basis, report = detail_basis.build_detail_basis(
            scans.static, scans.compressed, scans.stretched, _NUM_STATIC.value, _NUM_DYNAMIC.value
        )
        print(f"PCA in {time.time() - start:.1f} s")
    else:
        basis, report, people = detail_basis.build_procedural_basis(
            model, res, _PROCEDURAL.value, _SEED.value, _NUM_STATIC.value, _NUM_DYNAMIC.value
        )
        print(f"made {len(people)} procedural scans at {res}x{res} and their PCA in {time.time() - start:.1f} s")
        if _SAVE_SCANS.value:
            out = Path(_SAVE_SCANS.value)
            out.mkdir(parents=True, exist_ok=True)
            for p in people:
                np.savez(
                    out / f"person_{p.seed:07d}.npz", static=p.static, compressed=p.compressed, stretched=p.stretched
                )
            print(f"wrote {len(people)} scans to {out}")
    output = Path(_OUTPUT.value) if _OUTPUT.value else detail_basis.default_basis_path(res)
    print(report.table())
    detail_basis.save_detail_basis(output, basis, report)
    print(f"wrote {output}")
    if _PROCEDURAL.value:
        montage = Path(_MONTAGE.value) if _MONTAGE.value else output.with_name(output.stem + "_scans.png")
        print(f"wrote {detail_scans.save_montage(montage, people[:4])}")


if __name__ == "__main__":
    app.run(main)

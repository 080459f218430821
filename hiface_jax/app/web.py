"""The web page (Gradio): drop a photo, see the landmarks and renders, turn the detailed 3D
face, move expression sliders and watch the wrinkles follow.

The page keeps one face per browser session (``gr.State``: its coefficients and detail
codes). A slider release re-poses that face with the new ARKit weights
(``animation.animate``): the clay render, whose shading shows the detail, and the GLB
of the dense detailed mesh are redrawn, so the compressed / stretched wrinkles appear
and vanish as the tension changes. Everything runs in this process, on this machine.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax import mesh_io
from hiface_jax.app import animation, backends, faces, outputs, runtime
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.fit import fitting
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

# Slider -> the ARKit shapes it drives (both sides where there are two).
SLIDERS = {
    "smile": ("mouthSmile_L", "mouthSmile_R"),
    "brows up": ("browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R"),
    "frown": ("browDown_L", "browDown_R"),
    "squint": ("eyeSquint_L", "eyeSquint_R", "cheekSquint_L", "cheekSquint_R"),
    "jaw open": ("jawOpen",),
}
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page works offline


class PageError(ValueError):
    """A photo the page cannot use; shown to the user."""


class FacePage:
    """What the page's callbacks do, without Gradio (testable, reusable)."""

    def __init__(self, backend: backends.Backend, workdir: str | Path | None = None, verbose: bool = False):
        self.backend, self.assets = backend, backend.assets
        self.detector = runtime.QuietDetector(verbose)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="hiface-page-"))
        names = self.assets.skin.expression_names
        missing = [n for shapes in SLIDERS.values() for n in shapes if n not in names]
        if missing:
            raise ValueError(f"slider shapes not in the face model: {missing}")
        self.slider_index = {k: [names.index(n) for n in v] for k, v in SLIDERS.items()}
        self._count = 0

    def _glb(self, vertices: np.ndarray, albedo: np.ndarray) -> str:
        self._count += 1
        sub = self.assets.subdivision
        path = self.workdir / f"face_{self._count:05d}.glb"
        mesh_io.write_glb(
            path, vertices, np.asarray(sub.triangles), np.asarray(sub.uv_coords), np.asarray(sub.uv_triangles), albedo
        )
        return str(path)

    def reconstruct(self, photo: np.ndarray) -> tuple[np.ndarray, str, dict, dict[str, float]]:
        """(H, W, 3) uint8 photo -> summary image, GLB path, face state, slider values.

        Raises:
          PageError: no usable photo or no face (the largest face is used).
        """
        if photo is None:
            raise PageError("drop a photo first")
        image = np.ascontiguousarray(np.asarray(photo)[..., :3], dtype=np.uint8)
        try:
            crops = preprocess.preprocess_image(image, self.detector, size=self.assets.camera.image_size)
        except ld.NoFaceFoundError as e:
            raise PageError(str(e)) from e
        crops = [c for c in crops if c.score >= runtime.MIN_SCORE]
        if not crops:
            raise PageError("no face found with enough confidence")
        crop = max(crops, key=lambda c: np.ptp(c.landmarks_68 @ c.crop_to_original[:2, :2].T, axis=0).max())
        est = self.backend.estimate([crop])
        linear = jnp.asarray(albedo_lib.srgb_to_linear(crop.image[None] / 255.0), jnp.float32)
        arrays = jax.device_get(faces.evaluate(self.assets, est, linear))
        face = {k: v[0] for k, v in arrays.items()}
        state = {"params": faces.index(est.params, 0), "codes": faces.index(est.codes, 0)}
        glb = self._glb(face["dense"], outputs.to_srgb8(face["albedo"]) / 255.0)
        # Sliders span ARKit's [0, 1] (the fitter's weights may stray a little outside).
        values = {
            k: round(float(np.clip(np.mean(state["params"].expression[idx]), 0.0, 1.0)), 2)
            for k, idx in self.slider_index.items()
        }
        return outputs.summary_image(crop, face), glb, state, values

    def pose(self, state: dict, values: dict[str, float]) -> tuple[np.ndarray, str]:
        """Re-poses the face with slider ``values``: (clay | textured render, GLB path)."""
        if not state:
            raise PageError("reconstruct a photo first")
        weights = np.asarray(state["params"].expression, np.float32).copy()
        for name, value in values.items():
            weights[self.slider_index[name]] = value
        frames = jax.device_get(animation.animate(self.assets, state["params"], state["codes"], weights[None]))
        albedo = np.asarray(fitting.albedo_of(jax.tree.map(lambda x: x[None], state["params"]), self.assets.layout))
        image = np.concatenate([outputs.to_srgb8(frames["clay"][0]), outputs.to_srgb8(frames["textured"][0])], axis=1)
        return image, self._glb(frames["dense"][0], outputs.to_srgb8(albedo[0]) / 255.0)


def build_page(page: FacePage):
    """The Gradio Blocks of ``page`` (element ids: photo, summary, model3d, posed, slider-*)."""
    import gradio as gr

    names = list(SLIDERS)
    with gr.Blocks(title="HiFace: a detailed 3D face from one photo") as demo:
        gr.Markdown(
            "## HiFace: a detailed, animatable 3D face from one photo\n"
            "Drop a photo. Top: input | landmarks (green detected, red fitted) | coarse render | detailed render |"
            " normals. Turn the 3D face with the mouse; move the sliders to re-pose it and watch the wrinkles."
        )
        state = gr.State({})
        with gr.Row():
            photo = gr.Image(type="numpy", label="Photo", elem_id="photo", sources=["upload"], height=320)
            model3d = gr.Model3D(label="3D face (detailed mesh, GLB)", elem_id="model3d", height=320)
        summary = gr.Image(label="Result", elem_id="summary", interactive=False)
        with gr.Row():
            sliders = [
                gr.Slider(0.0, 1.0, value=0.0, step=0.01, label=n, elem_id=f"slider-{n.replace(' ', '-')}")
                for n in names
            ]
        posed = gr.Image(label="Re-posed: clay (detail shading) | textured", elem_id="posed", interactive=False)
        status = gr.Markdown(elem_id="status")

        def on_photo(image):
            try:
                summary_img, glb, st, values = page.reconstruct(image)
            except PageError as e:
                return (None, None, {}, *[gr.update() for _ in names], f"**{e}**")
            return (summary_img, glb, st, *[values[n] for n in names], "reconstructed")

        def on_slider(st, *values):
            try:
                image, glb = page.pose(st, dict(zip(names, values)))
            except PageError as e:
                return gr.update(), gr.update(), f"**{e}**"
            return image, glb, "re-posed"

        photo.upload(on_photo, [photo], [summary, model3d, state, *sliders, status])
        for s in sliders:
            s.release(on_slider, [state, *sliders], [posed, model3d, status])
    return demo


def serve(page: FacePage, host: str = "127.0.0.1", port: int = 7860, block: bool = True, verbose: bool = False):
    """Serves ``page`` on ``host:port`` (no sharing link, no server-side rendering, system
    fonts). ``block=False`` returns the running Blocks (``.close()`` stops it)."""
    import gradio as gr

    demo = build_page(page)
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        quiet=not verbose,
        show_error=True,  # an unexpected failure shows on the page, not only in the server's log
        prevent_thread_lock=not block,
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=["ui-monospace", "monospace"]),
        allowed_paths=[str(page.workdir)],
    )
    return demo

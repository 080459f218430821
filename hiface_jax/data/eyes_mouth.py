"""Eyes and mouth for synthetic faces: ICT-FaceKit's eyeball, eye-socket, teeth, gum /
tongue and mouth-socket shells, with procedural iris / sclera and teeth / gum colours.

The coarse skin mesh has holes at the eyes and the mouth; the published topology closes
them with separate shells that move with the same identity and expression bases
(``jawOpen`` opens the teeth and tongue with the lips). Rendering them behind the skin
gives correct occlusion by eyelids and lips for free: it is the z-buffer's job.

Left out on purpose: the iris shell (it sits inside the sclera shell, whose front is the
transparent cornea in upstream's shaders, so we paint the iris on the sclera shell's
front procedurally), lacrimal fluid, eye blend and eye occlusion (transparent overlays in
Unreal's shaders), eyelashes (alpha-textured strips: drawn opaque they are a black band;
the albedo draws a lash line instead) and the 2nd and 3rd molars (hidden by the cheeks
from every camera the sampler uses; 2,900 triangles saved).

Gaze: upstream's ``eyeLook*`` shapes move the eyelids but not the eyeballs, so gaze is a
rigid rotation of each eyeball about its fitted sphere centre, plus the matching
``eyeLook*`` weights for the lids. Eyelid closure drives ``eyeBlink_*``; above 0.85 it
adds ``eyeSquint_*``. Even so, ``eyeBlink = 1`` leaves a slit of up to 2 mm for many
identities (measured on 200 random ones: -3.3..1.8 mm between the lid landmarks), which
in a photo the lashes cover: ``lash_cover`` paints the eyeball seen through a shut eye's
slit as lashes. Likewise the mouth: the neutral lips of many identities part by up to
2.6 mm even after ``lip_seal``; ``mouth_closed`` turns teeth seen through lips parted by
less than 1-3 mm into the dark line between closed lips.
"""

from __future__ import annotations

import enum
import math

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.face import face_model as fm


class Segment(enum.IntEnum):
    """Per-pixel classes of the ``segmentation`` ground truth (and per-triangle materials;
    IRIS is decided per pixel on the eyeball shell)."""

    BACKGROUND = 0
    SKIN = 1
    SCLERA = 2
    IRIS = 3  # iris and pupil
    TEETH = 4
    MOUTH = 5  # gums, tongue, mouth socket
    EYE_SOCKET = 6
    HAIR = 7
    CLOTHING = 8
    EYELASHES = 9  # what covers the slit a shut eye leaves in this model


NUM_SEGMENTS = len(Segment)

# Shell regions rendered with the skin, and their material.
SHELL_REGIONS: dict[str, Segment] = {
    "mouth_socket": Segment.MOUTH,
    "eye_socket_left": Segment.EYE_SOCKET,
    "eye_socket_right": Segment.EYE_SOCKET,
    "gums_tongue": Segment.MOUTH,
    "teeth": Segment.TEETH,
    "eyeball_left": Segment.SCLERA,
    "eyeball_right": Segment.SCLERA,
}
# Vertex-id ranges [start, stop) of the published topology whose triangles are dropped
# (ICT-FaceKit README, "Eyeball Details" and "Teeth Details"): the two iris shells and
# the 2nd + 3rd molars of each quadrant.
HIDDEN_VERTEX_RANGES = (
    (22221, 23021), (23791, 24591),
    (17039, 17416), (18870, 19247), (19247, 19602), (21096, 21451),
)  # fmt: skip
SCLERA_RANGES = ((21451, 22221), (23021, 23791))  # left, right
GAZE_SHAPE_RANGE_DEGREES = (30.0, 25.0)  # yaw, pitch at which eyeLookIn/Out and Up/Down reach 1
IRIS_ANGLE_DEGREES = 24.0  # nominal iris half-angle on the eyeball (about 6 mm on its 1.57 cm radius)


def fit_sphere(points: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Algebraic least-squares sphere through (..., N, 3) points: centre (..., 3), radius (...)."""
    a = jnp.concatenate([2.0 * points, jnp.ones_like(points[..., :1])], -1)
    b = jnp.sum(points**2, -1)
    ata = jnp.einsum("...ni,...nj->...ij", a, a)
    atb = jnp.einsum("...ni,...n->...i", a, b)
    x = jnp.linalg.solve(ata, atb[..., None])[..., 0]
    centre = x[..., :3]
    return centre, jnp.sqrt(jnp.maximum(x[..., 3] + jnp.sum(centre**2, -1), 0.0))


def head_model(full: fm.FaceModel) -> tuple[fm.FaceModel, np.ndarray, np.ndarray]:
    """The skin plus the eye and mouth shells, as one face model.

    Returns:
      (model, triangles, materials): ``model`` is ``full`` restricted to the skin and
      shell regions, its first vertices being exactly the coarse skin's; ``triangles``
      (F, 3) lists the coarse skin's triangles first (in the coarse model's order), then
      the shells' (hidden ranges dropped); ``materials`` (F,) holds their ``Segment``.
    """
    coarse = full.submesh()
    model = full.submesh(*fm.COARSE_REGIONS, *SHELL_REGIONS)
    ids = np.asarray(model.vertex_ids)
    n_skin = coarse.num_vertices
    if not np.array_equal(ids[:n_skin], np.asarray(coarse.vertex_ids)):
        raise ValueError("the skin vertices must come first in the head model")
    tris = np.asarray(model.triangles)
    skin = (tris < n_skin).all(1)
    if not np.array_equal(tris[skin], np.asarray(coarse.triangles)):
        raise ValueError("the head model's skin triangles differ from the coarse model's")
    hidden = np.zeros(ids.size, bool)
    for start, stop in HIDDEN_VERTEX_RANGES:
        hidden |= (ids >= start) & (ids < stop)
    shells = tris[~skin & ~hidden[tris].any(1)]
    material_of_vertex = np.full(ids.size, Segment.SKIN, np.int32)
    for region, segment in SHELL_REGIONS.items():
        material_of_vertex[model.region_vertices(region)] = segment
    # A triangle joining the skin to a shell (the inner lip) takes the shell's material.
    materials = np.concatenate([np.full(skin.sum(), Segment.SKIN), material_of_vertex[shells].max(1)]).astype(np.int32)
    return model, np.concatenate([tris[skin], shells]).astype(np.int32), materials


class EyeGeometry:
    """Rest-pose eyeball data of a head model (host, from its mean shape).

    Attributes:
      sclera: (2, N) vertex indices of the left and right sclera shells.
      globe: (2, M) the sclera vertices on the sphere (the cornea bulge excluded), for
        the per-sample centre fit.
      axis: (2, 3) unit rest gaze of each eye (centre to cornea apex, head frame).
      polar: (2, N, 2) angle from the axis times (cos, sin) of the azimuth, radians:
        the coordinates the iris is painted in.
    """

    def __init__(self, model: fm.FaceModel):
        ids = np.asarray(model.vertex_ids)
        mean = np.asarray(model.mean_shape, np.float64)
        sclera, globe, axes, polar = [], [], [], []
        for start, stop in SCLERA_RANGES:
            idx = np.nonzero((ids >= start) & (ids < stop))[0]
            p = mean[idx]
            c, _ = fit_sphere(jnp.asarray(p))
            d = np.linalg.norm(p - np.asarray(c), axis=1)
            on_sphere = np.abs(d - np.median(d)) < 0.02 * np.median(d)
            c, _ = fit_sphere(jnp.asarray(p[on_sphere]))
            c = np.asarray(c, np.float64)
            q = p - c
            r = np.linalg.norm(q, axis=1)
            apex = q[r >= np.quantile(r, 0.99)].mean(0)
            axis = apex / np.linalg.norm(apex)
            e1 = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(axis, e1)
            u = q / r[:, None]
            angle = np.arccos(np.clip(u @ axis, -1.0, 1.0))
            azimuth = np.arctan2(u @ e2, u @ e1)
            sclera.append(idx)
            globe.append(idx[on_sphere])
            axes.append(axis)
            polar.append(np.stack([angle * np.cos(azimuth), angle * np.sin(azimuth)], -1))
        m = min(g.size for g in globe)
        self.sclera = np.stack(sclera).astype(np.int32)
        self.globe = np.stack([g[:m] for g in globe]).astype(np.int32)
        self.axis = np.stack(axes).astype(np.float32)
        self.polar = np.stack(polar).astype(np.float32)


def gaze_rotation(gaze: jnp.ndarray) -> jnp.ndarray:
    """(..., 3, 3) eye rotation for gaze (..., 2) = (yaw, pitch) in radians, head frame.

    Yaw turns toward +x (the subject's left), pitch up (+y): R = R_y(yaw) R_x(-pitch).
    """
    yaw, pitch = gaze[..., 0], gaze[..., 1]
    cy, sy, cp, sp = jnp.cos(yaw), jnp.sin(yaw), jnp.cos(pitch), jnp.sin(pitch)
    one, zero = jnp.ones_like(yaw), jnp.zeros_like(yaw)
    ry = jnp.stack([jnp.stack([cy, zero, sy], -1), jnp.stack([zero, one, zero], -1), jnp.stack([-sy, zero, cy], -1)], -2)
    rx = jnp.stack([jnp.stack([one, zero, zero], -1), jnp.stack([zero, cp, sp], -1), jnp.stack([zero, -sp, cp], -1)], -2)
    return ry @ rx


def rotate_eyes(vertices: jnp.ndarray, eyes: EyeGeometry, gaze: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Turns both eyeballs of (B, V, 3) head-frame vertices to the same gaze (B, 2).

    Returns:
      (vertices, directions): the rotated vertices and (B, 2, 3) unit gaze directions of
      the left and right eye in the head frame.
    """
    rot = gaze_rotation(gaze)  # (B, 3, 3)
    dirs = []
    for e in range(2):
        centre, _ = fit_sphere(vertices[:, eyes.globe[e]])  # (B, 3)
        idx = eyes.sclera[e]
        local = vertices[:, idx] - centre[:, None]
        vertices = vertices.at[:, idx].set(jnp.einsum("bij,bnj->bni", rot, local) + centre[:, None])
        dirs.append(jnp.einsum("bij,j->bi", rot, jnp.asarray(eyes.axis[e])))
    return vertices, jnp.stack(dirs, 1)


def eye_expression(
    expression: jnp.ndarray, gaze: jnp.ndarray, closure: jnp.ndarray, names: tuple[str, ...]
) -> jnp.ndarray:
    """Adds the eyelid shapes of a gaze and an eyelid closure to ARKit weights.

    Args:
      expression: (B, K) weights.
      gaze: (B, 2) yaw, pitch in radians.
      closure: (B, 2) eyelid closure of the left and right eye in [0, 1]; the final
        ``eyeBlink_L/R`` is the larger of it and the expression's own.
      names: the model's expression names.
    Returns:
      (B, K) weights in [0, 1].
    """
    i = {n: k for k, n in enumerate(names)}
    yaw = jnp.degrees(gaze[:, 0]) / GAZE_SHAPE_RANGE_DEGREES[0]
    pitch = jnp.degrees(gaze[:, 1]) / GAZE_SHAPE_RANGE_DEGREES[1]
    pos = lambda x: jnp.clip(x, 0.0, 1.0)
    look = {
        "eyeLookOut_L": pos(yaw), "eyeLookIn_L": pos(-yaw), "eyeLookIn_R": pos(yaw), "eyeLookOut_R": pos(-yaw),
        "eyeLookUp_L": pos(pitch), "eyeLookUp_R": pos(pitch), "eyeLookDown_L": pos(-pitch), "eyeLookDown_R": pos(-pitch),
    }  # fmt: skip
    out = expression
    for name, w in look.items():
        out = out.at[:, i[name]].add(w)
    for e, side in enumerate("LR"):
        blink = jnp.maximum(out[:, i[f"eyeBlink_{side}"]], closure[:, e])
        out = out.at[:, i[f"eyeBlink_{side}"]].set(blink)
        out = out.at[:, i[f"eyeSquint_{side}"]].add(0.6 * pos((blink - 0.85) / 0.15))
    return jnp.clip(out, 0.0, 1.0)


def lip_seal(expression: jnp.ndarray, names: tuple[str, ...], strength: float = 0.3) -> jnp.ndarray:
    """Closes the neutral mesh's slight lip gap (it shows the teeth as a line) with
    ``mouthPress_*`` while the jaw is closed, fading out by ``jawOpen`` = 0.12."""
    i = {n: k for k, n in enumerate(names)}
    seal = strength * (1.0 - jnp.clip(expression[:, i["jawOpen"]] / 0.12, 0.0, 1.0))
    for side in "LR":
        expression = expression.at[:, i[f"mouthPress_{side}"]].add(seal)
    return jnp.clip(expression, 0.0, 1.0)


def lash_cover(closure: jnp.ndarray) -> jnp.ndarray:
    """(..., 2) how much lashes cover each eyeball's visible part: 0 below closure 0.8, 1 from 0.95."""
    t = jnp.clip((closure - 0.8) / 0.15, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lip_gap(landmarks: jnp.ndarray) -> jnp.ndarray:
    """(...,) rest-frame vertical gap (cm) between the inner lips: iBUG 61-63 minus 65-67, (..., 68, 3)."""
    return jnp.mean(landmarks[..., 61:64, 1], -1) - jnp.mean(landmarks[..., 65:68, 1], -1)


def mouth_closed(gap: jnp.ndarray) -> jnp.ndarray:
    """(...,) 1 when the inner lips are within 1 mm, 0 from 3 mm apart."""
    t = jnp.clip((gap - 0.1) / 0.2, 0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)


# Iris base colours, linear RGB (dark brown, brown, hazel, green, blue, grey), with
# world frequencies roughly: brown most common.
IRIS_COLOURS = np.array(
    [[0.035, 0.016, 0.008], [0.08, 0.04, 0.016], [0.13, 0.09, 0.035], [0.07, 0.10, 0.05], [0.08, 0.13, 0.20], [0.12, 0.13, 0.14]],
    np.float32,
)  # fmt: skip
IRIS_WEIGHTS = np.array([0.45, 0.2, 0.1, 0.07, 0.12, 0.06], np.float32)
IRIS_FREQUENCIES = np.array([7.0, 13.0, 23.0, 37.0, 53.0, 71.0], np.float32)  # fibres around the iris


def sample_eye_appearance(key: jax.Array, batch: int) -> dict[str, jnp.ndarray]:
    """Random iris / sclera / teeth / mouth colours and eye pattern phases."""
    k = jax.random.split(key, 8)
    which = jax.random.choice(k[0], IRIS_COLOURS.shape[0], (batch,), p=jnp.asarray(IRIS_WEIGHTS))
    iris = jnp.asarray(IRIS_COLOURS)[which] * jax.random.uniform(k[1], (batch, 1), minval=0.7, maxval=1.4)
    sclera = jnp.array([0.62, 0.56, 0.52]) * jax.random.uniform(k[2], (batch, 1), minval=0.7, maxval=1.0)
    teeth = jnp.array([0.62, 0.55, 0.42]) * jax.random.uniform(k[3], (batch, 1), minval=0.6, maxval=1.05)
    mouth = jnp.array([0.42, 0.09, 0.08]) * jax.random.uniform(k[4], (batch, 1), minval=0.6, maxval=1.1)
    return {
        "iris_colour": iris,
        "iris_angle": jnp.radians(IRIS_ANGLE_DEGREES) * jax.random.uniform(k[5], (batch,), minval=0.92, maxval=1.08),
        "pupil": jax.random.uniform(k[6], (batch,), minval=0.28, maxval=0.5),
        "iris_phase": jax.random.uniform(k[7], (batch, IRIS_FREQUENCIES.size), maxval=2 * math.pi),
        "sclera_colour": sclera,
        "teeth_colour": teeth,
        "mouth_colour": mouth,
    }


def eye_albedo(polar: jnp.ndarray, look: dict[str, jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Procedural albedo of the eyeball at per-pixel polar coordinates.

    Args:
      polar: (B, H, W, 2) interpolated ``EyeGeometry.polar`` (radians).
      look: ``sample_eye_appearance`` output.
    Returns:
      (albedo (B, H, W, 3), iris (B, H, W) bool: iris or pupil).
    """
    b = lambda x: x[:, None, None]
    rho = jnp.sqrt(jnp.sum(polar**2, -1) + 1e-12) / b(look["iris_angle"])
    phi = jnp.arctan2(polar[..., 1], polar[..., 0])
    fibres = jnp.mean(
        jnp.sin(phi[..., None] * jnp.asarray(IRIS_FREQUENCIES) + look["iris_phase"][:, None, None, :] + 3.0 * rho[..., None]),
        -1,
    )
    pupil = b(look["pupil"])
    t = jnp.clip((rho - pupil) / (1.0 - pupil), 0.0, 1.0)  # 0 at the pupil edge, 1 at the limbus
    shade = (1.0 + 0.9 * fibres) * (1.0 + 0.6 * jnp.exp(-(((t - 0.25) / 0.12) ** 2))) * (1.0 - 0.65 * jnp.clip((t - 0.8) / 0.2, 0, 1))
    iris = look["iris_colour"][:, None, None] * shade[..., None]
    pupil_mix = jnp.clip((rho - pupil) / 0.04 + 0.5, 0.0, 1.0)[..., None]
    iris = 0.008 + (iris - 0.008) * pupil_mix
    # The sclera reddens toward the corners (larger angles from the axis).
    redden = jnp.clip(rho - 1.3, 0.0, 1.0)[..., None] * jnp.array([0.0, -0.12, -0.12])
    sclera = look["sclera_colour"][:, None, None] * (1.0 + redden)
    limbus = jnp.clip((rho - 1.0) / 0.08 + 0.5, 0.0, 1.0)[..., None]
    return iris + (sclera - iris) * limbus, rho < 1.0

"""rendering: a differentiable tiled rasterizer in pure JAX.

Pipeline (each step a small pure function; see the module docstrings)::

    clip = camera.transform(vertices, proj @ view)            # (B, V, 4)
    frags = rasterize(clip, triangles, (H, W))                 # visibility + differentiable barycentrics
    attrs = interpolate(vertex_attrs, frags, triangles)        # (B, H, W, C)
    color = texture(tex, uv_image, ...) * sh_shading(n, sh)    # shading
    image = antialias(color, frags, clip, triangles, topology) # silhouette gradients
    image = composite(image, coverage, background)

The package does not depend on ``hiface_jax``.
"""
from rendering.camera import look_at, ndc_to_pixel, orthographic, perspective, pixel_centers_ndc, transform
from rendering.normals import face_normals, safe_normalize, vertex_normals
from rendering.raster import (
    Fragments,
    RasterConfig,
    RasterOverflowError,
    check_overflow,
    fragments_from_ids,
    rasterize,
    required_capacity,
    visibility,
)
from rendering.sh import ambient_sh, sh_basis, sh_shading
from rendering.antialias import antialias
from rendering.interpolate import barycentric_derivatives, interpolate, interpolate_derivatives
from rendering.shade import composite, perturb_normals, shade_sh, vertex_tangents
from rendering.texture import MipPyramid, mipmap, sample
from rendering.topology import triangle_neighbors

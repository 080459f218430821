"""rendering: a differentiable tiled rasterizer in pure JAX (see README.md).

Pipeline (each step a small pure function; see the module docstrings)::

    clip = transform(vertices, proj @ view)                      # (B, V, 4) clip space
    frags = rasterize(clip, triangles, (H, W))                   # visibility + differentiable barycentrics
    attrs = interpolate(vertex_attrs, frags, triangles)          # (B, H, W, C)
    duv = interpolate_derivatives(uv, frags, uv_tris, barycentric_derivatives(clip, triangles, frags))
    color = shade_sh(sample(tex, interpolate(uv, frags, uv_tris), duv), normals, sh)
    image = antialias(composite(color, frags.mask, bg), frags, clip, triangles)  # silhouette gradients

Modules: camera, raster, interpolate, texture, shade, antialias, topology, sh, normals;
benchmark (``python -m rendering.benchmark``) and testing (scenes for tests).
The package does not depend on ``hiface_jax``.
"""
from rendering.antialias import antialias
from rendering.camera import look_at, ndc_to_pixel, orthographic, perspective, pixel_centers_ndc, transform
from rendering.interpolate import barycentric_derivatives, interpolate, interpolate_derivatives
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
from rendering.sh import ambient_sh, directional_sh, dominant_light, sh_basis, sh_shading
from rendering.shade import composite, perturb_normals, shade_sh, specular_blinn_phong, vertex_tangents
from rendering.texture import MipPyramid, mipmap, sample
from rendering.topology import triangle_neighbors

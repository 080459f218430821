"""Pure geometry over arrays: rotations, cameras, mesh tension, UV rasters, displacement, Procrustes."""

"""Analysis-by-synthesis: fitting the face model to photos through the rasterizer."""

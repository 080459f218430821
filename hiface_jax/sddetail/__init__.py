"""SD-DeTail: static PCA detail and tension-blended compress / stretch maps, the basis builder, procedural scans."""

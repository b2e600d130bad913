#!/usr/bin/env bash
# Build the one-folder bundle: dist/station/ (run it as dist/station/station).
#
#   packaging/build.sh            wheel -> clean venv (build/bundle-venv) -> pyinstaller -> dist/station/
#   STATION_BUNDLE_VENV=DIR       reuse (or create) the venv there instead
#
# The bundle is built from the wheel installed in a venv of its own, never from the checkout, so
# what it holds is what the wheel ships (and its package metadata, which pyocd's plugin lookup
# needs). Then it copies in the Linux integration: udev rules, .desktop entry, icons, install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${STATION_BUNDLE_VENV:-$ROOT/build/bundle-venv}
OUT=$ROOT/dist

rm -rf "$OUT/wheel" && "$PY" -m build --wheel --outdir "$OUT/wheel" . >/dev/null
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# PYTHONPATH off: a checkout on it would pass for an installed station
env -u PYTHONPATH "$VENV/bin/python" -m pip install --quiet --upgrade --force-reinstall --no-deps "$OUT"/wheel/station-*.whl
env -u PYTHONPATH "$VENV/bin/python" -m pip install --quiet "$(ls "$OUT"/wheel/station-*.whl)[gui,postgres,bundle]"
env -u PYTHONPATH "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$OUT" --workpath "$ROOT/build/pyinstaller" packaging/station.spec

B=$OUT/station
mkdir -p "$B/share"
cp packaging/linux/60-station.rules packaging/linux/station.desktop "$B/share/"
cp station/ui/assets/station.svg "$B/share/station.svg"
cp packaging/linux/install.sh packaging/linux/uninstall.sh "$B/"
# PNG icons for desktops that want them, rendered with the build venv's Qt (never committed)
env -u PYTHONPATH "$VENV/bin/python" packaging/render_icons.py station/ui/assets/station.svg "$B/share/icons" \
    16 32 48 64 128 256
VERSION=$(env -i HOME="$HOME" "$B/station" --version | awk '{print $NF}')
tar -C "$OUT" -czf "$OUT/station-$VERSION-linux-$(uname -m).tar.gz" station
du -sh "$B" | awk '{print "build.sh: bundle " $1 " in '"$B"'"}'
echo "build.sh: $OUT/station-$VERSION-linux-$(uname -m).tar.gz"

#!/bin/sh
# Install the station's one-folder bundle on a Linux factory PC. From the unpacked bundle:
#
#   sudo ./install.sh            bundle -> /opt/station, `station` on PATH, udev rules, menu entry, icons
#   sudo ./uninstall.sh          removes exactly what this put in place (never the registry or settings)
#
# PREFIX (default /opt/station), BIN_DIR, SHARE_DIR and RULES_DIR move the pieces; DESTDIR stages
# everything under another root (packaging tests do) and then nothing is reloaded.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/station}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
SHARE_DIR=${SHARE_DIR:-/usr/local/share}
RULES_DIR=${RULES_DIR:-/etc/udev/rules.d}

[ -x "$HERE/station" ] && [ -f "$HERE/share/60-station.rules" ] || {
    echo "install.sh: run me from the unpacked bundle (station and share/ beside me)" >&2; exit 2; }

target=$DESTDIR$PREFIX
if [ "$HERE" != "$target" ]; then
    rm -rf "$target.new" && mkdir -p "$target.new"
    cp -a "$HERE"/. "$target.new"/
    rm -rf "$target" && mv "$target.new" "$target"   # an upgrade replaces the old bundle whole
fi

manifest=$target/.installed
: > "$manifest"
put() {  # put MODE SOURCE DEST: install one file and remember it for uninstall.sh
    mkdir -p "$(dirname "$DESTDIR$3")"
    install -m "$1" "$2" "$DESTDIR$3"
    echo "$3" >> "$manifest"
}
mkdir -p "$DESTDIR$BIN_DIR"
ln -sfn "$PREFIX/station" "$DESTDIR$BIN_DIR/station" && echo "$BIN_DIR/station" >> "$manifest"
put 0644 "$target/share/60-station.rules" "$RULES_DIR/60-station.rules"
sed "s|^Exec=station |Exec=$PREFIX/station |" "$target/share/station.desktop" > "$target/share/station.desktop.installed"
put 0644 "$target/share/station.desktop.installed" "$SHARE_DIR/applications/station.desktop"
put 0644 "$target/share/station.svg" "$SHARE_DIR/icons/hicolor/scalable/apps/station.svg"
for png in "$target"/share/icons/*/apps/station.png; do
    [ -f "$png" ] || continue
    size=$(basename "$(dirname "$(dirname "$png")")")
    put 0644 "$png" "$SHARE_DIR/icons/hicolor/$size/apps/station.png"
done

if [ -z "$DESTDIR" ]; then
    if command -v udevadm >/dev/null 2>&1; then
        udevadm control --reload-rules && udevadm trigger --subsystem-match=usb --subsystem-match=tty || true
    fi
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$SHARE_DIR/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$SHARE_DIR/icons/hicolor" || true
fi
echo "station installed in $PREFIX ($(wc -l < "$manifest") files placed outside it)."
echo "Next: add each operator to plugdev (sudo usermod -aG plugdev NAME, then log in again),"
echo "re-plug probes and devices, and run: station doctor"

#!/bin/sh
# Remove what install.sh put in place: the bundle, the `station` link, the udev rules, the menu
# entry and icons. The registry, firmware cache and settings in each user's data folders (and
# /etc/xdg/station) are left alone: uninstalling the program must not lose the record of truth.
set -eu
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/station}
target=$DESTDIR$PREFIX
manifest=$target/.installed
[ -f "$manifest" ] || { echo "uninstall.sh: no $manifest: is the station installed in $PREFIX?" >&2; exit 2; }
while IFS= read -r f; do
    [ -n "$f" ] && rm -f "$DESTDIR$f"
done < "$manifest"
rm -rf "$target"
if [ -z "$DESTDIR" ] && command -v udevadm >/dev/null 2>&1; then udevadm control --reload-rules || true; fi
echo "station removed from $PREFIX (its registry and settings stay where they are)."

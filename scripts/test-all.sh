#!/bin/sh
# Installs everything the test suite needs on a fresh Debian machine, then runs the whole suite.
# Debian packages: the real registry, skopeo, umoci, erofs-utils, FUSE, containerd + runc +
# ctr-remote, podman, busybox (runnable test images), Chromium (the web page's tests drive it
# with playwright-core, which downloads no browser), binutils (readelf), debootstrap (a Debian
# root for the convert tests, built once from the Debian mirror and kept in the test cache), and
# small tools the tests use. npm packages: from package-lock.json. The lint (typescript-eslint,
# prettier) runs before the suite.
set -eu
cd "$(dirname "$0")/.."
PKGS="docker-registry skopeo umoci erofs-utils fuse3 libfuse2 apache2-utils openssl zstd lz4 pigz curl python3 python3-flatbuffers attr containerd runc stargz-snapshotter podman busybox-static chromium binutils debootstrap"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
npm ci --no-audit --no-fund
npm run lint
npm test

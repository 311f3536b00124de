#!/usr/bin/env bash
# Install the system components the tests need (Debian/Ubuntu, apt-get).
# As root (as CI runs) missing packages are installed; otherwise we print what
# to install and the tests that need them skip (under CI=true they fail).
set -euo pipefail

# Packages the current test suite needs; extend as capabilities land.
PACKAGES=(
  chromium  # the server's web page is tested in headless Chromium
  e2fsprogs  # mkfs.ext4: the size-capped filesystem of the disk-full tests (tests/improve)
  # stream tests: synthetic H.264 videos, an MQTT broker, a real RTSP server (GStreamer,
  # run with Debian's /usr/bin/python3 because the venv's Python cannot import gi)
  ffmpeg
  mosquitto
  postgresql  # the hub's tests run on a real PostgreSQL server the fixtures start on loopback (initdb, pg_ctl)
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  systemd  # systemd-analyze verify/security check the units edgeloop deploy writes
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "note: tests needing these system packages will skip: ${missing[*]}" >&2
  echo "      install them with: sudo apt-get install ${missing[*]}" >&2
fi

#!/usr/bin/env bash
# The real-kernel lane (`npm run test:kernel`).
#
# 1. installs missing build packages (bookworm, through the machine's own apt configuration);
# 2. fetches the newest linux-source-7.* from Debian unstable through a PRIVATE apt configuration
#    (own sources list, state and cache folders; /etc/apt is never written);
# 3. configures it from scripts/kernel/config.fragment, checks every symbol, builds bzImage + UAPI
#    headers; the build is cached outside git, keyed by source version + sha256 of the fragment;
# 4. builds the static iommufd helper (native/iommufd-helper) against those headers and an initramfs
#    in which the helper is /init;
# 5. runs test/kernel/*.test.ts, which boots the kernel in QEMU and drives the helper over virtio-serial.
#
# Exits 0 with "SKIPPED: <reason>" only when Debian's archive or QEMU cannot be had.
# Options: --build-only (stop after step 4), --no-test (same), --rebuild (ignore the kernel cache).
# Environment: HITLESS_KERNEL_CACHE (default ~/.cache/hitless-kernel), HITLESS_KERNEL_JOBS (default 2),
#              HITLESS_KERNEL_SUITE (default: sid), HITLESS_KERNEL_MIRROR (default http://deb.debian.org/debian),
#              HITLESS_KERNEL_FRAGMENT (default scripts/kernel/config.fragment).
set -euo pipefail

# The whole script is one function so bash parses it before running: editing this file while a
# lane runs (a 4-minute build) cannot change what the running lane executes.
main() {

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/scripts/kernel
FRAG=${HITLESS_KERNEL_FRAGMENT:-$HERE/config.fragment}
HELPER_SRC=$REPO/native/iommufd-helper/iommufd-helper.c
CACHE=${HITLESS_KERNEL_CACHE:-$HOME/.cache/hitless-kernel}
JOBS=${HITLESS_KERNEL_JOBS:-2}
SUITE=${HITLESS_KERNEL_SUITE:-sid}
MIRROR=${HITLESS_KERNEL_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

RUN_TESTS=1
REBUILD=0
for a in "$@"; do
  case "$a" in
    --build-only | --no-test) RUN_TESTS=0 ;;
    --rebuild) REBUILD=1 ;;
    -h | --help)
      sed -n '2,20p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "lane: unknown option $a" >&2
      exit 2
      ;;
  esac
done

T0=$(date +%s%N)
now_ms() { echo $((($(date +%s%N) - T0) / 1000000)); }
log() { printf '[lane %6.1fs] %s\n' "$(awk -v m="$(now_ms)" 'BEGIN{print m/1000}')" "$*" >&2; }
skip() {
  echo "SKIPPED: $*"
  exit 0
}
die() {
  echo "lane: ERROR: $*" >&2
  exit 1
}
TIMINGS=()
# (No `cmd | head`, `grep -q` or `awk ...exit` on a pipe below: with pipefail, a writer killed by
# SIGPIPE would fail the lane at random.)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# The first apt error of a log and the line that explains it, on one line.
apt_error() { grep -m1 -A1 '^\(Err\|E\|W\):' "$1" | tr -s ' \n' ' ' | grep .; }
phase_start() { PHASE_T=$(now_ms); }
phase_end() { TIMINGS+=("$1=$(($(now_ms) - PHASE_T))ms"); }

mkdir -p "$CACHE"
case "$CACHE" in
  "$REPO"/*) die "HITLESS_KERNEL_CACHE ($CACHE) must be outside the git checkout" ;;
esac

# ---------------------------------------------------------------------------------------------
# 1. Build packages (only the missing ones; `apt-get update` at most once).
# ---------------------------------------------------------------------------------------------
PKGS=(qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev cpio libcap-dev xz-utils)
phase_start
missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing missing packages: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
      [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] &&
        skip "QEMU cannot be had: qemu-system-x86 is not installed and this user (uid $(id -u)) cannot run apt-get"
      die "build packages missing (${missing[*]}) and this user cannot run apt-get"
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 300 "${SUDO[@]}" apt-get update -q >"$CACHE/apt-system-update.log" 2>&1 ||
    grep -q '^\(Err\|E\):' "$CACHE/apt-system-update.log"; then
    skip "Debian's archive cannot be had: 'apt-get update' failed (see $CACHE/apt-system-update.log): $(apt_error "$CACHE/apt-system-update.log" || tail -n1 "$CACHE/apt-system-update.log")"
  fi
  if ! timeout 1200 "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >"$CACHE/apt-system-install.log" 2>&1; then
    for p in "${missing[@]}"; do
      if [ "$p" = qemu-system-x86 ] && ! installed qemu-system-x86; then
        skip "QEMU cannot be had: 'apt-get install qemu-system-x86' failed: $(grep -m1 '^E:' "$CACHE/apt-system-install.log" || tail -n1 "$CACHE/apt-system-install.log")"
      fi
    done
    die "apt-get install ${missing[*]} failed; see $CACHE/apt-system-install.log"
  fi
fi
command -v qemu-system-x86_64 >/dev/null || skip "QEMU cannot be had: qemu-system-x86_64 is not on PATH after installing qemu-system-x86"
phase_end packages

# ---------------------------------------------------------------------------------------------
# 2. The newest linux-source-7.* from Debian unstable, through a private apt configuration.
# ---------------------------------------------------------------------------------------------
phase_start
APTDIR=$CACHE/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$CACHE/debs"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$APTDIR/sources.list"
APTOPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache" -o Dir::Cache::pkgcache=
  -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
PKG=
VER=
if timeout 120 apt-get "${APTOPTS[@]}" update -q >"$APTDIR/update.log" 2>&1 &&
  ! grep -q '^\(Err\|E\):' "$APTDIR/update.log"; then
  for name in $(apt-cache "${APTOPTS[@]}" search --names-only '^linux-source-7' | awk '{print $1}' |
    grep -E '^linux-source-7\.[0-9]+$'); do
    v=$(apt-cache "${APTOPTS[@]}" show --no-all-versions "$name" | awk '/^Version:/ && !v {v=$2} END {print v}')
    [ -n "$v" ] || continue
    if [ -z "$VER" ] || dpkg --compare-versions "$v" gt "$VER"; then
      PKG=$name
      VER=$v
    fi
  done
  [ -n "$PKG" ] || die "Debian $SUITE offers no linux-source-7.* package (apt-cache search '^linux-source-7' found nothing)"
  DEB=$CACHE/debs/${PKG}_${VER}_all.deb
  want_sha=$(apt-cache "${APTOPTS[@]}" show --no-all-versions "$PKG" | awk '/^SHA256:/ && !v {v=$2} END {print v}')
  if [ -f "$DEB" ] && [ "$(sha256sum "$DEB" | cut -d' ' -f1)" = "$want_sha" ]; then
    log "using cached $DEB"
  else
    log "downloading $PKG=$VER from $SUITE"
    rm -f "$DEB"
    (cd "$APTDIR/cache/archives/partial" && timeout 900 apt-get "${APTOPTS[@]}" download -q "$PKG=$VER" \
      >"$APTDIR/download.log" 2>&1) ||
      skip "Debian's archive cannot be had: 'apt-get download $PKG=$VER' failed: $(apt_error "$APTDIR/download.log" || tail -n1 "$APTDIR/download.log")"
    got=("$APTDIR/cache/archives/partial/${PKG}_"*.deb)
    got=${got[0]}
    [ "$(sha256sum "$got" | cut -d' ' -f1)" = "$want_sha" ] || die "$got does not match the SHA256 in the $SUITE index"
    mv "$got" "$DEB"
  fi
  printf '%s %s\n' "$PKG" "$VER" >"$CACHE/last-source"
else
  # Offline, but a previous run left a source package: use it and say so (the lane stays useful).
  if [ -s "$CACHE/last-source" ]; then
    read -r PKG VER <"$CACHE/last-source"
    DEB=$CACHE/debs/${PKG}_${VER}_all.deb
    [ -f "$DEB" ] || skip "Debian's archive cannot be had: 'apt-get update' of $SUITE failed ($(apt_error "$APTDIR/update.log" || echo timeout)) and $DEB is not cached"
    log "WARNING: Debian $SUITE unreachable; using the cached $PKG $VER (may not be the newest)"
  else
    skip "Debian's archive cannot be had: 'apt-get update' of $MIRROR $SUITE failed: $(apt_error "$APTDIR/update.log" || echo 'timed out after 120 s')"
  fi
fi
phase_end fetch
log "kernel source: $PKG $VER"

FRAG_SHA=$(sha256sum "$FRAG" | cut -c1-16)
KEY=$(printf '%s' "$VER" | tr -c 'A-Za-z0-9.+~-' '_')-$FRAG_SHA
SRCROOT=$CACHE/src/$VER
BUILD=$CACHE/build/$KEY
OBJ=$BUILD/obj

# ---------------------------------------------------------------------------------------------
# 3. Extract, configure, check, build (cached by version + fragment hash).
# ---------------------------------------------------------------------------------------------
phase_start
if [ ! -f "$SRCROOT/.extracted" ]; then
  log "extracting $DEB"
  rm -rf "$SRCROOT"
  mkdir -p "$SRCROOT"
  # One pass over the .deb: its data holds exactly one usr/src/linux-source-X.Y.tar.xz.
  dpkg-deb --fsys-tarfile "$DEB" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
    nice tar -xJ -C "$SRCROOT" || die "could not extract usr/src/linux-source-*.tar.xz from $DEB"
  touch "$SRCROOT/.extracted"
fi
SRC=$(find "$SRCROOT" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' -print -quit)
[ -n "$SRC" ] || die "no linux-source-* directory in $SRCROOT"
phase_end extract

KMAKE=(make -C "$SRC" O="$OBJ" ARCH=x86_64)

check_config() {
  local bad=() sym want line
  while IFS= read -r line; do
    if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=y$ ]]; then
      sym=${BASH_REMATCH[1]}
      grep -qx "$sym=y" "$OBJ/.config" || bad+=("$sym (wanted =y, got: $(grep -E "^$sym=|^# $sym is not set" "$OBJ/.config" || echo 'absent'))")
    elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
      sym=${BASH_REMATCH[1]}
      want=$(grep -E "^$sym=" "$OBJ/.config" || true)
      [ -z "$want" ] || bad+=("$sym (wanted unset, got: $want)")
    fi
  done <"$FRAG"
  if ((${#bad[@]})); then
    printf 'lane: ERROR: olddefconfig did not keep these fragment symbols:\n' >&2
    printf '  %s\n' "${bad[@]}" >&2
    die "kernel configuration check failed for ${#bad[@]} symbol(s) of $FRAG"
  fi
}

phase_start
if [ "$REBUILD" = 1 ] || [ ! -f "$BUILD/.built" ]; then
  rm -rf "$BUILD"
  mkdir -p "$OBJ"
  cp "$FRAG" "$BUILD/config.fragment"
  log "configuring $KEY (tinyconfig + fragment + olddefconfig)"
  {
    "${KMAKE[@]}" tinyconfig
    (cd "$SRC" && scripts/kconfig/merge_config.sh -O "$OBJ" -m "$OBJ/.config" "$FRAG")
    "${KMAKE[@]}" olddefconfig
  } >"$BUILD/config.log" 2>&1 || {
    tail -n 30 "$BUILD/config.log" >&2
    die "kernel configuration failed; see $BUILD/config.log"
  }
  check_config
  log "building bzImage with -j$JOBS (log: $BUILD/build.log)"
  bstart=$(now_ms)
  if ! timeout 5400 nice "${KMAKE[@]}" -j"$JOBS" bzImage >"$BUILD/build.log" 2>&1; then
    grep -E 'error|Error' "$BUILD/build.log" | tail -n 20 >&2 || true
    die "kernel build failed; see $BUILD/build.log"
  fi
  timeout 1200 nice "${KMAKE[@]}" -j"$JOBS" headers >"$BUILD/headers.log" 2>&1 ||
    die "make headers failed; see $BUILD/headers.log"
  cp "$OBJ/arch/x86/boot/bzImage" "$BUILD/bzImage"
  echo "$(($(now_ms) - bstart))" >"$BUILD/build-ms"
  printf '%s %s\n' "$PKG" "$VER" >"$BUILD/source"
  touch "$BUILD/.built"
  log "kernel built in $(($(cat "$BUILD/build-ms") / 1000)) s"
else
  check_config
  log "using cached kernel $BUILD (built in $(($(cat "$BUILD/build-ms" 2>/dev/null || echo 0) / 1000)) s)"
fi
phase_end kernel
KREL=$(cat "$OBJ/include/config/kernel.release" 2>/dev/null || echo unknown)

# ---------------------------------------------------------------------------------------------
# 4. The static helper and the initramfs (helper = /init, plus the bzImage to kexec into).
# ---------------------------------------------------------------------------------------------
phase_start
RUNDIR=$CACHE/run/$KEY
mkdir -p "$RUNDIR"
TEST_H_DIR=$SRC/drivers/iommu/iommufd
[ -f "$TEST_H_DIR/iommufd_test.h" ] || die "$TEST_H_DIR/iommufd_test.h missing"
[ -f "$OBJ/usr/include/linux/liveupdate.h" ] || die "$OBJ/usr/include/linux/liveupdate.h missing: this kernel has no LUO UAPI"
gcc -static -O2 -Wall -Wextra -Wno-unused-parameter -std=gnu11 \
  -isystem "$OBJ/usr/include" -I "$TEST_H_DIR" \
  -o "$RUNDIR/iommufd-helper" "$HELPER_SRC" 2>"$RUNDIR/helper-build.log" || {
  cat "$RUNDIR/helper-build.log" >&2
  die "building $HELPER_SRC failed"
}
[ -s "$RUNDIR/helper-build.log" ] && { log "helper compiler warnings:"; cat "$RUNDIR/helper-build.log" >&2; }
gcc -O2 -o "$RUNDIR/gen_init_cpio" "$SRC/usr/gen_init_cpio.c" 2>"$RUNDIR/gen_init_cpio.log" ||
  die "building gen_init_cpio failed; see $RUNDIR/gen_init_cpio.log"
cat >"$RUNDIR/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /kexec 0755 0 0
file /init $RUNDIR/iommufd-helper 0755 0 0
file /kexec/bzImage $BUILD/bzImage 0644 0 0
EOF
"$RUNDIR/gen_init_cpio" "$RUNDIR/initramfs.list" | gzip -1 >"$RUNDIR/initramfs.cpio.gz.tmp"
mv "$RUNDIR/initramfs.cpio.gz.tmp" "$RUNDIR/initramfs.cpio.gz"
ln -sf "$BUILD/bzImage" "$RUNDIR/bzImage"
cat >"$RUNDIR/lane.json" <<EOF
{"package":"$PKG","version":"$VER","kernelRelease":"$KREL","key":"$KEY","buildMs":$(cat "$BUILD/build-ms" 2>/dev/null || echo 0),"bzImage":"$BUILD/bzImage","initramfs":"$RUNDIR/initramfs.cpio.gz","qemu":"$(command -v qemu-system-x86_64)"}
EOF
ln -sfn "$RUNDIR" "$CACHE/current"
phase_end initramfs
log "kernel $KREL from $PKG $VER; run dir $RUNDIR"
echo "kernel-source: $PKG $VER (release $KREL, cache key $KEY)"

if [ "$RUN_TESTS" = 0 ]; then
  echo "lane timings: ${TIMINGS[*]}"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 5. The tests (each QEMU run inside is bounded by its own timeouts; this is the outer bound).
# ---------------------------------------------------------------------------------------------
phase_start
cd "$REPO"
shopt -s nullglob
tests=(test/kernel/*.test.ts)
status=0
HITLESS_KERNEL_DIR=$RUNDIR timeout 600 node --import tsx --test --test-reporter=spec "${tests[@]}" || status=$?
phase_end tests
echo "lane timings: ${TIMINGS[*]}"
exit "$status"
}

main "$@"
exit

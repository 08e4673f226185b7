#!/usr/bin/env bash
# Build qinit and a bootable initramfs for qemu.
#   ./build.sh            build out/vmlinuz and out/initrd (a link to out/initramfs.cpio.lz4,
#                         or .gz, .zst, or plain .cpio, as COMPRESS= chose)
#   ./build.sh test       build, check the image is reproducible, then clippy, cargo
#                         test (unit + qemu suite) and a smoke of each fuzz target
#   ./build.sh binary     only the static binary; prints its path
#   ./build.sh reproducible  build, then assemble the image again elsewhere and compare
#   ./build.sh clean      remove out/
#   ./build.sh distclean  remove out/ and .cache/ (downloaded kernel)
# Environment:
#   KERNEL=/path/vmlinuz            use this kernel instead of Debian's linux-image-amd64
#   MODULES=/path/lib/modules/VER   its modules (needs modules.dep); only with KERNEL
#   MODULES_EXTRA="a b"             more modules to stage, with their dependencies
#   COMPRESS=lz4|gzip|zstd|none     the initramfs's compression (default lz4; README,
#                                   "Benchmarks", has the measured table)
#   WIFI=1                          add wpa_supplicant (with its shared libraries) and the
#                                   wireless modules (cfg80211, mac80211, mac80211_hwsim)
#   TARGET=x86_64-unknown-linux-gnu   link static glibc instead of musl (the default)
#   SOURCE_DATE_EPOCH=N             every file's mtime in the image (default: the last
#                                   commit's time)
#   PROGRAMS_EXTRA="/usr/sbin/iw"   more dynamic programs to stage, with their libraries
#   MODULES_COMPRESS=zstd|none      store the modules no boot waits for as NAME.ko.zst
#                                   (default zstd; qinit decompresses them itself: the
#                                   kernel cannot), the NIC and bus drivers and their
#                                   dependencies as plain .ko; none: every module plain
# ./build.sh test also assembles out/wifi/ (WIFI=1 with hostapd and iw, the access point's
# side) for tests/wifi.rs; ./build.sh wifi-test-image assembles only that.
set -euo pipefail

# KERNEL and MODULES are relative to the caller's directory.
if [ -n "${KERNEL:-}" ]; then KERNEL=$(readlink -f "$KERNEL"); fi
if [ -n "${MODULES:-}" ]; then MODULES=$(readlink -f "$MODULES"); fi
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
OUT=$ROOT/out
STAGE=$OUT/stage
CACHE=$ROOT/.cache/kernel
# The binary links musl statically: 2.3 MB against 3.1 MB with static glibc (its NSS,
# locale and iconv code come along), and less of it in PID 1's memory. TARGET= overrides.
TARGET=${TARGET:-x86_64-unknown-linux-musl}
QINIT=$ROOT/target/$TARGET/release/qinit
# Static, and not position-independent: at a fixed address qemu's TCG reuses the code it
# translated for one run of the binary in the next. The kernel runs /sbin/modprobe (qinit)
# six times before /init for crypto algorithms; measured under TCG, each run took 35 ms
# as a static PIE and 11 ms like this (busybox's: 9 ms). The heap, stack and mappings are
# still placed at random; the binary's own code and data are not.
BIN_RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
APT_PACKAGES="g++ qemu-system-x86 busybox-static cpio kmod dnsmasq-base iproute2 gzip lz4 zstd e2fsprogs diod wpasupplicant hostapd iw"
# Drivers for the NICs and disks qemu offers, and the filesystems on them; qinit loads
# them by modalias from the modules.alias that depmod writes for this set.
NIC_MODULES="e1000 e1000e 8139cp 8139too vmxnet3 virtio_net"
DISK_MODULES="virtio_blk virtio_scsi sd_mod nvme"
BUS_MODULES="virtio_pci virtio_mmio virtio_rng"
# The ACPI power button (acpi:LNXPWRBN: on pc and q35, acpi:PNP0C0C: behind microvm's
# GED), and evdev for the /dev/input fallback where ACPI's netlink events are missing.
BUTTON_MODULES="button evdev"
# ext4 and jbd2 checksum with crypto "crc32c", vfat mounts with codepage 437 and iocharset
# ascii: the kernel asks /sbin/modprobe for these at mount time. 9pnet_fd is 9P over TCP
# (fstab's network mounts, trans=tcp).
FS_MODULES="ext4 crc32c_generic vfat nls_cp437 nls_ascii 9p 9pnet_virtio 9pnet_fd virtiofs"
# The host's channels: fw_cfg for credentials; vsock for readiness notification
# (virtio to the host; vsock_loopback is CID 1 inside the guest, for local listeners).
VMM_MODULES="qemu_fw_cfg vmw_vsock_virtio_transport vsock_loopback"
# Links the command line makes (vlan=, bond=, bridge=); qinit loads them itself when
# asked for one.
NETDEV_MODULES="8021q bonding bridge"
# Wireless (WIFI=1): the 802.11 stack, the simulated radios the tests use, and the
# ciphers mac80211 asks the kernel's crypto for when a key is installed (CCMP is
# "ccm(aes)", GCMP "gcm(aes)", management frame protection "cmac(aes)"): the kernel loads
# them through /sbin/modprobe.
WIFI_MODULES="cfg80211 mac80211 mac80211_hwsim ccm gcm cmac ctr ghash_generic"
WIFI_PROGRAMS="/sbin/wpa_supplicant"
# The access point's side, for the wireless test image only.
WIFI_TEST_PROGRAMS="/usr/sbin/hostapd /usr/sbin/iw"
want_modules() {
    echo "$NIC_MODULES $NETDEV_MODULES $DISK_MODULES $BUS_MODULES $BUTTON_MODULES $FS_MODULES $VMM_MODULES ${MODULES_EXTRA:-}${WIFI:+ $WIFI_MODULES}"
}

die() { echo "build: error: $*" >&2; exit 1; }

# The compressor: its command (deterministic: no name or time in any header) and the
# image's file name. lz4 by default: the kernel unpacks it in about half gzip's time,
# before it runs /init, on the guest's one CPU (README, "Benchmarks"). lz4 writes the
# legacy format, the only one the kernel reads; that format has no end mark, so 4 zero
# bytes end it (the kernel's unlz4 takes a zero chunk size as the end since 5.11): an
# archive appended after it (the tests' extra files) is then read too.
COMPRESS=${COMPRESS:-lz4}
case $COMPRESS in
    gzip) COMPRESSOR="gzip -9n" IMAGE=initramfs.cpio.gz ;;
    lz4) COMPRESSOR="lz4_legacy" IMAGE=initramfs.cpio.lz4 ;;
    zstd) COMPRESSOR="zstd -19 -q -c --no-progress" IMAGE=initramfs.cpio.zst ;;
    none) COMPRESSOR="cat" IMAGE=initramfs.cpio ;;
    *) die "COMPRESS=$COMPRESS: gzip, lz4, zstd or none" ;;
esac
lz4_legacy() { lz4 -l -9 -q -c && printf '\0\0\0\0'; }

is_root() { [ "$(id -u)" = 0 ]; }

APT_UPDATED=
apt_update() {
    [ -n "$APT_UPDATED" ] && return 0
    echo "build: apt-get update"
    apt-get update -qq
    APT_UPDATED=1
}

install_packages() {
    local missing="" p
    for p in $APT_PACKAGES; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    is_root || die "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
    apt_update
    echo "build: apt-get install$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# Print the package name of Debian's current generic kernel, e.g. linux-image-6.1.0-56-amd64.
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

# Download and unpack Debian's kernel into .cache/kernel/root-VERSION (cached), set KVER, KROOT.
fetch_kernel() {
    local pkg
    pkg=$(kernel_package)
    if [ -z "$pkg" ] && is_root; then apt_update; pkg=$(kernel_package); fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package (apt-get update as root?)"
    KVER=${pkg#linux-image-}
    KROOT=$CACHE/root-$KVER
    if [ -f "$KROOT/boot/vmlinuz-$KVER" ] && [ -f "$KROOT/lib/modules/$KVER/modules.dep" ]; then
        echo "build: kernel $KVER (cached in ${KROOT#"$ROOT"/})"
        return 0
    fi
    echo "build: downloading $pkg"
    mkdir -p "$CACHE"
    rm -f "$CACHE"/*.deb
    local aptopt=()
    is_root && aptopt=(-o APT::Sandbox::User=root)
    if ! (cd "$CACHE" && apt-get download -qq "${aptopt[@]}" "$pkg"); then
        # Our package lists may name a version that has left the archive.
        is_root || die "apt-get download $pkg failed"
        apt_update
        pkg=$(kernel_package)
        [ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package"
        KVER=${pkg#linux-image-}
        KROOT=$CACHE/root-$KVER
        echo "build: downloading $pkg"
        (cd "$CACHE" && apt-get download -qq "${aptopt[@]}" "$pkg")
    fi
    echo "build: unpacking $pkg into ${KROOT#"$ROOT"/}"
    rm -rf "$KROOT.tmp"
    dpkg-deb -x "$CACHE/${pkg}"_*.deb "$KROOT.tmp"
    [ -d "$KROOT.tmp/lib/modules/$KVER" ] || die "$pkg has no lib/modules/$KVER"
    echo "build: depmod -b ${KROOT#"$ROOT"/} $KVER"
    depmod -b "$KROOT.tmp" "$KVER"
    rm -rf "$KROOT"
    mv "$KROOT.tmp" "$KROOT"
    rm -f "$CACHE"/*.deb
    # Keep only the current version.
    find "$CACHE" -mindepth 1 -maxdepth 1 -name 'root-*' ! -name "root-$KVER" -exec rm -rf {} +
}

# Print the relative paths (as in modules.dep) of the wanted modules and all their dependencies.
# Modules built into the kernel are reported on stderr and need no file.
# $2, if given, names the modules instead of want_modules.
module_files() {
    local dir=$1 builtin=$1/modules.builtin want=${2:-$(want_modules)}
    [ -f "$builtin" ] || builtin=/dev/null
    awk -v want="$want" '
        function norm(p) { sub(":$", "", p); sub(".*/", "", p); sub("[.]ko([.].*)?$", "", p); gsub("-", "_", p); return p }
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { x = w[i]; gsub("-", "_", x); W[x] = 1 } }
        FILENAME != ARGV[2] { if (norm($1) in W) builtin[norm($1)] = 1; next }
        norm($1) in W { found[norm($1)] = 1; f = $1; sub(":$", "", f); print f; for (i = 2; i <= NF; i++) print $i }
        END {
            bad = 0
            for (x in W) {
                if (x in found) continue
                if (x in builtin) { print "build: module " x " is built into the kernel" > "/dev/stderr"; continue }
                print "build: error: module " x " not found in modules.dep" > "/dev/stderr"; bad = 1
            }
            exit bad
        }' "$builtin" "$dir/modules.dep" | LC_ALL=C sort -u
}

stage_modules() {
    local src=$1 ver=$2 dst=$STAGE/lib/modules/$2 f out files
    [ -f "$src/modules.dep" ] || die "$src/modules.dep missing (run depmod on it)"
    files=$(module_files "$src") || die "module resolution failed"
    mkdir -p "$dst"
    for f in $files; do
        out=$dst/${f%.ko*}.ko
        mkdir -p "$(dirname "$out")"
        case $f in
            *.ko.xz) xz -dc "$src/$f" > "$out" ;;
            *.ko.zst) zstd -q -dc "$src/$f" > "$out" ;;
            *.ko.gz) gzip -dc "$src/$f" > "$out" ;;
            *.ko) cp "$src/$f" "$out" ;;
            *) die "unexpected module file $f" ;;
        esac
        echo "build: module ${f}"
    done
    for f in modules.builtin modules.builtin.modinfo; do
        if [ -f "$src/$f" ]; then cp "$src/$f" "$dst/"; fi
    done
    # modules.order, as depmod reads it (paths without a compression suffix), trimmed to
    # the staged modules: Debian's lists all 4000.
    if [ -f "$src/modules.order" ]; then
        awk 'NR == FNR { s = $0; sub("[.]ko([.].*)?$", ".ko", s); staged[s] = 1; next } $0 in staged' \
            <(printf '%s\n' $files) "$src/modules.order" > "$dst/modules.order"
    fi
    compress_modules "$src" "$dst"
    echo "build: depmod -b out/stage $ver"
    depmod -b "$STAGE" "$ver"
}

# MODULES_COMPRESS=zstd: every staged module but those a boot waits for before the
# network is up (NIC_MODULES and BUS_MODULES, with their dependencies, and qemu_fw_cfg,
# which the boot loads for the host's credentials: 8 ms plain, 15 compressed under TCG;
# these load with finit_module from the plain file) becomes NAME.ko.zst, which qinit (and its modprobe
# face) decompresses and loads with init_module: Debian's kernel has no in-kernel module
# decompression. zstd -19 takes the staged modules from 3.0 MB to 2.0 MB inside the lz4
# image, and the kernel unpacks fewer bytes before /init.
compress_modules() {
    local src=$1 dst=$2 plain f ko
    case ${MODULES_COMPRESS:-zstd} in
        none) return 0 ;;
        zstd) ;;
        *) die "MODULES_COMPRESS=$MODULES_COMPRESS: zstd or none" ;;
    esac
    plain=$(module_files "$src" "$NIC_MODULES $BUS_MODULES qemu_fw_cfg" 2>/dev/null) || die "module resolution failed"
    plain=$(for f in $plain; do echo "${f%.ko*}.ko"; done)
    (cd "$dst" && find . -name '*.ko' | sed 's|^[.]/||' | LC_ALL=C sort) | while read -r ko; do
        if grep -qxF "$ko" <<<"$plain"; then continue; fi
        zstd -19 -q --no-progress -f --rm "$dst/$ko" -o "$dst/$ko.zst"
        echo "build: module $ko.zst"
    done
}

# Copies dynamic programs and the shared libraries they load (ldd's answer, as dracut's
# inst_binary resolves them), the loader too, each at its own path.
stage_programs() {
    local prog lib
    for prog in "$@"; do
        [ -x "$prog" ] || die "$prog is missing (apt-get install its package)"
        mkdir -p "$STAGE$(dirname "$prog")"
        cp -L "$prog" "$STAGE$prog"
        echo "build: program $prog"
        for lib in $(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
            [ -e "$STAGE$lib" ] && continue
            mkdir -p "$STAGE$(dirname "$lib")"
            cp -L "$lib" "$STAGE$lib"
            echo "build: library $lib"
        done
    done
}

# rustup adds the target's standard library when it is missing; where it cannot (no
# rustup, no network), the build falls back to static glibc and says so.
ensure_target() {
    [ -d "$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" ] && return 0
    echo "build: rustup target add $TARGET"
    if command -v rustup >/dev/null && rustup target add "$TARGET"; then return 0; fi
    [ "$TARGET" != x86_64-unknown-linux-gnu ] || die "no standard library for $TARGET"
    echo "build: warning: no standard library for $TARGET; building for x86_64-unknown-linux-gnu (a bigger binary)"
    TARGET=x86_64-unknown-linux-gnu
    QINIT=$ROOT/target/$TARGET/release/qinit
}

build_qinit() {
    command -v cargo >/dev/null || die "cargo not found (install Rust, e.g. with rustup)"
    ensure_target
    echo "build: cargo build --release --target $TARGET (static, not PIE)"
    RUSTFLAGS=$BIN_RUSTFLAGS cargo build --release --target "$TARGET"
    [ -x "$QINIT" ] || die "$QINIT was not built"
}

assemble() {
    local kernel=$1 modsrc=$2 ver=$3 link
    echo "build: staging initramfs in out/stage"
    rm -rf "$STAGE"
    mkdir -p "$STAGE"
    cp -a "$ROOT/rootfs/." "$STAGE/"
    (cd "$STAGE" && mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev run tmp root)
    chmod 1777 "$STAGE/tmp"
    chmod 700 "$STAGE/root"
    cp /bin/busybox "$STAGE/bin/busybox"
    # qinit's own faces, before busybox's applets so that the loop below leaves them be:
    # /sbin/shutdown is what qemu's guest agent runs (guest-shutdown). /sbin/modprobe,
    # what the kernel runs for a module it wants (crypto-crc32c, nls_cp437) and what a
    # shell user runs (busybox's cannot read the .ko.zst modules), is not in the image:
    # PID 1 links it to itself as it starts, so the kernel's six requests before /init,
    # for crypto templates built into it, cost no process each (system::modules).
    ln -sfn /init "$STAGE/sbin/shutdown"
    for link in $(/bin/busybox --list-full); do
        if [ -e "$STAGE/$link" ] || [ -L "$STAGE/$link" ]; then continue; fi  # never /init or rootfs files
        [ "$link" = sbin/modprobe ] && continue
        mkdir -p "$STAGE/$(dirname "$link")"
        ln -s /bin/busybox "$STAGE/$link"
    done
    is_root || die "creating dev/console needs root (or run under fakeroot)"
    mknod -m 600 "$STAGE/dev/console" c 5 1
    mknod -m 666 "$STAGE/dev/null" c 1 3
    install -m 755 "$QINIT" "$STAGE/init"
    ln -sfn /init "$STAGE/bin/qinit"
    if [ -n "${WIFI:-}" ]; then
        # shellcheck disable=SC2086
        stage_programs $WIFI_PROGRAMS ${PROGRAMS_EXTRA:-}
    elif [ -n "${PROGRAMS_EXTRA:-}" ]; then
        # shellcheck disable=SC2086
        stage_programs $PROGRAMS_EXTRA
    fi
    if [ -n "$modsrc" ]; then
        stage_modules "$modsrc" "$ver"
    else
        echo "build: warning: KERNEL given without MODULES: no modules staged"
    fi
    echo "build: packing ${OUT#"$ROOT"/}/$IMAGE ($COMPRESS)"
    # The same bytes from the same inputs: entries sorted, owner 0:0, every mtime set to
    # SOURCE_DATE_EPOCH (unless given, the last commit's time; 0 outside a git checkout),
    # inode numbers from cpio's own counter (--reproducible), and no name or time in the
    # compressor's header (gzip -n).
    find "$STAGE" -exec touch -h -d "@$(source_date_epoch)" {} +
    (cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | $COMPRESSOR) > "$OUT/$IMAGE.tmp"
    # One image at a time: out/initrd names it.
    rm -f "$OUT"/initramfs.cpio{,.gz,.lz4,.zst}
    mv "$OUT/$IMAGE.tmp" "$OUT/$IMAGE"
    ln -sfn "$IMAGE" "$OUT/initrd"
    cp "$kernel" "$OUT/vmlinuz.tmp"
    mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
}

source_date_epoch() {
    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then echo "$SOURCE_DATE_EPOCH"; return; fi
    git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0
}

# What the last build() assembled from, for the reproducibility check.
BUILT_KERNEL= BUILT_MODSRC= BUILT_VER=

# Builds the binary again from a copy of the tree in another directory (its own target
# directory, another path), assembles the image from it there, and compares the bytes of
# both: the same inputs must give the same binary and the same image.
check_reproducible() {
    local other first second
    other=$(mktemp -d /tmp/qinit-repro.XXXXXX)
    echo "build: building and assembling again in $other to compare"
    tar -C "$ROOT" --exclude=./target --exclude=./out --exclude=./.cache --exclude=./.git -cf - . \
        | tar -C "$other" -xf -
    (cd "$other" && RUSTFLAGS=$BIN_RUSTFLAGS \
        cargo build --release --quiet --target "$TARGET" --target-dir "$other/target") \
        || die "the second build in $other failed"
    first=$(sha256sum < "$QINIT")
    second=$(sha256sum < "$other/target/$TARGET/release/qinit")
    [ "$first" = "$second" ] || die "the binary is not reproducible: ${first%% *} here, ${second%% *} in $other"
    echo "build: the binary is reproducible (sha256 ${first%% *})"
    (QINIT=$other/target/$TARGET/release/qinit OUT=$other/out; STAGE=$OUT/stage; mkdir -p "$OUT"
        assemble "$BUILT_KERNEL" "$BUILT_MODSRC" "$BUILT_VER") >/dev/null
    first=$(sha256sum < "$OUT/$IMAGE")
    second=$(sha256sum < "$other/out/$IMAGE")
    rm -rf "$other"
    [ "$first" = "$second" ] || die "the initramfs is not reproducible: ${first%% *} here, ${second%% *} in $other"
    echo "build: the initramfs is reproducible (sha256 ${first%% *})"
}

build() {
    local kernel modsrc ver
    install_packages
    if [ -n "${KERNEL:-}" ]; then
        [ -f "$KERNEL" ] || die "KERNEL=$KERNEL: no such file"
        kernel=$KERNEL
        modsrc=${MODULES:-}
        ver=""
        if [ -n "$modsrc" ]; then
            [ -d "$modsrc" ] || die "MODULES=$modsrc: no such directory"
            ver=$(basename "$modsrc")
        fi
        echo "build: kernel $kernel${ver:+ (modules $ver)}"
    else
        [ -z "${MODULES:-}" ] || die "MODULES needs KERNEL too"
        fetch_kernel
        kernel=$KROOT/boot/vmlinuz-$KVER
        modsrc=$KROOT/lib/modules/$KVER
        ver=$KVER
    fi
    build_qinit
    mkdir -p "$OUT"
    assemble "$kernel" "$modsrc" "$ver"
    BUILT_KERNEL=$kernel BUILT_MODSRC=$modsrc BUILT_VER=$ver
    echo "build: done"
    du -h --apparent-size "$OUT/vmlinuz" "$OUT/$IMAGE" "$QINIT" | sed 's/^/build:   /'
}

# out/wifi/: the image of the last build with wireless and the access point's programs.
wifi_test_image() {
    echo "build: assembling the wireless test image in out/wifi"
    (OUT=$OUT/wifi; STAGE=$OUT/stage; WIFI=1; PROGRAMS_EXTRA=$WIFI_TEST_PROGRAMS
     mkdir -p "$OUT"; assemble "$BUILT_KERNEL" "$BUILT_MODSRC" "$BUILT_VER") >/dev/null
    du -h --apparent-size "$OUT/wifi/$IMAGE" | sed 's/^/build:   /'
}

# The fuzz targets (tests/fuzz) as a smoke: built the way cargo-fuzz builds them
# (SanitizerCoverage, debug assertions, --cfg fuzzing) but with the stable toolchain and
# without AddressSanitizer, so nothing needs installing; each then runs FUZZ_RUNS
# (default 50000) inputs from a scratch copy of its committed corpus, with a fixed seed:
# the same inputs on every machine. The campaigns of 10 million runs are the README's
# commands.
FUZZ_RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
fuzz_smoke() {
    local target=x86_64-unknown-linux-gnu dir=$ROOT/target/fuzz-smoke scratch t
    echo "build: fuzz smoke: building tests/fuzz (coverage-instrumented, stable)"
    # --target keeps the instrumentation off build scripts and proc macros.
    RUSTFLAGS=$FUZZ_RUSTFLAGS cargo build --release --manifest-path "$ROOT/tests/fuzz/Cargo.toml" \
        --target "$target" --target-dir "$dir"
    scratch=$(mktemp -d)
    for t in "$ROOT"/tests/fuzz/corpus/*/; do
        t=$(basename "$t")
        cp -r "$ROOT/tests/fuzz/corpus/$t" "$scratch/$t"
        if ! "$dir/$target/release/$t" -runs="${FUZZ_RUNS:-50000}" -seed=1 \
            -artifact_prefix="$scratch/" "$scratch/$t" 2>"$scratch/$t.log"; then
            tail -n 40 "$scratch/$t.log"
            die "fuzz target $t failed; its input is in $scratch"
        fi
        echo "build: fuzz smoke: $t: $(grep -E '^Done [0-9]+ runs' "$scratch/$t.log" | tail -n 1)"
    done
    rm -rf "$scratch"
}

run_tests() {
    if ! cargo clippy --version >/dev/null 2>&1; then
        [ "${CI:-}" = true ] && die "cargo clippy is not installed (rustup component add clippy)"
        echo "build: warning: cargo clippy not installed, skipping it"
    else
        echo "build: cargo clippy --all-targets -- -D warnings"
        cargo clippy --all-targets -- -D warnings
    fi
    export QINIT_OUT=$OUT
    # The qemu and namespace suites are #[ignore]d (a plain `cargo test` reports them as
    # ignored, not passed); here they run, and a missing prerequisite fails them.
    echo "build: cargo test -- --include-ignored --test-threads=2 (QINIT_OUT=$QINIT_OUT)"
    cargo test -- --include-ignored --test-threads=2
    fuzz_smoke
    echo "build: all tests passed"
}

case ${1:-build} in
    build) build ;;
    binary) build_qinit >&2; echo "$QINIT" ;;
    test) build; check_reproducible; wifi_test_image; run_tests ;;
    wifi-test-image) build; wifi_test_image ;;
    reproducible) build; check_reproducible ;;
    clean) echo "build: rm -rf out"; rm -rf "$OUT" ;;
    distclean) echo "build: rm -rf out .cache"; rm -rf "$OUT" "$ROOT/.cache" ;;
    *) die "usage: $0 [build|binary|test|reproducible|wifi-test-image|clean|distclean]" ;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# usva-vm-test.sh: the vm suite, a real-kernel test of the VFIO path.
#
#   usva-vm-test.sh [--guest PATH] [--build-dir DIR] [--keep]
#
# Boots Debian's kernel (the package linux-image-amd64 depends on, 6.1 on
# bookworm: VFIO and type1, no iommufd) under qemu-system-x86_64 on a q35
# machine with an intel-iommu and QEMU's edu PCI device, from an initramfs
# made here: busybox-static, the vfio modules, usva-vm-guest, usva-info
# (when built) and the libraries ldd lists for them. The guest's /init binds
# edu to vfio-pci and runs usva-vm-guest, which opens edu with lib/vfio in
# legacy (type1) mode, DMA-maps a buffer, copies through edu's DMA engine
# into and out of it, checks every byte and checks that a DMA to an
# unmapped IOVA is refused by the IOMMU; then usva-info runs, and the guest
# powers off.
#
# Everything the guest prints (its console) is printed here. Exit status:
#   0   the guest printed "usva-vm-guest: PASS ..." (and usva-info, when
#       there, exited 0);
#   1   anything else: a FAIL line, no PASS line, a time-out, a crash;
#   77  skipped (meson's code), with the reason, where qemu cannot run:
#       no qemu-system-x86_64 and no way to install it, no busybox-static,
#       no kernel package to be had.
#
# Packages (qemu-system-x86, busybox-static) are installed with apt-get when
# missing and we are root or have sudo, as usertools/usva-quickstart.sh
# does. The kernel is not installed: its package is downloaded with
# `apt-get download`, unpacked, and vmlinuz and the modules the test needs
# (decompressed) are kept in the cache directory; the .deb is not kept.
#
# Options:
#   --guest PATH      the usva-vm-guest executable (default:
#                     BUILD/app/test/vm/usva-vm-guest)
#   --build-dir DIR   the meson build directory (default: build)
#   --keep            keep the initramfs tree and the console log
#
# Environment:
#   USVA_VM_ACCEL       kvm, tcg or auto (default: auto: KVM when /dev/kvm
#                       works, else TCG)
#   USVA_VM_TIMEOUT     seconds the whole VM run may take (default: 180
#                       with TCG, 90 with KVM)
#   USVA_VM_CACHE       cache directory (default:
#                       ${XDG_CACHE_HOME:-~/.cache}/usva-vm; without a
#                       home, BUILD/app/test/vm/cache)
#   USVA_VM_KERNEL_PKG  kernel package (default: what linux-image-amd64
#                       depends on)
#   USVA_VM_MEM         guest memory in MiB (default: 1536)
#   USVA_VM_KERNEL_ARGS more kernel arguments (e.g. loglevel=7: the kernel
#                       boots with quiet)
#   USVA_SKIP_INSTALL   1: do not install packages (a missing one is a skip)
#
# shellcheck disable=SC2012,SC2054,SC2317
# (ls on names we made; commas inside qemu's options; a trap handler)
set -uo pipefail

SKIP=77
MODULES_WANTED=(vfio vfio_iommu_type1 vfio_pci)
# DPDK drivers the EAL loads as plugins that usva needs in the guest: the
# ring mempool handler behind rte_mempool_create().
PMDS_WANTED=(librte_mempool_ring)

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
BUILD_DIR=
GUEST=
KEEP=0

say() { printf 'usva-vm: %s\n' "$*"; }
skip() { printf 'usva-vm: SKIP: %s\n' "$*"; exit "$SKIP"; }
fail() { printf 'usva-vm: FAIL: %s\n' "$*"; exit 1; }

while (($#)); do
	case "$1" in
	--guest) GUEST="$2"; shift 2 ;;
	--build-dir) BUILD_DIR="$2"; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help)
		sed -n '4,/^# shellcheck/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0 ;;
	*) printf 'usva-vm: unknown option "%s"\n' "$1" >&2; exit 2 ;;
	esac
done
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
BUILD_DIR="$(cd "$BUILD_DIR" 2>/dev/null && pwd)" ||
	fail "no build directory $BUILD_DIR"
GUEST="${GUEST:-$BUILD_DIR/app/test/vm/usva-vm-guest}"
[[ -x "$GUEST" ]] || fail "no guest program $GUEST (build it first)"
USVA_INFO="$BUILD_DIR/app/usva-info/usva-info"

# ---- packages ----------------------------------------------------------

SUDO=()
can_install() {
	[[ "${USVA_SKIP_INSTALL:-0}" != 1 ]] || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
			return 1
		SUDO=(sudo -n)
	fi
	return 0
}

APT_UPDATED=0
apt_update() {
	((APT_UPDATED)) && return 0
	APT_UPDATED=1
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
}

# A statically linked busybox: busybox-static's /bin/busybox.
static_busybox() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [[ -x "$b" && "$(LC_ALL=C ldd "$b" 2>&1)" == \
		      *'not a dynamic executable'* ]]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

install_missing() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		missing+=(qemu-system-x86)
	static_busybox >/dev/null || missing+=(busybox-static)
	((${#missing[@]})) || return 0
	if ! can_install; then
		skip "missing ${missing[*]} and cannot install (not root, no" \
		     "sudo, no apt-get or USVA_SKIP_INSTALL=1)"
	fi
	say "installing: ${missing[*]}"
	apt_update || say "apt-get update failed"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		skip "could not install ${missing[*]}"
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		skip "no qemu-system-x86_64 after installing qemu-system-x86"
	static_busybox >/dev/null ||
		skip "no static busybox after installing busybox-static"
}

# ---- the kernel --------------------------------------------------------

# The cache: USVA_VM_CACHE, else the user's cache directory, else (no
# HOME, or not writable) one in the build directory.
if [[ -n "${USVA_VM_CACHE:-}" ]]; then
	CACHE="$USVA_VM_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" || -n "${HOME:-}" ]] &&
     mkdir -p "${XDG_CACHE_HOME:-${HOME:-}/.cache}/usva-vm" 2>/dev/null; then
	CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/usva-vm"
else
	CACHE="$BUILD_DIR/app/test/vm/cache"
fi

kernel_pkg_name() {
	local p
	if [[ -n "${USVA_VM_KERNEL_PKG:-}" ]]; then
		echo "$USVA_VM_KERNEL_PKG"
		return 0
	fi
	command -v apt-cache >/dev/null 2>&1 || return 1
	p="$(LC_ALL=C apt-cache depends linux-image-amd64 2>/dev/null |
	     sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)"
	if [[ -z "$p" ]] && can_install; then
		apt_update >/dev/null 2>&1
		p="$(LC_ALL=C apt-cache depends linux-image-amd64 2>/dev/null |
		     sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' |
		     head -n 1)"
	fi
	[[ -n "$p" ]] && echo "$p"
}

# A module file, decompressed to @out.
module_plain() {
	case "$1" in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) return 1 ;;
	esac
}

# Unpack kernel package @deb and keep vmlinuz and the modules in @dir:
# dir/vmlinuz, dir/release, dir/modules/NAME.ko, dir/modules/order (load
# order, dependencies first).
kernel_extract() {
	local deb="$1" dir="$2" x mdir f n
	local -A path=() seen=()
	local order=()
	x="$dir.x"
	rm -rf "$x" && mkdir -p "$x" || return 1
	dpkg-deb -x "$deb" "$x" || return 1
	f="$(ls "$x"/boot/vmlinuz-* 2>/dev/null | head -n 1)"
	[[ -n "$f" ]] || { say "no vmlinuz in $deb"; return 1; }
	mdir="$(ls -d "$x"/lib/modules/*/ "$x"/usr/lib/modules/*/ 2>/dev/null |
		head -n 1)"
	[[ -n "$mdir" ]] || { say "no modules in $deb"; return 1; }
	mkdir -p "$dir/modules"
	cp "$f" "$dir/vmlinuz" || return 1
	basename "$mdir" >"$dir/release"
	while IFS= read -r f; do
		n="${f##*/}"
		n="${n%%.ko*}"
		path["${n//-/_}"]="$f"
	done < <(find "$mdir" -name '*.ko*')

	# Depth first, dependencies before the module.
	add_module() {
		local m="${1//-/_}" d deps
		[[ -n "${seen[$m]:-}" ]] && return 0
		seen[$m]=1
		if [[ -z "${path[$m]:-}" ]]; then
			if grep -qE "/${m//_/[-_]}\.ko" "$mdir/modules.builtin" \
			   2>/dev/null; then
				return 0	# built in
			fi
			say "kernel module $m not found in $deb"
			return 1
		fi
		module_plain "${path[$m]}" "$dir/modules/$m.ko" || return 1
		deps="$(tr '\0' '\n' <"$dir/modules/$m.ko" |
			sed -n 's/^depends=//p' | head -n 1)"
		for d in ${deps//,/ }; do
			add_module "$d" || return 1
		done
		order+=("$m")
	}
	for n in "${MODULES_WANTED[@]}"; do
		add_module "$n" || return 1
	done
	printf '%s\n' "${order[@]}" >"$dir/modules/order"
	rm -rf "$x"
}

# The newest complete kernel in the cache, if any.
cached_kernel() {
	local d
	d="$(ls -d "$CACHE"/linux-image-*/complete 2>/dev/null | sort -V |
	     tail -n 1)"
	[[ -n "$d" ]] && echo "${d%/complete}"
}

# Sets KDIR to a cached, complete kernel directory, downloading the package
# if needed.
get_kernel() {
	local pkg tmp deb d
	pkg="$(kernel_pkg_name)"
	if [[ -z "$pkg" ]]; then
		# No apt, or no package lists: a kernel cached before.
		KDIR="$(cached_kernel)" ||
			skip "no kernel package: apt-cache does not know" \
			     "linux-image-amd64 and none is cached in $CACHE"
		say "kernel: ${KDIR##*/} (cached; apt-cache knows none)"
		return 0
	fi
	KDIR="$CACHE/$pkg"
	if [[ -f "$KDIR/complete" ]]; then
		say "kernel: $pkg (cached in $CACHE)"
		return 0
	fi
	mkdir -p "$CACHE" || skip "cannot create the cache directory $CACHE"
	tmp="$(mktemp -d "$CACHE/dl.XXXXXX")" || skip "cannot write to $CACHE"
	chmod 0755 "$tmp"
	say "kernel: downloading $pkg into $CACHE"
	# As root, apt-get would drop to the _apt user, which may not reach
	# the cache directory: do not.
	if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root \
	      "$pkg"); then
		rm -rf "$tmp"
		if KDIR="$(cached_kernel)"; then
			say "kernel: could not download $pkg: using" \
			    "${KDIR##*/}, cached before"
			return 0
		fi
		skip "could not download the kernel package $pkg"
	fi
	deb="$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)"
	rm -rf "$KDIR"
	if [[ -z "$deb" ]] || ! kernel_extract "$deb" "$KDIR"; then
		rm -rf "$tmp" "$KDIR" "$KDIR.x"
		fail "could not unpack the kernel package $pkg"
	fi
	rm -rf "$tmp"
	touch "$KDIR/complete"
	# Kernels cached before this one are not used again.
	for d in "$CACHE"/linux-image-*/; do
		d="${d%/}"
		[[ "$d" == "$KDIR" || ! -d "$d" ]] || rm -rf "$d"
	done
	say "kernel: $pkg: $(cat "$KDIR/release"), modules" \
	    "$(tr '\n' ' ' <"$KDIR/modules/order")"
}

# ---- the initramfs -----------------------------------------------------

# Copy the libraries @bin needs (ldd) into ROOT: the dynamic loader at its
# own path, the others into /usva/lib.
copy_libs() {
	local bin="$1" line lib
	while IFS= read -r line; do
		lib=
		case "$line" in
		*" => not found"*)
			say "$bin: ${line%% *} not found"; return 1 ;;
		*" => /"*)
			lib="${line#* => }"; lib="${lib%% (*}"
			cp -L "$lib" "$ROOT/usva/lib/${lib##*/}" || return 1 ;;
		/*)
			lib="${line%% (*}"
			mkdir -p "$ROOT$(dirname "$lib")"
			cp -L "$lib" "$ROOT$lib" || return 1 ;;
		esac
	done < <(LC_ALL=C ldd "$bin" 2>/dev/null | sed 's/^[[:space:]]*//')
}

# The directory DPDK's EAL loads driver plugins from (RTE_EAL_PMD_PATH), as
# compiled into librte_eal.
pmd_dir() {
	local eal
	eal="$(LC_ALL=C ldd "$GUEST" | sed -n 's/.*librte_eal[^ ]* => \([^ ]*\) .*/\1/p')"
	[[ -n "$eal" ]] || return 1
	grep -aoE '/[[:alnum:]_./-]*/dpdk/pmds-[0-9.]+' "$eal" | head -n 1
}

make_initramfs() {
	local out="$1" bb a pdir p f
	bb="$(static_busybox)"
	rm -rf "$ROOT"
	mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var/run,usva/bin,usva/lib,lib/modules} ||
		return 1
	cp "$bb" "$ROOT/bin/busybox" || return 1
	for a in $("$bb" --list); do
		[[ "$a" == busybox ]] || ln -sf busybox "$ROOT/bin/$a"
	done
	cp "$KDIR"/modules/*.ko "$KDIR/modules/order" "$ROOT/lib/modules/" ||
		return 1
	cp "$SRC_DIR/app/test/vm/init" "$ROOT/init" && chmod 0755 "$ROOT/init" ||
		return 1
	cp "$GUEST" "$ROOT/usva/bin/usva-vm-guest" || return 1
	copy_libs "$GUEST" || return 1
	if [[ -x "$USVA_INFO" ]]; then
		cp "$USVA_INFO" "$ROOT/usva/bin/usva-info" || return 1
		copy_libs "$USVA_INFO" || return 1
	fi
	if pdir="$(pmd_dir)" && [[ -d "$pdir" ]]; then
		mkdir -p "$ROOT$pdir"
		for p in "${PMDS_WANTED[@]}"; do
			# By its real name, .so.ABI (23.0): the EAL loads only
			# *.so and *.so.ABI from the directory.
			f="$(readlink -f "$pdir/$p.so" 2>/dev/null)"
			[[ -n "$f" && -f "$f" ]] || continue
			cp "$f" "$ROOT$pdir/${f##*/}" || return 1
			copy_libs "$f" || return 1
		done
	fi
	# The initial console; without it (not root) /init reopens it.
	mknod "$ROOT/dev/console" c 5 1 2>/dev/null || true
	(cd "$ROOT" && find . | "$bb" cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$out"
}

# ---- qemu --------------------------------------------------------------

qemu_works() {
	echo quit | timeout 30 qemu-system-x86_64 -accel "$1" -machine none \
		-nodefaults -display none -monitor stdio >/dev/null 2>&1
}

# The accelerators to try, in order: ACCELS.
pick_accel() {
	local want="${USVA_VM_ACCEL:-auto}"
	case "$want" in
	kvm)
		qemu_works kvm ||
			fail "USVA_VM_ACCEL=kvm but qemu cannot use KVM here"
		ACCELS=(kvm) ;;
	tcg)
		qemu_works tcg || skip "qemu-system-x86_64 cannot run (TCG)"
		ACCELS=(tcg) ;;
	auto)
		ACCELS=()
		if [[ -r /dev/kvm && -w /dev/kvm ]] && qemu_works kvm; then
			ACCELS+=(kvm)
		fi
		if qemu_works tcg; then
			ACCELS+=(tcg)
		fi
		((${#ACCELS[@]})) || skip "qemu-system-x86_64 cannot run here" ;;
	*) fail "USVA_VM_ACCEL must be kvm, tcg or auto, not '$want'" ;;
	esac
}

# run_vm ACCEL: boot the guest, its console printed and kept in LOG.
# Sets RC (qemu's exit status, 124 on the time limit) and BOOTED (1 if the
# guest's /init printed a line). With KVM, a guest that has not reached
# /init within BOOT_DEADLINE seconds is stopped (RC=124, BOOTED=0): a
# nested KVM that starts but never runs the guest does that.
run_vm() {
	local accel="$1" machine timeout_s qpid tpid start deadline=0
	if [[ "$accel" == kvm ]]; then
		machine=(-machine q35,accel=kvm,kernel-irqchip=split -cpu host)
		timeout_s="${USVA_VM_TIMEOUT:-90}"
		deadline=30
	else
		# -cpu max: DPDK is built for corei7 (SSE4.2), which the
		# default qemu64 lacks.
		machine=(-machine q35,accel=tcg -cpu max)
		timeout_s="${USVA_VM_TIMEOUT:-180}"
	fi
	local qemu=(qemu-system-x86_64 "${machine[@]}"
		-smp 2 -m "${USVA_VM_MEM:-1536}"
		-nodefaults -display none -no-reboot
		-serial stdio -monitor none
		-device intel-iommu,intremap=on
		-device edu
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD"
		-append "console=ttyS0 quiet intel_iommu=on panic=-1${USVA_VM_KERNEL_ARGS:+ $USVA_VM_KERNEL_ARGS}")

	say "booting $(cat "$KDIR/release") with $accel, ${timeout_s} s at most"
	say "${qemu[*]}"
	say "---- guest console ----"
	: >"$LOG.raw"
	start=$(date +%s)
	timeout --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null \
		>"$LOG.raw" 2>&1 &
	qpid=$!
	QPID=$qpid
	tail -n +1 -s 0.2 -f --pid="$qpid" "$LOG.raw" | tr -d '\r' &
	tpid=$!
	BOOTED=0
	while kill -0 "$qpid" 2>/dev/null; do
		if ((!BOOTED)) && grep -aq '^usva-vm-init: ' "$LOG.raw"; then
			BOOTED=1
		fi
		if ((!BOOTED && deadline > 0 &&
		     $(date +%s) - start >= deadline)); then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			RC=124
			QPID=
			wait "$tpid" 2>/dev/null
			say "---- end of guest console ----"
			say "the guest did not reach /init within $deadline s" \
			    "with $accel: stopped"
			tr -d '\r' <"$LOG.raw" >"$LOG"
			return
		fi
		sleep 0.5
	done
	wait "$qpid"
	RC=$?
	QPID=
	wait "$tpid" 2>/dev/null
	SECS=$(($(date +%s) - start))
	tr -d '\r' <"$LOG.raw" >"$LOG"
	rm -f "$LOG.raw"
	grep -aq '^usva-vm-init: ' "$LOG" && BOOTED=1
	say "---- end of guest console ----"
	TIMEOUT_S="$timeout_s"
}

# ---- main --------------------------------------------------------------

# Stopped from outside (meson's time limit): stop the VM too.
QPID=
on_signal() {
	[[ -z "$QPID" ]] || kill "$QPID" 2>/dev/null
	say "FAIL: stopped by a signal"
	exit 1
}
trap on_signal TERM INT HUP

install_missing
command -v dpkg-deb >/dev/null 2>&1 || skip "no dpkg-deb to unpack a kernel package"
get_kernel
pick_accel

WORK="$BUILD_DIR/app/test/vm/vm-run"
ROOT="$WORK/root"
INITRD="$WORK/initramfs.gz"
LOG="$WORK/console.log"
mkdir -p "$WORK" || fail "cannot create $WORK"
make_initramfs "$INITRD" || fail "could not build the initramfs"
say "initramfs: $(du -k "$INITRD" | cut -f1) KiB (usva-vm-guest$(
	[[ -x "$USVA_INFO" ]] && echo ", usva-info"))"

for ACCEL in "${ACCELS[@]}"; do
	run_vm "$ACCEL"
	# KVM that cannot run this guest (qemu fails on it, or it never
	# reaches /init) is not the test failing: TCG next, if there.
	if ((!BOOTED)) && [[ "$ACCEL" != "${ACCELS[-1]}" ]]; then
		say "KVM could not run the guest (qemu exit $RC): trying TCG"
		continue
	fi
	break
done

[[ "$KEEP" == 1 ]] || rm -rf "$ROOT" "$INITRD"

pass="$(grep -aE '^usva-vm-guest: PASS' "$LOG" | tail -n 1)"
info="$(grep -aE '^usva-vm-init: usva-info exit [0-9]+' "$LOG" | tail -n 1)"
if ((RC == 124 || RC == 137)); then
	fail "the VM ran out of time (${TIMEOUT_S:-?} s, $ACCEL; console in $LOG)"
elif grep -aq '^qemu: hardware error' "$LOG"; then
	fail "qemu stopped the VM: $(grep -a '^qemu: hardware error' "$LOG" |
	     head -n 1)"
elif [[ -z "$pass" ]]; then
	fail "no 'usva-vm-guest: PASS' line from the guest (qemu exit $RC," \
	     "${SECS:-?} s, $ACCEL; console in $LOG)"
elif [[ -n "$info" && "${info##* }" != 0 ]]; then
	fail "usva-info failed in the guest: $info"
elif ((RC != 0)); then
	fail "qemu exited with status $RC after the PASS line"
fi
say "PASS in $SECS s with $ACCEL:${pass#usva-vm-guest: PASS}"
exit 0

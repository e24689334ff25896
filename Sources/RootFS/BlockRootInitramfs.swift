import Archive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A small initramfs that mounts a root filesystem from a block device for a kernel that has the
/// disk driver and the filesystem as modules (Debian's arm64 and amd64 kernels: `CONFIG_VIRTIO_BLK=m`,
/// `CONFIG_VIRTIO_MMIO=m`, `CONFIG_SQUASHFS=m`, `CONFIG_EXT4_FS=m`), from the kernel arguments the
/// kernel would read itself: `root=/dev/vda2|PARTLABEL=…|UUID=…|LABEL=… rootfstype=squashfs|ext4|vfat
/// [ro|rw] [rootwait] [init=…]`.
/// ```
/// /init                        the script below (``initScript(release:modules:waitSeconds:)``)
/// /bin/busybox + applet links  a static busybox for the kernel's architecture
/// /lib/modules/RELEASE/…       the disk and filesystem modules with everything they need (hard and
///                              soft dependencies: ext4 takes crc32c_generic), loaded by insmod in an
///                              order fixed here: no modprobe, no modules.dep
/// /dev/console                 the node the kernel opens before /init runs
/// ```
/// Written as a newc cpio (gzip by default); times clamped to SOURCE_DATE_EPOCH, owners root.
public struct BlockRootInitramfs: Sendable {
    /// QEMU virt's and PC's virtio disks (MMIO and PCI transports).
    public static let diskModules = ["virtio_mmio", "virtio_pci", "virtio_blk"]
    /// How long `/init` waits for the root device by default (seconds).
    public static let defaultWait = 30

    /// A static busybox for the target (sh, mount, insmod, switch_root, poweroff, blkid, sleep).
    public var busybox: String
    /// The kernel's modules: `lib/modules/RELEASE`, or a root holding one (``KernelModuleTree``).
    public var modules: String
    /// The root filesystem types to load modules for (`squashfs`, `ext4`, `vfat`, …: the module's name).
    public var filesystems: [String]
    /// Modules to load besides ``diskModules`` and the filesystems' (a board's disk controller).
    public var extraModules: [String]
    public var waitSeconds: Int
    /// The target's architecture (a board's `arch:`); nil: busybox's.
    public var architecture: Architecture?

    public init(busybox: String, modules: String, filesystems: [String], extraModules: [String] = [], waitSeconds: Int = defaultWait, architecture: Architecture? = nil) {
        self.busybox = busybox
        self.modules = modules
        self.filesystems = filesystems
        self.extraModules = extraModules
        self.waitSeconds = waitSeconds
        self.architecture = architecture
    }

    public typealias Failure = RootFSError
    public typealias Report = NFSRootInitramfs.Report

    /// The initramfs as a manifest, and what went into it. The disk modules a kernel lacks are left
    /// out (named in the notes: it may reach its disk another way); a filesystem must be there.
    public func manifest(sourceDateEpoch: Int64) throws -> (Manifest, Report) {
        guard (1...3600).contains(waitSeconds) else { throw Failure(message: "root device wait: expected 1 to 3600 seconds, found \(waitSeconds)") }
        guard !filesystems.isEmpty else { throw Failure(message: "a block-device root initramfs needs the root's filesystem type (squashfs, ext4, …)") }
        let tree = try KernelModuleTree.load(modules)
        let optional = Set(Self.diskModules)
        let wanted = Self.diskModules + filesystems + extraModules.filter { !optional.contains($0) }
        let (order, builtIn, absent) = try tree.loadOrder(wanted, optional: optional)
        let m = try ModulesInitramfs.manifest(
            busybox: busybox, architecture: architecture, sourceDateEpoch: sourceDateEpoch, source: "block-root initramfs",
            folders: ["/proc", "/sys", "/dev", "/newroot"],
            scripts: [("/init", Self.initScript(release: tree.release, modules: order, waitSeconds: waitSeconds))],
            tree: tree, order: order, what: "the root")
        let r = ModulesInitramfs.report(tree, order: order, builtIn: builtIn, absent: absent)
        return (m, r)
    }

    /// Writes the initramfs to `path` (newc cpio, `compression`).
    public func write(to path: String, compression: ArchiveCompression = .gzip, sourceDateEpoch: Int64) throws -> Report {
        let (m, r) = try manifest(sourceDateEpoch: sourceDateEpoch)
        return try ModulesInitramfs.write(m, report: r, to: path, compression: compression)
    }

    /// `/init` for a kernel `release` that loads `modules` (paths in its modules folder, in order)
    /// and waits `waitSeconds` at most for the root device.
    public static func initScript(release: String, modules: [String], waitSeconds: Int) -> String {
        initTemplate.replacing("@RELEASE@", with: release).replacing("@MODULES@", with: modules.joined(separator: " "))
            .replacing("@WAIT@", with: String(waitSeconds))
    }

    static let initTemplate = #"""
#!/bin/sh
# /init of a Flashsmith block-device root initramfs (flashsmith build, a disk board).
#
# Does what a kernel with the disk driver and the filesystem built in does by itself, from the same
# kernel arguments: root=/dev/vda2|PARTLABEL=…|UUID=…|LABEL=… rootfstype=TYPE [ro|rw] [init=…].
# Mounts proc, sysfs and devtmpfs; loads the disk and filesystem modules; waits for the root
# device; mounts it (read-only unless rw); moves /dev there and switch_roots to init= (default
# /sbin/init). Any failure: one line saying what failed, then power off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
modules_dir=/lib/modules/@RELEASE@
modules="@MODULES@"
wait_seconds=@WAIT@

fail() {
	echo "flashsmith-blockroot: $*; powering off"
	sync
	poweroff -f
	sleep 10
	exit 1
}

# must WHAT COMMAND...: runs COMMAND; when it fails, fails with WHAT and the last line it printed.
must() {
	_what=$1
	shift
	_out=$("$@" 2>&1) && return 0
	_out=$(printf '%s\n' "$_out" | tail -n 1)
	fail "$_what${_out:+: $_out}"
}

# parse_cmdline LINE: root, rootfstype, rootflags, init and access (ro|rw) from the kernel command line.
parse_cmdline() {
	root= rootfstype= rootflags= init=/sbin/init access=ro
	set -f
	# shellcheck disable=SC2086
	set -- $1
	set +f
	for _arg; do
		case $_arg in
		root=*) root=${_arg#root=} ;;
		rootfstype=*) rootfstype=${_arg#rootfstype=} ;;
		rootflags=*) rootflags=${_arg#rootflags=} ;;
		init=*) init=${_arg#init=} ;;
		ro) access=ro ;;
		rw) access=rw ;;
		esac
	done
}

# find_root SPEC: device, the node SPEC names (a path; PARTLABEL= by the partition's name the
# kernel reports in uevent; UUID=/LABEL= as blkid reports them), once it exists. BLOCKROOT_SYS
# replaces /sys (tests).
find_root() {
	device=
	_sys=${BLOCKROOT_SYS:-/sys}
	case $1 in
	/dev/*)
		[ -b "$1" ] && device=$1
		;;
	PARTLABEL=*)
		for _u in "$_sys"/class/block/*/uevent; do
			if grep -qxF "PARTNAME=${1#PARTLABEL=}" "$_u" 2>/dev/null; then
				device=/dev/$(sed -n 's/^DEVNAME=//p' "$_u")
				break
			fi
		done
		;;
	UUID=* | LABEL=*)
		_key=${1%%=*} _want=${1#*=}
		[ "$_key" = LABEL ] || _want=$(echo "$_want" | tr A-F a-f)
		for _d in "$_sys"/class/block/*; do
			_n=${_d##*/}
			_v=$(blkid "/dev/$_n" 2>/dev/null | sed -n "s/.* ${_key}=\"\([^\"]*\)\".*/\1/p")
			if [ -n "$_v" ] && [ "$_v" = "$_want" ]; then
				device=/dev/$_n
				break
			fi
		done
		;;
	*) fail "root=$1: expected /dev/NAME, PARTLABEL=, UUID= or LABEL= (PARTUUID= needs a kernel that mounts the root itself)" ;;
	esac
	[ -n "$device" ]
}

# Sourced by a test (not as PID 1) with BLOCKROOT_INIT_FUNCTIONS set: the functions only.
if [ $$ -ne 1 ] && [ -n "${BLOCKROOT_INIT_FUNCTIONS:-}" ]; then
	return 0
fi

must "cannot mount proc" mount -t proc -o nosuid,nodev,noexec proc /proc
must "cannot mount sysfs" mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
must "cannot mount devtmpfs on /dev (CONFIG_DEVTMPFS)" mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
cmdline=
read -r cmdline </proc/cmdline
parse_cmdline "$cmdline"
[ -n "$root" ] || fail "no root= on the kernel command line"
for m in $modules; do
	must "cannot load module $m" insmod "$modules_dir/$m"
done
_tries=0
until find_root "$root"; do
	_tries=$((_tries + 1))
	[ $_tries -le $((wait_seconds * 10)) ] || fail "root=$root: no such block device after $wait_seconds s (modules:${modules:- none}; devices: $(ls /sys/class/block | tr '\n' ' '))"
	sleep 0.1
done
mount_opts=$access${rootflags:+,$rootflags}
must "cannot mount $device (${rootfstype:-auto} $mount_opts)" mount ${rootfstype:+-t "$rootfstype"} -o "$mount_opts" "$device" /newroot
echo "flashsmith-blockroot: / is $device (${rootfstype:-auto} $mount_opts)"
[ -e "/newroot$init" ] || [ -L "/newroot$init" ] || fail "no $init on $device"
[ -d /newroot/dev ] || fail "no /dev on $device"
must "cannot move /dev to the root" mount --move /dev /newroot/dev
umount /sys 2>/dev/null
umount /proc 2>/dev/null
exec switch_root /newroot "$init" "$@"

"""#
}

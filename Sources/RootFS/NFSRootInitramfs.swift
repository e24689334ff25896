import Archive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A small initramfs that mounts an NFS root for a kernel that cannot (Debian's arm64 and amd64
/// kernels: `CONFIG_NFS_FS=m`, no `CONFIG_ROOT_NFS`, no `CONFIG_IP_PNP`; `kconfig check --for
/// nfsroot` says which), from the same kernel arguments the kernel would read:
/// `root=/dev/nfs nfsroot=[SERVER:]PATH[,OPTIONS] ip=dhcp|CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF`.
/// ```
/// /init                        the script below (``initScript(release:modules:mountTimeout:)``)
/// /etc/udhcpc.script           DHCP lease → interface, /run/dhcp/{client,server,gw,rootpath}
/// /bin/busybox + applet links  a static busybox for the kernel's architecture
/// /lib/modules/RELEASE/…       the NIC and NFS modules with everything they need, loaded by insmod
///                              in an order fixed here (deps first): no modprobe, no modules.dep
/// /dev/console                 the node the kernel opens before /init runs
/// ```
/// Written as a newc cpio (gzip by default); times clamped to SOURCE_DATE_EPOCH, owners root: the
/// same inputs give the same bytes.
public struct NFSRootInitramfs: Sendable {
    /// The modules loaded by default: QEMU virt's and PC's virtio NIC (PCI and MMIO), the NFS v3
    /// and v4 clients. Those a kernel has built in are skipped, those it lacks are left out (named
    /// in the notes); the NFS client itself must be there.
    public static let defaultModules = ["virtio_pci", "virtio_mmio", "virtio_net", "nfsv3", "nfsv4"]
    /// How long `/init` waits for the NFS mount before it gives up (seconds).
    public static let defaultMountTimeout = 60

    /// A static busybox for the target (its applets: sh, mount, insmod, ifconfig, route, udhcpc, switch_root, poweroff, timeout, sed, tail).
    public var busybox: String
    /// The kernel's modules: `lib/modules/RELEASE`, or a root holding one (``KernelModuleTree``).
    public var modules: String
    /// Modules to load besides ``defaultModules`` (a board's NIC); each must exist.
    public var extraModules: [String]
    public var mountTimeout: Int
    /// The target's architecture (a board's `arch:`); nil: busybox's.
    public var architecture: Architecture?

    public init(busybox: String, modules: String, extraModules: [String] = [], mountTimeout: Int = defaultMountTimeout, architecture: Architecture? = nil) {
        self.busybox = busybox
        self.modules = modules
        self.extraModules = extraModules
        self.mountTimeout = mountTimeout
        self.architecture = architecture
    }

    public typealias Failure = RootFSError

    public struct Report: Sendable {
        public var entries = 0
        public var bytes = 0
        public var release = ""
        /// Module paths in load order.
        public var modules: [String] = []
        public var notes: [String] = []
    }

    /// The initramfs as a manifest, and what went into it.
    public func manifest(sourceDateEpoch: Int64) throws -> (Manifest, Report) {
        guard (1...3600).contains(mountTimeout) else { throw Failure(message: "NFS mount timeout: expected 1 to 3600 seconds, found \(mountTimeout)") }
        let tree = try KernelModuleTree.load(modules)
        let optional = Set(Self.defaultModules)
        let wanted = Self.defaultModules + extraModules.filter { !optional.contains($0) }
        let (order, builtIn, absent) = try tree.loadOrder(wanted, optional: optional)
        let hasNFS = order.contains { ModulesLayer.moduleName($0) == "nfs" } || tree.builtin.contains("nfs")
        guard hasNFS else {
            throw Failure(path: tree.dir, message: "expected the NFS client (module nfs, CONFIG_NFS_FS) among the kernel's modules or built in, found neither: this kernel cannot mount an NFS root")
        }
        let m = try ModulesInitramfs.manifest(
            busybox: busybox, architecture: architecture, sourceDateEpoch: sourceDateEpoch, source: "nfsroot initramfs",
            folders: ["/proc", "/sys", "/dev", "/run", "/newroot", "/etc"],
            scripts: [("/init", Self.initScript(release: tree.release, modules: order, mountTimeout: mountTimeout)), ("/etc/udhcpc.script", Self.dhcpScript)],
            tree: tree, order: order, what: "the NFS root")
        let r = ModulesInitramfs.report(tree, order: order, builtIn: builtIn, absent: absent)
        return (m, r)
    }

    /// A module's ELF identity (class, byte order, e_machine): relocatable files have no program
    /// headers for ``ELFFile/read(_:)`` to read.
    static func moduleHeader(_ path: String) throws -> ELFFile {
        let h = try FileIO.read(path, offset: 0, count: min(20, try FileIO.size(of: path)))
        guard h.count == 20, ELFFile.isELF(h), h[4] == 1 || h[4] == 2, h[5] == 1 || h[5] == 2 else {
            throw Failure(path: path, message: "expected an ELF kernel module, found something else")
        }
        let order: ByteOrder = h[5] == 1 ? .little : .big
        let machine = order == .little ? UInt16(h[18]) | UInt16(h[19]) << 8 : UInt16(h[18]) << 8 | UInt16(h[19])
        return ELFFile(path: path, elfClass: h[4] == 2 ? .elf64 : .elf32, byteOrder: order, machine: machine, type: 1, interpreter: nil, needed: [], rpath: [], runpath: [], soname: nil)
    }

    /// Writes the initramfs to `path` (newc cpio, `compression`).
    public func write(to path: String, compression: ArchiveCompression = .gzip, sourceDateEpoch: Int64) throws -> Report {
        let (m, r) = try manifest(sourceDateEpoch: sourceDateEpoch)
        return try ModulesInitramfs.write(m, report: r, to: path, compression: compression)
    }

    /// `/init` for a kernel `release` that loads `modules` (paths in its modules folder, in order)
    /// and waits `mountTimeout` seconds at most for the NFS mount.
    public static func initScript(release: String, modules: [String], mountTimeout: Int) -> String {
        initTemplate.replacing("@RELEASE@", with: release).replacing("@MODULES@", with: modules.joined(separator: " "))
            .replacing("@TIMEOUT@", with: String(mountTimeout))
    }

    static let initTemplate = #"""
#!/bin/sh
# /init of a Flashsmith NFS-root initramfs (flashsmith build, boot: nfs).
#
# Does what a kernel with CONFIG_ROOT_NFS and CONFIG_IP_PNP does by itself, from the same kernel
# arguments: root=/dev/nfs nfsroot=[SERVER:]PATH[,OPTIONS] ip=dhcp|CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF.
# Mounts proc, sysfs and devtmpfs; loads the NIC and NFS modules; brings the interface up
# (static, or DHCP with udhcpc); mounts the root with nolock (NFSv3 over TCP unless OPTIONS say
# otherwise; read-only unless rw); moves /dev there and switch_roots to init= (default /sbin/init).
# Any failure: one line saying what failed, then power off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
modules_dir=/lib/modules/@RELEASE@
modules="@MODULES@"
mount_timeout=@TIMEOUT@

fail() {
	echo "flashsmith-nfsroot: $*; powering off"
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

# parse_cmdline LINE: root, nfsroot, ip, init and access (ro|rw) from the kernel command line.
parse_cmdline() {
	root= nfsroot= ip= init=/sbin/init access=ro
	set -f
	# shellcheck disable=SC2086
	set -- $1
	set +f
	for _arg; do
		case $_arg in
		root=*) root=${_arg#root=} ;;
		nfsroot=*) nfsroot=${_arg#nfsroot=} ;;
		ip=* | nfsaddrs=*) ip=${_arg#*=} ;;
		init=*) init=${_arg#init=} ;;
		ro) access=ro ;;
		rw) access=rw ;;
		esac
	done
}

# parse_ip IP: client, server, gw, mask, host, dev and autoconf (static|dhcp) from ip=
# (CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF, any field empty; or dhcp, on, any… alone).
parse_ip() {
	_ip=$1
	client= server= gw= mask= host= dev= autoconf=
	case $1 in
	'' | dhcp | on | any | both | bootp | rarp)
		autoconf=dhcp
		return 0
		;;
	off | none) fail "ip=$1: the NFS root needs the network" ;;
	esac
	_ifs=$IFS
	IFS=:
	set -f
	# shellcheck disable=SC2086
	set -- $1
	set +f
	IFS=$_ifs
	client=$1 server=$2 gw=$3 mask=$4 host=$5 dev=$6 autoconf=$7
	case $autoconf in
	'' | off | none | static)
		[ -n "$client" ] || fail "ip=$_ip: no client address, and autoconf is '${autoconf:-off}'"
		autoconf=static
		;;
	dhcp | on | any | both | bootp | rarp) autoconf=dhcp ;;
	*) fail "ip=$_ip: autoconf '$autoconf': expected off, none, dhcp, on or any" ;;
	esac
}

# parse_nfsroot NFSROOT: server (kept when NFSROOT names none), path (%s: the client's address)
# and opts (vers=3 and proto=tcp unless given; mountproto as proto for v3) from
# [SERVER:]PATH[,OPTIONS].
parse_nfsroot() {
	_spec=${1%%,*}
	opts=
	case $1 in
	*,*) opts=${1#*,} ;;
	esac
	case $_spec in
	*:*)
		server=${_spec%%:*}
		path=${_spec#*:}
		;;
	*) path=$_spec ;;
	esac
	[ -n "$server" ] || fail "nfsroot=$1: no server (give SERVER:PATH, or the server in ip=)"
	[ -n "$path" ] || fail "nfsroot=$1: no path"
	path=$(printf '%s\n' "$path" | sed "s/%s/$client/g")
	_vers= _proto= _mountproto=
	_ifs=$IFS
	IFS=,
	set -f
	for _o in $opts; do
		case $_o in
		v2 | v3 | v4 | v4.* | vers=* | nfsvers=*) _vers=${_o#*=} ;;
		tcp | udp | rdma | proto=*) _proto=${_o#proto=} ;;
		mountproto=*) _mountproto=$_o ;;
		esac
	done
	set +f
	IFS=$_ifs
	[ -n "$_vers" ] || { _vers=3 && opts="vers=3${opts:+,$opts}"; }
	[ -n "$_proto" ] || { _proto=tcp && opts="$opts,proto=tcp"; }
	case $_vers in
	v3 | 3) [ -n "$_mountproto" ] || opts="$opts,mountproto=$_proto" ;;
	esac
}

# find_interface: dev, else the first interface that is not lo (its driver may still be probing).
find_interface() {
	_tries=0
	while :; do
		if [ -n "$dev" ]; then
			[ -e "/sys/class/net/$dev" ] && return 0
		else
			for _n in /sys/class/net/*; do
				_n=${_n##*/}
				if [ "$_n" != lo ] && [ "$_n" != '*' ]; then
					dev=$_n
					return 0
				fi
			done
		fi
		_tries=$((_tries + 1))
		[ $_tries -le 100 ] || fail "no network interface${dev:+ $dev} after 10 s (modules:${modules:- none})"
		sleep 0.1
	done
}

# Sourced by a test (not as PID 1) with NFSROOT_INIT_FUNCTIONS set: the functions only.
if [ $$ -ne 1 ] && [ -n "${NFSROOT_INIT_FUNCTIONS:-}" ]; then
	return 0
fi

must "cannot mount proc" mount -t proc -o nosuid,nodev,noexec proc /proc
must "cannot mount sysfs" mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
must "cannot mount devtmpfs on /dev (CONFIG_DEVTMPFS)" mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
cmdline=
read -r cmdline </proc/cmdline
parse_cmdline "$cmdline"
case $root in
'' | /dev/nfs) ;;
*) fail "root=$root: this initramfs mounts an NFS root only (root=/dev/nfs)" ;;
esac
for m in $modules; do
	must "cannot load module $m" insmod "$modules_dir/$m"
done
parse_ip "$ip"
find_interface
ifconfig lo 127.0.0.1 netmask 255.0.0.0 up 2>/dev/null
must "cannot bring $dev up" ifconfig "$dev" up
[ -z "$host" ] || hostname "$host"
rootpath=
if [ "$autoconf" = dhcp ]; then
	mkdir -p /run/dhcp
	must "no DHCP lease on $dev" udhcpc -i "$dev" -f -q -n -t 5 -T 2 -O rootpath -s /etc/udhcpc.script
	for _v in client server gw rootpath; do
		[ ! -r "/run/dhcp/$_v" ] || read -r "$_v" <"/run/dhcp/$_v"
	done
elif [ -n "$mask" ]; then
	must "cannot set $dev to $client/$mask" ifconfig "$dev" "$client" netmask "$mask" up
else
	must "cannot set $dev to $client" ifconfig "$dev" "$client" up
fi
if [ "$autoconf" = static ] && [ -n "$gw" ]; then
	must "cannot route via $gw" route add default gw "$gw" dev "$dev"
fi
# Without nfsroot=, the root path DHCP gave.
[ -n "$nfsroot" ] || nfsroot=$rootpath
[ -n "$nfsroot" ] || fail "no nfsroot= on the kernel command line (and no root path from DHCP)"
parse_nfsroot "$nfsroot"
mkdir -p /newroot
must "cannot mount $server:$path (nfs $access,nolock,$opts)" \
	timeout -s KILL "$mount_timeout" mount -t nfs -o "$access,nolock,addr=$server,$opts" "$server:$path" /newroot
echo "flashsmith-nfsroot: / is $server:$path (nfs $access,nolock,$opts) on $dev ${client:-dhcp}"
[ -e "/newroot$init" ] || [ -L "/newroot$init" ] || fail "no $init in $server:$path"
[ -d /newroot/dev ] || fail "no /dev in $server:$path"
must "cannot move /dev to the NFS root" mount --move /dev /newroot/dev
umount /sys 2>/dev/null
umount /proc 2>/dev/null
exec switch_root /newroot "$init" "$@"

"""#

    /// udhcpc's script (`udhcpc -s`): the lease onto the interface, its values into /run/dhcp for /init.
    public static let dhcpScript = #"""
#!/bin/sh
# udhcpc's script in the NFS-root initramfs: the lease goes onto the interface and into /run/dhcp.
case $1 in
deconfig)
	ifconfig "$interface" 0.0.0.0 up
	;;
bound | renew)
	ifconfig "$interface" "$ip" ${subnet:+netmask "$subnet"} up
	for r in $router; do
		route add default gw "$r" dev "$interface"
		printf '%s\n' "$r" >/run/dhcp/gw
		break
	done
	printf '%s\n' "$ip" >/run/dhcp/client
	server=${siaddr:-$serverid}
	[ "$server" = 0.0.0.0 ] && server=$serverid
	[ -z "$server" ] || printf '%s\n' "$server" >/run/dhcp/server
	[ -z "$rootpath" ] || printf '%s\n' "$rootpath" >/run/dhcp/rootpath
	;;
esac
exit 0

"""#
}

# /etc/profile.d/nfs-dev.sh: sourced by /etc/profile (nfs-dev skeleton).

alias ll='ls -l'
alias la='ls -la'
alias mounts='cat /proc/mounts'

# On login, where the root filesystem comes from: /run/nfs-root as S00nfs-dev found it at
# boot, else the source of the NFS mount on / in /proc/mounts.
case $- in
*i*)
	_nfsdev_src=
	if [ -r /run/nfs-root ]; then
		read -r _nfsdev_src </run/nfs-root
	elif [ -r /proc/mounts ]; then
		while read -r _nfsdev_dev _nfsdev_dir _nfsdev_type _nfsdev_rest; do
			[ "$_nfsdev_dir" = / ] || continue
			case $_nfsdev_type in
			nfs | nfs4) _nfsdev_src=$_nfsdev_dev ;;
			*) _nfsdev_src= ;;
			esac
		done </proc/mounts
	fi
	if [ -n "$_nfsdev_src" ]; then
		echo "NFS root from $_nfsdev_src"
	else
		echo "nfs-dev: / is not mounted over NFS"
	fi
	unset _nfsdev_src _nfsdev_dev _nfsdev_dir _nfsdev_type _nfsdev_rest
	;;
esac

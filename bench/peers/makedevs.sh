#!/bin/sh
# makedevs.sh ROOT TABLE...: Buildroot's device table (name type mode uid gid major minor start inc
# count) applied with mkdir/mknod/chmod/chown, as a peer script does it under fakeroot (Debian ships
# no makedevs).
root=$1; shift
for table in "$@"; do
  awk -v root="$root" '
    /^[ \t]*(#|$)/ { next }
    {
      name=$1; type=$2; mode=$3; uid=$4; gid=$5; maj=$6; min=$7; start=$8; inc=$9; count=$10
      n = (count == "-" || count == "" || count == 0) ? 1 : count
      for (i = 0; i < n; i++) {
        p = root name; mi = min
        if (n > 1 || (count != "-" && count != "")) { p = p (start + i * inc); mi = min + i * inc }
        if (type == "d") printf "mkdir -p \"%s\"\n", p
        else if (type == "c" || type == "b") printf "rm -f \"%s\"; mknod \"%s\" %s %s %s\n", p, p, type, maj, mi
        else if (type == "p") printf "rm -f \"%s\"; mkfifo \"%s\"\n", p, p
        else if (type == "f") printf "[ -e \"%s\" ] || : > \"%s\"\n", p, p
        printf "chown %s:%s \"%s\" && chmod %s \"%s\"\n", uid, gid, p, mode, p
      }
    }' "$table"
done | sh -e

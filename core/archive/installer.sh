#!/bin/sh
# @NAME@: a conda environment packed by @CREATOR@ (@SUBDIR@), installed with this host's
# sh, df, tail and tar, and relocated by the environment's own Python.
# Usage: sh THIS-FILE TARGET | --list | --help
set -u
size_kib=@SIZE_KIB@
offset=@OFFSET@
arch=@ARCH@
room=@ROOM@
self=$0

say() { printf '%s\n' "$*"; }
die() { printf '%s: %s\n' "$self" "$*" >&2; exit 1; }
payload() { tail -c +"$offset" "$self"; }

usage() {
    say "Install the conda environment @NAME@ (@SUBDIR@, about $((size_kib / 1024)) MiB)."
    say "usage: sh $self TARGET   install into TARGET (a new or empty directory)"
    say "       sh $self --list   list the files it holds"
}
case ${1:-} in
-h | --help) usage; exit 0 ;;
"") usage >&2; exit 2 ;;
--list) payload | tar -tzf -; exit ;;
-*) die "unknown option $1; see sh $self --help" ;;
esac
[ $# -eq 1 ] || die "give one TARGET directory; see sh $self --help"

case $1 in
/*) target=$1 ;;
*) target=$(pwd)/$1 ;;
esac
while :; do case $target in */) target=${target%/} ;; *) break ;; esac; done
[ -n "$target" ] || die "/: choose a directory of its own"

if [ -n "$arch" ] && [ "$(uname -m)" != "$arch" ]; then
    die "this environment is for $arch, and this machine is $(uname -m)"
fi
if [ "$room" -gt 0 ] && [ ${#target} -gt "$room" ]; then
    die "$target: is ${#target} characters long; its binaries take a path of at most $room"
fi
if [ -e "$target" ] || [ -L "$target" ]; then
    [ -d "$target" ] || die "$target: exists and is not a directory; choose another TARGET"
    [ -z "$(ls -A "$target")" ] || die "$target: is not empty; choose a new or empty directory"
fi
top=$target  # the first directory this script makes: removed whole if it fails
while [ ! -e "$(dirname "$top")" ]; do top=$(dirname "$top"); done
[ -d "$(dirname "$top")" ] || die "$(dirname "$top"): is not a directory"
free_kib=$(df -Pk "$(dirname "$top")" | awk 'NR == 2 { print $4 }')
if [ -n "$free_kib" ] && [ "$free_kib" -lt "$size_kib" ]; then
    die "$target: needs $((size_kib / 1024)) MiB but $((free_kib / 1024)) MiB are free there"
fi

existed=
[ -d "$target" ] && existed=1
undo() {  # back to how it was: no TARGET, or an empty one
    if [ -n "$existed" ]; then
        (cd "$target" && rm -rf -- * .[!.]* ..?*)
    else
        rm -rf -- "$top"
    fi
}
trap 'undo; exit 130' INT TERM HUP
mkdir -p "$target" 2>/dev/null || { undo; die "$target: cannot create it"; }
if ! payload | tar -xzf - -C "$target"; then
    undo
    die "$target: extracting failed (see above); nothing was left behind"
fi
if [ -x "$target/bin/python" ]; then
    "$target/bin/python" "$target/bin/conda-unpack" -q
else
    sh "$target/bin/conda-unpack" -q
fi || { undo; die "$target: relocating failed (see above); nothing was left behind"; }
trap - INT TERM HUP
say "Installed @NAME@ in $target"
say "Activate it with:  . \"$target/bin/activate\""
exit 0

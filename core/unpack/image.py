"""What ships inside a squashfs image: bin/cpk-run and activation that link, never relocate.

An image is read-only: its files hold, from pack time, the prefix written in
conda-meta/conda-package/prefix (a mount point, or a short fixed path such as
/tmp/cpk-0123456789ab). bin/cpk-run makes that path a symbolic link to wherever the image
is mounted, when the path is free or the link already belongs to the user (or to root), and
then runs the command; bin/activate and bin/activate.fish do the same through it.
"""

from __future__ import annotations

from .activate import activate_scripts

IMAGE_ID_NAME = "image-id"  # conda-meta/conda-package/image-id: which image this is
NEEDS_LINK_NAME = "needs-link"  # the files that name the fixed path: they need the link

_CPK_RUN = r"""#!/bin/sh
# Run a command from this squashfs image, wherever it is mounted and by whoever:
#   /path/to/mount/bin/cpk-run python -c 'import sys; print(sys.prefix)'
#   /path/to/mount/bin/cpk-run --link      only make the link (bin/activate runs this)
# Some files of the image name the fixed path in conda-meta/conda-package/prefix. This makes
# that path a symbolic link to the mount when it is free, or already yours (or root's) and
# leading to this image; a link of another user is never trusted or followed. Without the
# link, Python, pip and the libraries still work; the files in
# conda-meta/conda-package/needs-link do not find their data.
here=$(CDPATH='' cd -P -- "$(dirname -- "$0")/.." && pwd -P) || exit 1
state=$here/conda-meta/conda-package
baked=$(cat "$state/prefix") || exit 1
image=$(cat "$state/image-id") || exit 1
me=$(id -u)

ours() {
    # $1 leads to a mount of this very image (the same content: any mount of it will do).
    [ "$(cat "$1/conda-meta/conda-package/image-id" 2>/dev/null)" = "$image" ]
}

point_here() {
    # Replace a link we may replace, atomically: other shells may be using it.
    ln -s "$here" "$baked.cpk-$$" 2>/dev/null &&
        mv -f -T "$baked.cpk-$$" "$baked" 2>/dev/null && return 0
    rm -f "$baked.cpk-$$"
    return 1
}

blocked() {
    count=$(wc -l <"$state/needs-link" 2>/dev/null) || count="the"
    echo "cpk-run: $baked $1, so it cannot lead to this image at $here;" \
        "$count files that name that path (conda-meta/conda-package/needs-link) will not" \
        "find their data. Python, pip and the libraries still work. Fix: $2" >&2
    return 1
}

link() {
    [ "$here" = "$baked" ] && return 0 # mounted at the fixed path itself
    if [ -L "$baked" ]; then
        owner=$(stat -c %u -- "$baked") || return 1
        if [ "$owner" = "$me" ] || [ "$owner" = 0 ]; then
            ours "$baked" && return 0 # this mount or another mount of the same image
        fi
        if [ "$owner" = "$me" ] || [ "$me" = 0 ]; then
            point_here && return 0
        fi
        name=$(id -nu "$owner" 2>/dev/null) || name="uid $owner"
        blocked "is a link of user $name" \
            "ask $name to remove it (it is theirs), or mount the image at $baked"
        return 1
    fi
    if [ -e "$baked" ]; then
        blocked "exists and is not a link" \
            "use the image mounted at $baked, or remove what is there"
        return 1
    fi
    ln -s "$here" "$baked" 2>/dev/null && return 0
    # Made meanwhile by another shell of ours, or not ours to make.
    if [ -L "$baked" ] && [ "$(stat -c %u -- "$baked")" = "$me" ] && ours "$baked"; then
        return 0
    fi
    blocked "cannot be made" "mount the image at $baked, or repack it with --relocate-prefix"
}

if [ "${1:-}" = "--link" ]; then
    link
    exit
fi
if [ $# = 0 ]; then
    echo "usage: $0 COMMAND [ARGUMENTS...]   (or --link)" >&2
    exit 2
fi
link || :
PATH=$here/bin:$PATH
export PATH
exec "$@"
"""

_SH_RELOCATE = r"""    if [ "$_conda_package_s" != "$_conda_package_p" ]; then
        # Through sh: unzip tools may have dropped the executable bit.
        /bin/sh "$_conda_package_p/bin/conda-unpack" --prefix "$_conda_package_p" -q || return 1
        # What the archive was called (--pkg-name/--pkg-version/--pkg-build), if it says.
        _conda_package_v=$(cat "$_conda_package_p/conda-meta/conda-package/label" 2>/dev/null) ||
            _conda_package_v=
        echo "conda-package: relocated environment${_conda_package_v:+ $_conda_package_v}" \
            "to $_conda_package_p" >&2
    fi
"""
_SH_LINK = r"""    # A read-only image: nothing to relocate; its fixed path links here if it can.
    /bin/sh "$_conda_package_p/bin/cpk-run" --link || :
"""
_FISH_RELOCATE = r"""    if test "$state" != "$prefix"
        # Through sh: unzip tools may have dropped the executable bit.
        /bin/sh $prefix/bin/conda-unpack --prefix $prefix -q; or return 1
        set -l label (cat $prefix/conda-meta/conda-package/label 2>/dev/null)
        test -n "$label"; and set label " $label"
        echo "conda-package: relocated environment$label to $prefix" >&2
    end
"""
_FISH_LINK = r"""    # A read-only image: nothing to relocate; its fixed path links here if it can.
    /bin/sh $prefix/bin/cpk-run --link
"""


def image_scripts() -> dict[str, tuple[str, int]]:
    """Archive path -> (text, permission bits) of what an image ships instead of relocating."""
    scripts = activate_scripts()
    for name, old, new in (
        ("bin/activate", _SH_RELOCATE, _SH_LINK),
        ("bin/activate.fish", _FISH_RELOCATE, _FISH_LINK),
    ):
        if old not in scripts[name]:  # activate.py changed: this must follow it
            raise AssertionError(f"{name}: the relocation step to replace is not there")
        scripts[name] = scripts[name].replace(old, new)
    return {"bin/cpk-run": (_CPK_RUN, 0o755)} | {n: (t, 0o644) for n, t in scripts.items()}

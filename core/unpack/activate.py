"""bin/activate, bin/deactivate and bin/activate.fish for packed environments.

They work without conda: each finds its own environment, runs bin/conda-unpack once when the
environment has moved since it was last relocated, then activates it the way conda does. The
texts are static (they find the prefix at run time), so one archive works wherever unpacked.
"""

from __future__ import annotations

# Shared by bin/activate (whose `deactivate` calls it) and bin/deactivate. POSIX sh for dash;
# zsh-only syntax stays inside eval so other shells never parse it.
_SH_HELPERS = r"""
_conda_package_source_dir() {
    # conda runs every *.sh in etc/conda/{activate,deactivate}.d, sourced.
    if [ -n "${ZSH_VERSION:-}" ]; then
        # (N): zsh would abort on a glob that matches nothing.
        eval 'for _conda_package_f in "$1"/*.sh(N); do . "$_conda_package_f"; done'
    else
        for _conda_package_f in "$1"/*.sh; do
            if [ -f "$_conda_package_f" ]; then
                . "$_conda_package_f"
            fi
        done
    fi
    unset _conda_package_f
}

_conda_package_deactivate() {
    if [ -z "${_CONDA_PACKAGE_PREFIX:-}" ]; then
        return 0
    fi
    _conda_package_source_dir "$_CONDA_PACKAGE_PREFIX/etc/conda/deactivate.d"
    if [ -n "${PS1+x}" ]; then
        PS1=${PS1#"(${_CONDA_PACKAGE_PREFIX##*/}) "}
    fi
    if [ -n "${_CONDA_PACKAGE_OLD_PATH+x}" ]; then
        PATH=$_CONDA_PACKAGE_OLD_PATH
        export PATH
        unset _CONDA_PACKAGE_OLD_PATH
    fi
    for _conda_package_v in CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER; do
        if eval "[ -n \"\${_CONDA_PACKAGE_OLD_$_conda_package_v+x}\" ]"; then
            eval "$_conda_package_v=\$_CONDA_PACKAGE_OLD_$_conda_package_v"
            export "$_conda_package_v"
            unset "_CONDA_PACKAGE_OLD_$_conda_package_v"
        else
            unset "$_conda_package_v"
        fi
    done
    unset _conda_package_v _CONDA_PACKAGE_PREFIX
    unset -f deactivate 2>/dev/null
    hash -r 2>/dev/null
    return 0
}
"""

_ACTIVATE_SH = (
    r"""# Use this environment in bash, zsh or dash:  . /path/to/env/bin/activate
# On first use after the environment was unpacked or moved it runs bin/conda-unpack once.
# Leave with `deactivate`.

if [ -n "${BASH_VERSION:-}" ] && [ "${BASH_SOURCE:-}" = "$0" ]; then
    echo "conda-package: source this file instead of running it: . $0" >&2
    exit 1
fi
case ${ZSH_EVAL_CONTEXT:-} in
toplevel)
    echo "conda-package: source this file instead of running it: . $0" >&2
    exit 1
    ;;
esac
"""
    + _SH_HELPERS
    + r"""
_conda_package_script() {
    # Prints the path of this file as sourced.
    if [ -n "${BASH_VERSION:-}" ]; then
        printf '%s' "$BASH_SOURCE"
        return 0
    fi
    if [ -n "${ZSH_VERSION:-}" ]; then
        eval 'printf "%s" "${(%):-%x}"'
        return 0
    fi
    # dash cannot tell, but on Linux it holds the file open: take the newest descriptor on a
    # file named activate (conda-package-activate beside conda's own) inside an environment.
    _conda_package_fd=-1
    _conda_package_found=
    for _conda_package_link in /proc/$$/fd/*; do
        _conda_package_n=${_conda_package_link##*/}
        case $_conda_package_n in
        '' | *[!0-9]*) continue ;;
        esac
        _conda_package_t=$(readlink "$_conda_package_link" 2>/dev/null) || continue
        case $_conda_package_t in
        */bin/activate | */bin/conda-package-activate)
            if [ "$_conda_package_n" -gt "$_conda_package_fd" ] &&
                [ -d "${_conda_package_t%/bin/*}/conda-meta" ]; then
                _conda_package_fd=$_conda_package_n
                _conda_package_found=$_conda_package_t
            fi
            ;;
        esac
    done
    if [ -n "$_conda_package_found" ]; then
        printf '%s' "$_conda_package_found"
    elif [ -f "$PWD/bin/activate" ]; then
        printf '%s' "$PWD/bin/activate"
    elif [ -f "$PWD/activate" ]; then
        printf '%s' "$PWD/activate"
    else
        return 1
    fi
}

_conda_package_activate() {
    _conda_package_p=$(_conda_package_script) || _conda_package_p=
    if [ -z "$_conda_package_p" ]; then
        echo "conda-package: cannot tell where this activate script is; source it from bash" \
            "or zsh, or from the environment's directory (cd /path/to/env && . bin/activate)" >&2
        return 1
    fi
    # The physical path: conda-unpack and the state file both use it.
    _conda_package_p=$(CDPATH='' cd -P -- "$(dirname -- "$_conda_package_p")/.." && pwd -P) ||
        return 1
    _conda_package_s=
    if [ -f "$_conda_package_p/conda-meta/conda-package/prefix" ]; then
        _conda_package_s=$(cat "$_conda_package_p/conda-meta/conda-package/prefix")
    fi
    if [ "$_conda_package_s" != "$_conda_package_p" ]; then
        # Through sh: unzip tools may have dropped the executable bit.
        /bin/sh "$_conda_package_p/bin/conda-unpack" --prefix "$_conda_package_p" -q || return 1
        # What the archive was called (--pkg-name/--pkg-version/--pkg-build), if it says.
        _conda_package_v=$(cat "$_conda_package_p/conda-meta/conda-package/label" 2>/dev/null) ||
            _conda_package_v=
        echo "conda-package: relocated environment${_conda_package_v:+ $_conda_package_v}" \
            "to $_conda_package_p" >&2
    fi
    # Activating again (the same or another environment) must not stack PATH entries.
    _conda_package_deactivate
    _CONDA_PACKAGE_OLD_PATH=$PATH
    export _CONDA_PACKAGE_OLD_PATH
    for _conda_package_v in CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER; do
        if eval "[ -n \"\${$_conda_package_v+x}\" ]"; then
            eval "_CONDA_PACKAGE_OLD_$_conda_package_v=\$$_conda_package_v"
            export "_CONDA_PACKAGE_OLD_$_conda_package_v"
        fi
    done
    _CONDA_PACKAGE_PREFIX=$_conda_package_p
    CONDA_PREFIX=$_conda_package_p
    CONDA_DEFAULT_ENV=${_conda_package_p##*/}
    CONDA_PROMPT_MODIFIER="($CONDA_DEFAULT_ENV) "
    PATH=$_conda_package_p/bin:$PATH
    export _CONDA_PACKAGE_PREFIX CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER PATH
    if [ -n "${PS1+x}" ]; then
        PS1=$CONDA_PROMPT_MODIFIER$PS1
    fi
    unset _conda_package_p _conda_package_s _conda_package_v
    _conda_package_source_dir "$CONDA_PREFIX/etc/conda/activate.d"
    hash -r 2>/dev/null
    return 0
}

if _conda_package_activate; then
    unset -f _conda_package_activate _conda_package_script
    deactivate() {
        _conda_package_deactivate
    }
else
    unset -f _conda_package_activate _conda_package_script
    unset _conda_package_p _conda_package_s
    return 1
fi
"""
)

_DEACTIVATE_SH = (
    r"""# Leave the environment bin/activate entered:  . /path/to/env/bin/deactivate
"""
    + _SH_HELPERS
    + r"""
_conda_package_deactivate
"""
)

_ACTIVATE_FISH = r"""# Use this environment in fish:  source /path/to/env/bin/activate.fish
# On first use after the environment was unpacked or moved it runs bin/conda-unpack once.
# Leave with `deactivate`.

function __conda_package_source_dir --argument-names dir
    # conda runs every *.fish in etc/conda/{activate,deactivate}.d, sourced.
    for f in $dir/*.fish
        source $f
    end
end

function __conda_package_return --argument-names code
    return $code
end

function __conda_package_deactivate
    set -q _CONDA_PACKAGE_PREFIX; or return 0
    __conda_package_source_dir $_CONDA_PACKAGE_PREFIX/etc/conda/deactivate.d
    if set -q _CONDA_PACKAGE_OLD_PATH
        set -gx PATH $_CONDA_PACKAGE_OLD_PATH
        set -e _CONDA_PACKAGE_OLD_PATH
    end
    for var in CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER
        set -l old _CONDA_PACKAGE_OLD_$var
        if set -q $old
            set -gx $var $$old
            set -e $old
        else
            set -e $var
        end
    end
    if functions -q __conda_package_fish_prompt
        functions -e fish_prompt
        functions -c __conda_package_fish_prompt fish_prompt
        functions -e __conda_package_fish_prompt
    end
    set -e _CONDA_PACKAGE_PREFIX
    functions -e deactivate
    return 0
end

function __conda_package_activate --argument-names script
    set -l prefix (builtin realpath (dirname $script)/..)
    or return 1
    set -l state
    if test -f $prefix/conda-meta/conda-package/prefix
        set state (cat $prefix/conda-meta/conda-package/prefix)
    end
    if test "$state" != "$prefix"
        # Through sh: unzip tools may have dropped the executable bit.
        /bin/sh $prefix/bin/conda-unpack --prefix $prefix -q; or return 1
        set -l label (cat $prefix/conda-meta/conda-package/label 2>/dev/null)
        test -n "$label"; and set label " $label"
        echo "conda-package: relocated environment$label to $prefix" >&2
    end
    # Activating again (the same or another environment) must not stack PATH entries.
    __conda_package_deactivate
    set -gx _CONDA_PACKAGE_OLD_PATH $PATH
    for var in CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER
        if set -q $var
            set -gx _CONDA_PACKAGE_OLD_$var $$var
        end
    end
    set -gx _CONDA_PACKAGE_PREFIX $prefix
    set -gx CONDA_PREFIX $prefix
    set -gx CONDA_DEFAULT_ENV (string replace -r '.*/' '' -- $prefix)
    set -gx CONDA_PROMPT_MODIFIER "($CONDA_DEFAULT_ENV) "
    set -gx PATH $prefix/bin $PATH
    if functions -q fish_prompt
        functions -c fish_prompt __conda_package_fish_prompt
        function fish_prompt
            set -l last_status $status
            printf '%s' $CONDA_PROMPT_MODIFIER
            __conda_package_return $last_status  # the original prompt may show it
            __conda_package_fish_prompt
        end
    end
    __conda_package_source_dir $prefix/etc/conda/activate.d
    function deactivate --description 'Leave the conda-package environment'
        __conda_package_deactivate
    end
    return 0
end

__conda_package_activate (status --current-filename)
set -l __conda_package_status $status
functions -e __conda_package_activate
test $__conda_package_status -eq 0
"""


def activate_scripts() -> dict[str, str]:
    """The activation scripts the packer writes into every archive, by archive path."""
    return {
        "bin/activate": _ACTIVATE_SH,
        "bin/deactivate": _DEACTIVATE_SH,
        "bin/activate.fish": _ACTIVATE_FISH,
    }

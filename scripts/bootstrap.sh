#!/usr/bin/env bash
# Prepares a fresh Debian machine (or an existing checkout) to run witengine:
# system packages when missing, a virtual environment in .venv, and the package itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
want_bpy=""
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
for pkg in "$@"; do
    case "$pkg" in
        blender) command -v blender >/dev/null || need_apt+=(blender) ;;
        ffmpeg) command -v ffmpeg >/dev/null || need_apt+=(ffmpeg) ;;
        chromium) command -v chromium >/dev/null || need_apt+=(chromium) ;;
        xvfb) command -v Xvfb >/dev/null || need_apt+=(xvfb) ;;
        dbus-daemon) command -v dbus-daemon >/dev/null || need_apt+=(dbus-daemon) ;;
        bpy) want_bpy=1 ;;  # Blender 4.5 as a Python module, in .venv-bpy (below)
        postgresql) command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' \
            >/dev/null || need_apt+=(postgresql) ;;
        *) need_apt+=("$pkg") ;;
    esac
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bootstrap: installing system packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"witengine needs Python 3.11 or newer; this is {sys.version.split()[0]}")
PY

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev,bench,postgresql]'
    touch "$stamp"
fi

# Blender 4.5 LTS as a Python module (PyPI's bpy, a 350 MB wheel that pins its own numpy), in a
# virtual environment of its own: the add-on's tests run it beside Debian's Blender 3.4.
if [ -n "$want_bpy" ]; then
    bpy_stamp=.venv-bpy/.installed-4.5
    if ! python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        # PyPI's bpy 4.5 is built for CPython 3.11 only: its tests then skip, saying so.
        echo "bootstrap: Blender 4.5 (bpy) needs Python 3.11; not installed"
    elif [ ! -f "$bpy_stamp" ]; then
        [ -x .venv-bpy/bin/python ] || python3 -m venv .venv-bpy
        echo "bootstrap: installing Blender 4.5 (bpy) into .venv-bpy"
        .venv-bpy/bin/python -m pip install --quiet 'bpy==4.5.*'
        touch "$bpy_stamp"
    fi
fi

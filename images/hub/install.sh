#!/bin/sh
# Install jupyterhub-primehub's hub side into an image's Python:
#   install.sh /path/to/jupyterhub_primehub-<version>-py3-none-any.whl
#
# PrimeHubSpawner (primehub_spawner) and the primehub-jobs hub service, next to JupyterHub,
# KubeSpawner and the idle culler at the versions pinned in requirements.txt next to this script
# (those of the zero-to-jupyterhub 4.4.0 hub image, so installing into that image changes none of
# them).
#
# Run by images/hub/Dockerfile (on quay.io/jupyterhub/k8s-hub:4.4.0) and, for the local cluster,
# by `python -m localk8s images` in a Debian root file system (with PIP_NO_INDEX=1 and
# PIP_FIND_LINKS pointing at a wheelhouse made on the host), so both install the same thing.
# PYTHON picks the interpreter (default: python3 on PATH).
set -eu
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 WHEEL (one jupyterhub-primehub wheel file)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore

"$python" -m pip install --no-cache-dir \
    --constraint "$here/requirements.txt" \
    --requirement "$here/requirements.txt" \
    "$1"

# Fail the build, not the hub's start, when a piece is missing.
"$python" -c 'import primehub_spawner.spawner, primehub_spawner.jobs.app, jupyterhub_idle_culler'

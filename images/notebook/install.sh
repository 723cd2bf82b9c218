#!/bin/sh
# Install jupyterhub-primehub's notebook side into an image's Python:
#   install.sh /path/to/jupyterhub_primehub-<version>-py3-none-any.whl
#
# JupyterLab with the PrimeHub lab extension (prebuilt, in the wheel) and server extension
# (enabled by the wheel's etc/jupyter config), ipykernel, jupyterhub-singleuser, Jupyter Kernel
# Gateway and the notebook-job executor (python -m primehub_executor). Versions come
# from requirements.txt next to this script.
#
# Run by images/notebook/Dockerfile (on a Jupyter docker-stacks image) and, for the local cluster,
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
    "$1[kernel-gateway]"

# What the image is for: fail the build, not the first spawn, when a piece is missing.
"$python" -c 'import primehub_executor.run, kernel_gateway, ipykernel'
"$python" -m jupyter server extension list 2>&1 | grep -q 'jupyterlab_primehub.*enabled' || {
    echo "install.sh: the jupyterlab_primehub server extension is not enabled" >&2
    exit 1
}
"$python" -m jupyter labextension list 2>&1 | grep -q 'jupyterlab-primehub' || {
    echo "install.sh: the jupyterlab-primehub lab extension is not installed" >&2
    exit 1
}

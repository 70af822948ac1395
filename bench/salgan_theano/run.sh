#!/usr/bin/env bash
# The Theano comparison end to end (see README.md here). From the repository root:
#   bash bench/salgan_theano/run.sh SALGAN_GIT_DIR LASAGNE_GIT_DIR [IMAGES_DIR]
set -euo pipefail
salgan_git=${1:?usage: run.sh SALGAN_GIT_DIR LASAGNE_GIT_DIR [IMAGES_DIR]}
lasagne_git=${2:?usage: run.sh SALGAN_GIT_DIR LASAGNE_GIT_DIR [IMAGES_DIR]}
images=${3:-${SALGAN_DATA:-/work/shared/data}/osie/data/stimuli}
venv=${SALGAN_THEANO_VENV:-$HOME/.cache/salgan_tf/theano_venv}
workdir=${SALGAN_THEANO_WORKDIR:-/tmp/salgan_theano}
here=$(dirname "$0")
[ -x "$venv/bin/python" ] || bash "$here/setup_venv.sh" "$lasagne_git"
rm -rf "$workdir"
"$venv/bin/python" "$here/run_theirs.py" --repo="$salgan_git" --images="$images" --count=10 \
    --workdir="$workdir"
python "$here/compare.py" --workdir="$workdir"

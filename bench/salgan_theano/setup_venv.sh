#!/usr/bin/env bash
# Builds the virtualenv that runs the authors' Theano/Lasagne SalGAN code (see README.md here).
#   bash bench/salgan_theano/setup_venv.sh LASAGNE_GIT_DIR
# LASAGNE_GIT_DIR: a git clone/mirror of github.com/Lasagne/Lasagne (PyPI has only Lasagne 0.1,
# which lacks what the authors' code imports; their requirements.txt pins 0.2.dev1).
# Venv: $SALGAN_THEANO_VENV (default ~/.cache/salgan_tf/theano_venv).
set -euo pipefail
lasagne_git=${1:?usage: setup_venv.sh LASAGNE_GIT_DIR}
venv=${SALGAN_THEANO_VENV:-$HOME/.cache/salgan_tf/theano_venv}
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# Theano 1.0.5 (2020) still uses np.bool and friends, removed in numpy 1.24; 1.23.5 is the last
# numpy with Python 3.11 wheels that keeps them. scipy: Theano imports scipy.sparse.
"$venv/bin/pip" install -q "numpy==1.23.5" "scipy==1.10.1" "Theano==1.0.5" \
    "opencv-python-headless==4.8.0.76" six
src=$(mktemp -d)
git clone -q "$lasagne_git" "$src/Lasagne"
git -C "$src/Lasagne" log -1 --format='Lasagne revision %H %cd'
"$venv/bin/pip" install -q --no-deps "$src/Lasagne"
rm -rf "$src"
THEANO_FLAGS=blas.ldflags= "$venv/bin/python" -c "import numpy, theano, lasagne; print('numpy', numpy.__version__, 'theano', theano.__version__, 'lasagne', lasagne.__version__)"

#!/usr/bin/env bash
# tf_mlm.beam / `tf-mlm mask --runner` against the local command, on Apache
# Beam's DirectRunner (in-process and with two worker processes). apache-beam
# 2.77 needs protobuf < 7, so it goes into a venv of its own ($BEAM_VENV,
# default .beamvenv/, kept and reused while the pins below are unchanged) with
# TensorFlow, not into the project's environment. The tf_mlm of this checkout
# (its built op library and _core) is used from the source tree, on PYTHONPATH.
# TF_MLM_BEAM_TESTS=required makes a missing apache-beam an error rather than
# a skip.
#
#   tests/beam_job.sh [PYTEST ARGS...]
#
# About two minutes with the venv in place (a first install adds a few).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${BEAM_VENV:-$PWD/.beamvenv}

# Versions known to install together (tokenizers: the raw-text tests); pip
# resolves protobuf 6.33.6, numpy 2.4.6, pyarrow 25.0.1, grpcio 1.85.4 here.
pins=(
  tensorflow==2.21.0 apache-beam==2.77.0
  google-crc32c tqdm pytest hypothesis "tokenizers>=0.15"
)
stamp="$venv/.pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "beam job: creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "${pins[@]}"
  echo "${pins[*]}" > "$stamp"
fi

export TF_MLM_BEAM_TESTS=required
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$venv/bin/python" -c "import apache_beam, tensorflow, tf_mlm.beam" ||
  { echo "beam job: import apache_beam / tf_mlm.beam failed in $venv" >&2; exit 1; }
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_beam.py tf_mlm/beam.py "$@"

#!/usr/bin/env bash
# tf_mlm.t5 against t5 0.9.4 itself: installs t5, seqio and the pure-Python
# packages `import t5.data.preprocessors` needs into a target directory
# (pip --target --no-deps: no second TensorFlow, tensorflow-text or NumPy;
# those of the project's environment serve), then runs the T5 tests with it
# on PYTHONPATH, in the project's environment (the python on PATH, or
# $PYTHON). TF_MLM_T5_TESTS=required makes a missing t5 or seqio an error
# rather than a skip.
#
#   tests/t5_job.sh [PYTEST ARGS...]
#
# The directory ($T5_DEPS_DIR, default .t5deps/) is kept and reused while
# the pins below are unchanged. About a minute, most of it the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
dir=${T5_DEPS_DIR:-$PWD/.t5deps}

# Versions known to work with TensorFlow 2.21 / NumPy 2 here.
pins=(
  t5==0.9.4 seqio==0.0.20
  babel==2.19.0 cloudpickle==3.1.3 clu==0.0.12 colorama==0.4.6 docstring_parser==0.18.0
  editdistance==0.8.1 etils==1.15.0 flax==0.12.8 gin-config==0.5.0 immutabledict==4.3.1
  joblib==1.6.0 lxml==6.2.1 msgpack==1.2.4 narwhals==2.29.0 nltk==3.10.4
  portalocker==4.4.2 promise==2.3 pyglove==0.4.5 rouge_score==0.1.2 sacrebleu==2.6.0
  scikit-learn==1.9.1 tabulate==0.10.0 tensorflow-datasets==4.9.10
  tensorflow-metadata==1.21.0 threadpoolctl==3.8.0 toml==0.10.2
)
stamp="$dir/.pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "t5 job: installing ${#pins[@]} packages into $dir"
  rm -rf "$dir"
  "$python" -m pip install -q --no-deps --target "$dir" "${pins[@]}"
  echo "${pins[*]}" > "$stamp"
fi

export TF_MLM_T5_TESTS=required
export PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c "import t5.data.preprocessors, seqio" 2>/dev/null ||
  { echo "t5 job: import t5.data.preprocessors failed with $dir on PYTHONPATH" >&2; exit 1; }
exec "$python" -m pytest -q tests/test_t5.py tests/test_ul2.py tests/test_span_corruption.py tf_mlm/t5 \
  "tests/test_docs.py::test_snippets_run[docs/t5.md]" "$@"

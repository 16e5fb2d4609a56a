#!/usr/bin/env bash
# Builds tf_mlm against several TensorFlow releases and runs the test suite
# against each, from the same sources.
#
#   tests/tf_matrix.sh 2.17 2.18 2.19 2.20 2.21
#
# Per version: a virtualenv (kept under $TF_MATRIX_DIR, default
# .tf_matrix/, and reused), TensorFlow ==VERSION.*, the matching
# tensorflow-text when one exists (else the tests needing it skip with a
# reason), a copy of the working tree installed editable (so each version has
# its own op library), then pytest. Options via environment:
#   TF_MATRIX_PYTEST_ARGS   extra pytest arguments (default: -q)
#   TF_MATRIX_UPGRADE=1     after the suite, upgrade TensorFlow in that venv to
#                           the next version given and import tf_mlm again: it
#                           must rebuild its op library (no crash, no
#                           undefined symbol).
# Prints one summary line per version; exits non-zero if any version failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${TF_MATRIX_DIR:-$root/.tf_matrix}
python=${PYTHON:-python3}
mkdir -p "$base"
summary=()
status=0
versions=("$@")
[ ${#versions[@]} -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }

for i in "${!versions[@]}"; do
  v=${versions[$i]}
  venv=$base/venv-$v
  log=$base/$v.log
  echo "== TensorFlow $v ($log)"
  {
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip &&
    "$venv/bin/python" -m pip install -q "tensorflow==$v.*" pytest hypothesis scipy numpy \
      "tokenizers>=0.15" "sentencepiece>=0.2"
  } > "$log" 2>&1 || { summary+=("$v: INSTALL FAILED (see $log)"); status=1; continue; }
  if ! "$venv/bin/python" -m pip install -q "tensorflow-text==$v.*" >> "$log" 2>&1; then
    echo "no tensorflow-text for TensorFlow $v: its side-by-side tests skip" | tee -a "$log"
  fi
  src=$base/src-$v
  rm -rf "$src" && mkdir -p "$src"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src" 2>/dev/null)
  if ! "$venv/bin/python" -m pip install -q -e "$src" >> "$log" 2>&1; then
    summary+=("$v: BUILD FAILED (see $log)"); status=1; continue
  fi
  tfv=$("$venv/bin/python" -c "import tensorflow as tf; print(tf.__version__)" 2>/dev/null)
  # shellcheck disable=SC2086
  (cd "$src" && "$venv/bin/python" -m pytest ${TF_MATRIX_PYTEST_ARGS:--q} -p no:cacheprovider) >> "$log" 2>&1
  rc=$?
  line=$(grep -E "^(=+ )?[0-9]+ (passed|failed)|no tests ran" "$log" | tail -1 | sed 's/=//g')
  summary+=("$v (TensorFlow $tfv): ${line:-no summary} $( [ $rc -eq 0 ] || echo "[FAILED rc=$rc]")")
  [ $rc -eq 0 ] || status=1
  if [ "${TF_MATRIX_UPGRADE:-0}" = 1 ] && [ $((i + 1)) -lt ${#versions[@]} ]; then
    next=${versions[$((i + 1))]}
    echo "== upgrade TensorFlow $v -> $next under an installed tf_mlm" | tee -a "$log"
    "$venv/bin/python" -m pip install -q "tensorflow==$next.*" >> "$log" 2>&1
    out=$(cd "$src" && TF_MLM_CACHE_DIR="$base/cache-upgrade" "$venv/bin/python" -c \
      "import tensorflow as tf, tf_mlm; tf_mlm.mask_language_model(tf.ragged.constant([[1,2]]), tf_mlm.RandomItemSelector(2, 1.0), tf_mlm.MaskValuesChooser(5, 4)); print('upgrade ok', tf.__version__, tf_mlm.get_library_path())" 2>&1)
    echo "$out" >> "$log"
    if echo "$out" | grep -q "upgrade ok" && ! echo "$out" | grep -qi "undefined symbol"; then
      summary+=("upgrade $v -> $next: rebuilt, $(echo "$out" | grep 'upgrade ok')")
    else
      summary+=("upgrade $v -> $next: FAILED (see $log)"); status=1
    fi
    # restore the venv's own TensorFlow for a later run
    "$venv/bin/python" -m pip install -q "tensorflow==$v.*" >> "$log" 2>&1
  fi
done

echo
echo "TensorFlow matrix:"
printf '  %s\n' "${summary[@]}"
exit $status

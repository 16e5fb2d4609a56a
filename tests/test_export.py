"""SavedModel round trips: preprocessing that masks with tf_mlm, saved here,
loaded and run in fresh Python processes.

Every fresh process is started at once by one module fixture (they spend
most of their time importing TensorFlow), then each test checks its own.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

import tf_mlm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _export_child as child  # noqa: E402
import _subprocess_utils as spu  # noqa: E402

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

SCRIPT = str(spu.TESTS_DIR / "_export_child.py")
CHILD_TIMEOUT = 120
MAX_SELECTIONS = 4
MASK_TOKEN = 103
VOCAB = 1000
# Asked before anything is traced: when the op library is first loaded
# inside a tf.function, get_library_path() reports "None" (library bug).
LIBRARY_PATH = tf_mlm.get_library_path()


class Masker(tf.Module):
    """Masking preprocessing with its configuration baked into the graph:
    ragged and dense entry points, each also a serving signature."""

    def __init__(self):
        super().__init__()
        self._selector = tf_mlm.RandomItemSelector(
            max_selections_per_batch=MAX_SELECTIONS,
            selection_rate=0.5,
            unselectable_ids=[0, 101, 102],
        )
        self._chooser = tf_mlm.MaskValuesChooser(
            vocab_size=VOCAB, mask_token=MASK_TOKEN, mask_token_rate=0.8, random_token_rate=0.1
        )

    def _mask(self, ids, seed):
        masked, positions, labels = tf_mlm.mask_language_model(
            ids, self._selector, self._chooser, seed=seed
        )
        return {"masked_ids": masked, "positions": positions, "labels": labels}

    @tf.function(
        input_signature=[tf.RaggedTensorSpec([None, None], tf.int64), tf.TensorSpec([2], tf.int64)]
    )
    def mask_ragged(self, ids, seed):
        return self._mask(ids, seed)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([2], tf.int64)]
    )
    def mask_dense(self, ids, seed):
        out = self._mask(ids, seed)
        # Serving-friendly: selections padded to a fixed width, with weights.
        width = [None, MAX_SELECTIONS]
        return {
            "masked_ids": out["masked_ids"],
            "positions": out["positions"].to_tensor(shape=width),
            "labels": out["labels"].to_tensor(shape=width),
            "weights": tf.sequence_mask(
                out["positions"].row_lengths(), MAX_SELECTIONS, dtype=tf.float32
            ),
        }


def _reference(masker):
    """The outputs before saving, shaped as the child reports them."""
    ragged = tf.ragged.constant(child.RAGGED_INPUTS, dtype=tf.int64)
    dense = tf.constant(child.DENSE_INPUTS, dtype=tf.int32)
    out = []
    for seed in child.SEEDS:
        seed = tf.constant(seed, tf.int64)
        r, d = masker.mask_ragged(ragged, seed), masker.mask_dense(dense, seed)
        out.append({"ragged_fn": r, "dense_fn": d, "ragged_sig": r, "dense_sig": d})
    # Through JSON, as the child's outputs come.
    return json.loads(json.dumps(child.to_json(out)))


def _keras_model():
    import keras

    from tf_mlm.layers import MaskedLMMaskGenerator

    inputs = keras.Input(shape=(None,), dtype="int32")
    outputs = MaskedLMMaskGenerator(
        vocabulary_size=VOCAB,
        mask_selection_rate=0.5,
        mask_token_id=MASK_TOKEN,
        mask_selection_length=MAX_SELECTIONS,
        unselectable_token_ids=[0, 101, 102],
        seed=42,
    )(inputs)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Saves the models, then runs every child process concurrently.
    Yields {how: (child result, reference outputs)}."""
    root = tmp_path_factory.mktemp("export")
    masker = Masker()
    path = str(root / "masker")
    tf.saved_model.save(
        masker,
        path,
        signatures={"serving_default": masker.mask_dense, "mask_ragged": masker.mask_ragged},
    )
    reference = _reference(masker)
    jobs = {how: ([how, path], reference) for how in ("bare", "import", "import_and_register")}
    jobs["load_op_library"] = (["load_op_library", path, LIBRARY_PATH], reference)
    model = _keras_model()
    keras_path = str(root / "keras_masker")
    model.export(keras_path, format="tf_saved_model", verbose=False)
    keras_ref = model(tf.constant(child.DENSE_INPUTS, dtype=tf.int32))
    jobs["keras"] = (["keras", keras_path], json.loads(json.dumps(child.to_json(keras_ref))))
    procs = {}
    try:
        for how, (args, _) in jobs.items():
            procs[how] = subprocess.Popen(
                [spu.PYTHON, SCRIPT, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=spu.child_env(),
                cwd=str(root),
                start_new_session=True,
            )
        results = {}
        for how, proc in procs.items():
            out, err = proc.communicate(timeout=CHILD_TIMEOUT)
            try:
                result = spu.last_json_line(out)
            except AssertionError:
                result = {"crashed": f"exit {proc.returncode}:\n{out[-2000:]}\n{err[-3000:]}"}
            results[how] = (result, jobs[how][1])
        yield results
    finally:
        for proc in procs.values():
            spu.stop(proc)


def _result(exported, how):
    """(child result, reference); a crashed child fails the test that reads it."""
    result, reference = exported[how]
    assert "crashed" not in result, f"{how} child: {result['crashed']}"
    return result, reference


def _outputs(result):
    assert "error" not in result, result["error"]
    return result["outputs"]


def test_stateless_masks_before_saving_are_reproducible_and_baked_in():
    masker = Masker()
    ids = tf.ragged.constant(child.RAGGED_INPUTS, dtype=tf.int64)
    a = masker.mask_ragged(ids, tf.constant([1, 2], tf.int64))
    b = masker.mask_ragged(ids, tf.constant([1, 2], tf.int64))
    c = masker.mask_ragged(ids, tf.constant([2, 1], tf.int64))
    assert a["positions"].to_list() == b["positions"].to_list()
    assert a["masked_ids"].to_list() == b["masked_ids"].to_list()
    assert (a["positions"].to_list(), a["masked_ids"].to_list()) != (
        c["positions"].to_list(),
        c["masked_ids"].to_list(),
    )


def test_reference_outputs_use_the_baked_in_configuration(exported):
    _, reference = _result(exported, "import_and_register")
    for per_seed in reference:
        rows = per_seed["ragged_fn"]["positions"]["ragged"]
        # selection_rate 0.5 of the selectable tokens, at most MAX_SELECTIONS.
        assert [len(r) for r in rows] == [3, 1, 0, MAX_SELECTIONS]
    assert any(
        MASK_TOKEN in row
        for per_seed in reference
        for row in per_seed["ragged_fn"]["masked_ids"]["ragged"]
    )


def test_fresh_process_importing_tf_mlm_gives_the_same_outputs(exported):
    result, reference = _result(exported, "import_and_register")
    assert result["tf_mlm_imported"]
    assert _outputs(result) == reference


def test_fresh_process_without_tf_mlm_fails_op_not_registered(exported):
    result, _ = _result(exported, "bare")
    assert not result["tf_mlm_imported"]
    assert "error" in result, "loading succeeded without tf_mlm's ops"
    assert "Op type not registered 'TFMLM>" in result["error"], result["error"]


def test_fix_load_op_library_with_the_reported_path(exported):
    # What a process that must not import tf_mlm does: load the library
    # whose path tf_mlm.get_library_path() reports.
    result, reference = _result(exported, "load_op_library")
    assert not result.get("tf_mlm_imported"), "the child imported tf_mlm"
    assert _outputs(result) == reference


def test_fix_import_tf_mlm_before_loading(exported):
    # `import tensorflow; import tf_mlm` registers the ops (tf_mlm/__init__.py).
    result, reference = _result(exported, "import")
    assert result["tf_mlm_imported"]
    assert _outputs(result) == reference


def test_keras_model_export_reloads_in_a_fresh_process(exported):
    result, reference = _result(exported, "keras")
    out = _outputs(result)
    assert out == reference
    assert sorted(out) == ["mask_ids", "mask_positions", "mask_weights", "token_ids"]

// What each source file of tf_mlm._core binds (module.cc calls them).
#ifndef TF_MLM_CC_PY_BINDINGS_H_
#define TF_MLM_CC_PY_BINDINGS_H_

#include <pybind11/pybind11.h>

namespace tf_mlm {

// masking.cc: mask_language_model, mask_spans, group_words,
// build_alias_table, validate_options.
void BindMasking(pybind11::module_& m);

// collation.cc: ragged_to_dense, scatter_to_dense, sequence_lengths,
// pad_sequences.
void BindCollation(pybind11::module_& m);

// padded.cc: mask_padded_batch.
void BindPadded(pybind11::module_& m);

// t5.cc: span_corruption, noise_spans_to_sentinels, stateless_split.
void BindT5(pybind11::module_& m);

}  // namespace tf_mlm

#endif  // TF_MLM_CC_PY_BINDINGS_H_

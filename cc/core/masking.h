// The masking algorithms of tf_mlm, framework-free.
//
// Terminology. A batch is a ragged tensor given as flat `values` and nested
// row splits (NestedSplits). Level 0 are batch rows, level R (= ragged rank)
// the flat values (tokens). With `axis` a in [1, R], an *item* is one element
// at level a: a token when a == R, a word (all of its wordpieces) when the
// input is [batch, (words), (wordpieces)] and a == 1. The dimensions 1..a are
// merged: each batch row owns a contiguous range of items and of tokens, and
// a token's *position* is its offset from the first token of its row.
//
// Every random decision of row b draws from RowStream(seed, domain, b), so the
// result depends on the seed and the data only, never on threading.
//
// This header is the core's public entry point: it includes every concern
// (options.h, selection.h, values.h, selectable.h, emit.h, composed.h, the
// fused passes token_pass.h and word_pass.h, the span pass span_pass.h) and
// defines the entry points the TF kernels and the pybind11 module call:
// MaskLanguageModel and MaskSpans.
#ifndef TF_MLM_CC_CORE_MASKING_H_
#define TF_MLM_CC_CORE_MASKING_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cc/core/composed.h"
#include "cc/core/emit.h"
#include "cc/core/id_set.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/selectable.h"
#include "cc/core/selection.h"
#include "cc/core/span_pass.h"
#include "cc/core/spans.h"
#include "cc/core/status.h"
#include "cc/core/token_pass.h"
#include "cc/core/values.h"
#include "cc/core/word_pass.h"

namespace tf_mlm {

// The fused pass: select items of every row (selectability from
// `unselectable`), then for every token of the chosen items record its
// position and original id and write its new value. One read of the input,
// each output written once. pad_length >= 0 gives dense [rows, pad_length]
// positions / ids / weights (see internal::FinishDenseRow), fitted as `fit`
// says: the adapters' kCapSelection caps each row's selection at
// pad_length; kFirstTokens records the first pad_length masked tokens of a
// row's uncapped selection.
template <typename T, typename S>
Status MaskLanguageModel(Span<T> values, const NestedSplits<S>& splits, int axis,
                         const IdSet& unselectable, const SelectionOptions& selection,
                         const ValueOptions& value_opts, const Seed& seed,
                         const AllocateMaskOutputs<T, S>& allocate, const ParallelFor& parallel_for,
                         int64_t pad_length = -1, DenseFit fit = DenseFit::kFirstTokens) {
  TF_MLM_RETURN_IF_ERROR(ValidateAxis(axis, splits.ragged_rank()));
  TF_MLM_RETURN_IF_ERROR(ValidateSelectionOptions(selection));
  TF_MLM_RETURN_IF_ERROR(ValidateValueOptions(value_opts));
  TF_MLM_RETURN_IF_ERROR(ValidateValuesFitIds<T>(value_opts));
  const SelectionOptions capped =
      CapAtPadLength(selection, fit == DenseFit::kCapSelection ? pad_length : -1);
  if (axis == splits.ragged_rank()) {
    return internal::MaskTokens(values, splits, unselectable, capped, value_opts, seed, allocate,
                                parallel_for, pad_length);
  }
  const int64_t num_items = NumItems(splits, values.size, axis);
  std::vector<uint8_t> flags(static_cast<size_t>(num_items));
  ComputeSelectable(values, splits, axis, unselectable, flags.data(), parallel_for);
  return internal::MaskWords(values, splits, axis, flags.data(), capped, value_opts, seed, allocate,
                             parallel_for, pad_length);
}

// SpanBERT span masking (spans.h) of the items at level `axis`, then the
// values of their tokens, in one call: the same result as the composed
// steps (Selectable, SelectSpans, GatherMasked, ChooseValues,
// ScatterMasked) for the same seed. The budget counts tokens; pad_length >= 0
// gives dense outputs as MaskLanguageModel's, and the token budget becomes
// min(cap, pad_length) (CapAtPadLength), so that no span is cut.
template <typename T, typename S>
Status MaskSpans(Span<T> values, const NestedSplits<S>& splits, int axis, const IdSet& unselectable,
                 SpanOptions spans, const ValueOptions& value_opts, const Seed& seed,
                 const AllocateMaskOutputs<T, S>& allocate, const ParallelFor& parallel_for,
                 int64_t pad_length = -1) {
  TF_MLM_RETURN_IF_ERROR(ValidateAxis(axis, splits.ragged_rank()));
  TF_MLM_RETURN_IF_ERROR(ValidateSpanOptions(spans));
  TF_MLM_RETURN_IF_ERROR(ValidateValueOptions(value_opts));
  TF_MLM_RETURN_IF_ERROR(ValidateValuesFitIds<T>(value_opts));
  spans.budget = CapAtPadLength(spans.budget, pad_length);
  const int64_t num_items = NumItems(splits, values.size, axis);
  std::vector<uint8_t> flags(static_cast<size_t>(num_items) + 1);
  ComputeSelectable(values, splits, axis, unselectable, flags.data(), parallel_for);
  return internal::MaskSpans(values, splits, axis, flags.data(), spans, value_opts, seed, allocate,
                             parallel_for, pad_length);
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_MASKING_H_

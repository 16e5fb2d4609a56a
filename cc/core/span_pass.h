// The span pass: SpanBERT span masking of a ragged batch in one call, with
// ragged or dense outputs, as the token and word passes do it.
#ifndef TF_MLM_CC_CORE_SPAN_PASS_H_
#define TF_MLM_CC_CORE_SPAN_PASS_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "cc/core/composed.h"
#include "cc/core/emit.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/spans.h"
#include "cc/core/status.h"
#include "cc/core/values.h"

namespace tf_mlm {

namespace internal {

// Spans over the items at level `axis` (selectability in `selectable`, one
// 0/1 per item), then the values of their tokens. The steps and the draws
// are those of the composed ops (SelectSpans on the selection stream,
// GatherMasked, ChooseValues on the values stream, ScatterMasked), so the
// result equals tf_mlm.mask_language_model with a SpanItemSelector composed
// step by step. pad_length >= 0 writes dense [rows, pad_length] outputs
// (FinishDenseRow); the caller caps the budget at pad_length, so no span is
// cut.
template <typename T, typename S>
Status MaskSpans(Span<T> values, const NestedSplits<S>& splits, int axis, const uint8_t* selectable,
                 const SpanOptions& spans, const ValueOptions& value_opts, const Seed& seed,
                 const AllocateMaskOutputs<T, S>& allocate, const ParallelFor& parallel_for,
                 int64_t pad_length) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  const int64_t items = NumItems(splits, values.size, axis);
  // Rows -> items at level `axis`, and each item's token count (none when
  // items are tokens: one each).
  std::vector<S> item_splits(static_cast<size_t>(rows + 1));
  for (int64_t b = 0; b <= rows; ++b) item_splits[b] = static_cast<S>(splits.Descend(b, 0, axis));
  std::vector<int64_t> token_counts;
  if (axis < rank) {
    token_counts.resize(static_cast<size_t>(items));
    WithTokenStarts(splits, axis, [&](auto token_start) {
      for (int64_t i = 0; i < items; ++i) token_counts[i] = token_start(i + 1) - token_start(i);
    });
  }
  std::vector<uint8_t> chosen(static_cast<size_t>(items) + 1);
  SelectSpanRows(Span<S>{item_splits.data(), rows + 1}, selectable,
                 token_counts.empty() ? nullptr : token_counts.data(), chosen.data(), spans, seed,
                 parallel_for);

  // Ragged outputs are the caller's own; dense ones are written from ragged
  // scratch once the values are chosen.
  const bool dense = pad_length >= 0;
  std::vector<S> scratch_positions, scratch_splits;
  std::vector<T> scratch_ids;
  MaskOutputs<T, S> out, gathered;
  int64_t num_masked = 0;
  const AllocateMaskOutputs<T, S> gather_into = [&](int64_t total, MaskOutputs<T, S>* o) -> Status {
    num_masked = total;
    if (dense) {
      scratch_positions.resize(static_cast<size_t>(total));
      scratch_ids.resize(static_cast<size_t>(total));
      scratch_splits.resize(static_cast<size_t>(rows + 1));
      o->positions = scratch_positions.data();
      o->masked_ids = scratch_ids.data();
      o->position_splits = scratch_splits.data();
    } else {
      TF_MLM_RETURN_IF_ERROR(allocate(total, o));
      out = *o;
    }
    gathered = *o;
    return Status::Ok();
  };
  const Status gathered_ok =
      EmitMasked<T, S>(values, splits, axis, chosen.data(), gather_into, parallel_for);
  TF_MLM_RETURN_IF_ERROR(gathered_ok);
  const Span<S> position_splits{gathered.position_splits, rows + 1};
  std::vector<T> new_ids(static_cast<size_t>(num_masked) + 1);
  ChooseValueRows(Span<T>{gathered.masked_ids, num_masked}, position_splits, value_opts, seed,
                  new_ids.data(), parallel_for);

  if (dense) {
    TF_MLM_RETURN_IF_ERROR(allocate(rows * pad_length, &out));
    if (out.masked_values != values.data && values.size > 0) {
      std::memcpy(out.masked_values, values.data, static_cast<size_t>(values.size) * sizeof(T));
    }
  }
  parallel_for(rows, 4 * (num_masked / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t_row = splits.Descend(b, 0, rank);
      const int64_t j0 = position_splits[b], m = position_splits[b + 1] - j0;
      for (int64_t q = 0; q < m; ++q) {
        out.masked_values[t_row + gathered.positions[j0 + q]] = new_ids[j0 + q];
      }
      if (!dense) continue;
      const int64_t first = b * pad_length;
      for (int64_t q = 0; q < m; ++q) {
        out.positions[first + q] = gathered.positions[j0 + q];
        out.masked_ids[first + q] = gathered.masked_ids[j0 + q];
      }
      FinishDenseRow(out, first, m, pad_length);
    }
  });
  return Status::Ok();
}

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_SPAN_PASS_H_

// The composed path's steps (ops SelectItems -> GatherMasked -> chooser ->
// ScatterMasked), for selectors and choosers defined by the user.
#ifndef TF_MLM_CC_CORE_COMPOSED_H_
#define TF_MLM_CC_CORE_COMPOSED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/bits.h"
#include "cc/core/emit.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/ragged.h"
#include "cc/core/selectable.h"
#include "cc/core/status.h"

namespace tf_mlm {

namespace internal {

// Given chosen[] over items at level `mask_level` (0/1 per item): counts
// the masked tokens of each row, allocates, then writes each row's
// positions (the tokens of its chosen items, in order) and original ids.
template <typename T, typename S>
Status EmitMasked(Span<T> values, const NestedSplits<S>& splits, int mask_level,
                  const uint8_t* chosen, const AllocateMaskOutputs<T, S>& allocate,
                  const ParallelFor& parallel_for) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  const int64_t cost = 8 * (values.size / (rows + 1) + 1);
  std::vector<int64_t> counts(static_cast<size_t>(rows));
  // Pass 1: masked tokens per row.
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    WithTokenStarts(splits, mask_level, [&](auto token_start) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t i0 = splits.Descend(b, 0, mask_level),
                      i1 = splits.Descend(b + 1, 0, mask_level);
        // Any nonzero byte counts once: a caller's bool bytes may be other
        // than 0/1 (a TF bool tensor made from a NumPy uint8 view); summing
        // them as-is would size the outputs beyond what pass 2 writes.
        int64_t m = 0;
        ForEachFlagged(chosen, i0, i1,
                       [&](int64_t i) { m += token_start(i + 1) - token_start(i); });
        counts[b] = m;
      }
    });
  });
  std::vector<int64_t> offsets;
  const int64_t total = OutputOffsets(counts, -1, &offsets);
  MaskOutputs<T, S> out;
  TF_MLM_RETURN_IF_ERROR(AllocateOutputs(allocate, offsets, total, /*dense=*/false, &out));
  // Pass 2: write outputs row by row.
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    WithTokenStarts(splits, mask_level, [&](auto token_start) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t t_row = splits.Descend(b, 0, rank), t_end = splits.Descend(b + 1, 0, rank);
        if (out.masked_values != nullptr && out.masked_values != values.data && t_end > t_row) {
          std::memcpy(out.masked_values + t_row, values.data + t_row,
                      static_cast<size_t>(t_end - t_row) * sizeof(T));
        }
        const int64_t k0 = offsets[b], m = counts[b];
        S* const row_positions = out.positions + k0;
        int64_t k = 0;
        const int64_t i0 = splits.Descend(b, 0, mask_level),
                      i1 = splits.Descend(b + 1, 0, mask_level);
        ForEachFlagged(chosen, i0, i1, [&](int64_t i) {
          k = AppendItemPositions(row_positions, k, m, token_start(i) - t_row,
                                  token_start(i + 1) - token_start(i));
        });
        for (int64_t q = 0; q < m; ++q) out.masked_ids[k0 + q] = values[t_row + row_positions[q]];
      }
    });
  });
  return Status::Ok();
}

}  // namespace internal

// Composed path, step "positions": tokens of the items marked in `chosen`
// (one 0/1 per element at level `mask_level`, 1 <= mask_level <= R) as
// row positions and original ids. masked_values is not written.
template <typename T, typename S>
Status GatherMasked(Span<T> values, const NestedSplits<S>& splits, int mask_level,
                    const uint8_t* chosen, const AllocateMaskOutputs<T, S>& allocate,
                    const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateAxis(mask_level, splits.ragged_rank()));
  return internal::EmitMasked(values, splits, mask_level, chosen, allocate, parallel_for);
}

// GatherMasked with `chosen` checked to hold one value per element at
// mask_level (its name in the op: `selected`).
template <typename T, typename S>
Status GatherMasked(Span<T> values, const NestedSplits<S>& splits, int mask_level,
                    Span<uint8_t> chosen, const AllocateMaskOutputs<T, S>& allocate,
                    const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateAxis(mask_level, splits.ragged_rank()));
  const int64_t items = NumItems(splits, values.size, mask_level);
  if (chosen.size != items) {
    return Status::Invalid("selected must have one value per element at level " +
                           std::to_string(mask_level) + " of the input (" + std::to_string(items) +
                           "), got " + std::to_string(chosen.size));
  }
  return internal::EmitMasked(values, splits, mask_level, chosen.data, allocate, parallel_for);
}

// Composed path, step "scatter": out = values with, for every row b, the
// token at row position positions[j] (j in position_splits[b]..[b+1])
// replaced by new_ids[j]. Positions are validated against the row lengths.
template <typename T, typename S, typename P>
Status ScatterMasked(Span<T> values, const NestedSplits<S>& splits, Span<P> positions,
                     Span<S> position_splits, Span<T> new_ids, T* out) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  if (position_splits.size != rows + 1) {
    return Status::Invalid("positions must have as many rows as input_ids (" +
                           std::to_string(rows) + "), got " +
                           std::to_string(position_splits.size - 1));
  }
  // Every binding gets the check, not only the TF kernel: the loop below
  // reads positions[position_splits[b]..position_splits[b + 1]).
  TF_MLM_RETURN_IF_ERROR(
      ValidateRowSplits(position_splits, positions.size, "masked_positions_row_splits"));
  if (new_ids.size != positions.size) {
    return Status::Invalid("new values and positions must have the same number of values, got " +
                           std::to_string(new_ids.size) + " and " + std::to_string(positions.size));
  }
  if (out != values.data && values.size > 0)
    std::memcpy(out, values.data, static_cast<size_t>(values.size) * sizeof(T));
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t t0 = splits.Descend(b, 0, rank), len = splits.Descend(b + 1, 0, rank) - t0;
    for (int64_t j = position_splits[b]; j < position_splits[b + 1]; ++j) {
      const int64_t p = static_cast<int64_t>(positions[j]);
      if (p < 0 || p >= len) {
        return Status::Invalid("position " + std::to_string(p) + " of row " + std::to_string(b) +
                               " is outside the row (length " + std::to_string(len) + ")");
      }
      out[t0 + p] = new_ids[j];
    }
  }
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_COMPOSED_H_

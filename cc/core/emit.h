// Output plumbing of the masking passes: output buffers, per-row offsets,
// dense padding, token starts of items, the fused passes' row ends.
#ifndef TF_MLM_CC_CORE_EMIT_H_
#define TF_MLM_CC_CORE_EMIT_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "cc/core/options.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/values.h"

namespace tf_mlm {

// Outputs of a masking pass, allocated by the adapter once the number of
// masked tokens is known. Positions share the row-splits dtype S.
template <typename T, typename S>
struct MaskOutputs {
  T* masked_values = nullptr;    // [num_values]; may be the input values' own buffer
  S* position_splits = nullptr;  // [num_rows + 1]
  S* positions = nullptr;        // [num_masked]
  T* masked_ids = nullptr;       // [num_masked]
  // Dense ("padded") form only: [num_rows * pad_length], 1 where a position
  // is recorded, 0 in the padding. position_splits is unused there.
  float* weights = nullptr;
};

template <typename T, typename S>
using AllocateMaskOutputs = std::function<Status(int64_t num_masked, MaskOutputs<T, S>* out)>;

namespace internal {

// Calls body(token_start), where token_start(i) is the first token of
// element i at `level` (1 <= level <= R): a function specialised for the
// usual cases, level R (tokens: i itself) and R - 1 (e.g. words: one load),
// so that per-item loops in `body` carry no dispatch.
template <typename S, typename Body>
inline void WithTokenStarts(const NestedSplits<S>& splits, int level, Body&& body) {
  const int rank = splits.ragged_rank();
  if (level == rank) return body([](int64_t i) { return i; });
  if (level == rank - 1) {
    const S* const starts = splits.levels[rank - 1].data;
    return body([starts](int64_t i) { return static_cast<int64_t>(starts[i]); });
  }
  body([&splits, level, rank](int64_t i) { return splits.Descend(i, level, rank); });
}

// A dense row's outputs past its m recorded tokens: weight 1 for those,
// then padding (position and id 0, weight 0) up to pad_length.
template <typename T, typename S>
inline void FinishDenseRow(const MaskOutputs<T, S>& out, int64_t first, int64_t m,
                           int64_t pad_length) {
  const int64_t end = first + pad_length;
  for (int64_t j = first + m; j < end; ++j) {
    out.positions[j] = 0;
    out.masked_ids[j] = 0;
  }
  if (out.weights != nullptr) {
    for (int64_t j = first; j < first + m; ++j) out.weights[j] = 1.0f;
    for (int64_t j = first + m; j < end; ++j) out.weights[j] = 0.0f;
  }
}

// Appends the row positions first, first + 1, .., first + length - 1 (one
// chosen item's tokens) to row_positions[k..], stopping at m positions in
// all; returns the new k.
template <typename S>
inline int64_t AppendItemPositions(S* row_positions, int64_t k, int64_t m, int64_t first,
                                   int64_t length) {
  if (length <= 4 && k + 4 <= m) {
    // Items of up to 4 tokens (words: 1-3 wordpieces, as a rule) without a
    // loop whose trip count changes from item to item: 4 positions written,
    // `length` of them kept. The others are inside the row's m slots
    // (k + 4 <= m), so the items that follow overwrite them: k reaches m.
    for (int q = 0; q < 4; ++q) row_positions[k + q] = static_cast<S>(first + q);
    return k + length;
  }
  const int64_t end = first + std::min(length, m - k);
  for (int64_t t = first; t < end; ++t) row_positions[k++] = static_cast<S>(t);
  return k;
}

// Each row's first output slot, from the rows' output counts (dense:
// pad_length slots per row whatever the count); returns the total.
inline int64_t OutputOffsets(const std::vector<int64_t>& counts, int64_t pad_length,
                             std::vector<int64_t>* offsets) {
  const int64_t rows = static_cast<int64_t>(counts.size());
  offsets->resize(static_cast<size_t>(rows));
  int64_t total = 0;
  for (int64_t b = 0; b < rows; ++b) {
    (*offsets)[b] = total;
    total += pad_length >= 0 ? pad_length : counts[b];
  }
  return total;
}

// Allocates `total` output slots; ragged outputs also get their
// position_splits (the offsets, then the total) when the caller wants them.
template <typename T, typename S>
Status AllocateOutputs(const AllocateMaskOutputs<T, S>& allocate,
                       const std::vector<int64_t>& offsets, int64_t total, bool dense,
                       MaskOutputs<T, S>* out) {
  TF_MLM_RETURN_IF_ERROR(allocate(total, out));
  if (!dense && out->position_splits != nullptr) {
    const int64_t rows = static_cast<int64_t>(offsets.size());
    for (int64_t b = 0; b < rows; ++b) out->position_splits[b] = static_cast<S>(offsets[b]);
    out->position_splits[rows] = static_cast<S>(total);
  }
  return Status::Ok();
}

// Sweep 2 of the fused passes (token_pass.h, word_pass.h), row by row: the
// row's tokens copied to masked_values, its recorded positions written by
// the pass, then the row's end, the same in both passes: the original ids
// and new values of those positions (the row's value stream) and, when
// dense, the row's padding.
template <typename T, typename S>
class RowWriter {
 public:
  RowWriter(Span<T> values, const MaskOutputs<T, S>& out, const ValueOptions& value_opts,
            const Seed& seed, int64_t pad_length)
      : values_(values), out_(out), choose_(value_opts), seed_(seed), pad_length_(pad_length) {}

  // Copies tokens [t0, t1) to masked_values, unless that is the input's own
  // buffer.
  void CopyRow(int64_t t0, int64_t t1) const {
    if (out_.masked_values != values_.data && t1 > t0) {
      std::memcpy(out_.masked_values + t0, values_.data + t0,
                  static_cast<size_t>(t1 - t0) * sizeof(T));
    }
  }

  // How many of a row's `count` masked tokens it records: all of them, or
  // the first pad_length when dense.
  int64_t Recorded(int64_t count) const {
    return pad_length_ >= 0 ? std::min(count, pad_length_) : count;
  }

  // Ends row b (first token t0), whose m recorded positions are
  // out.positions[j0, j0 + m).
  void FinishRow(int64_t b, int64_t t0, int64_t j0, int64_t m) const {
    RowStream rng = choose_.Stream(seed_, b, m);
    choose_.ChooseRow(rng, values_.data + t0, out_.positions + j0, m, out_.masked_ids + j0,
                      out_.masked_values + t0);
    if (pad_length_ >= 0) FinishDenseRow(out_, j0, m, pad_length_);
  }

 private:
  const Span<T> values_;
  const MaskOutputs<T, S> out_;
  const ValueChooser choose_;
  const Seed seed_;
  const int64_t pad_length_;
};

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_EMIT_H_

// The fused pass when items are tokens (axis == ragged rank).
#ifndef TF_MLM_CC_CORE_TOKEN_PASS_H_
#define TF_MLM_CC_CORE_TOKEN_PASS_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cc/core/bits.h"
#include "cc/core/emit.h"
#include "cc/core/id_set.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/rank_walk.h"
#include "cc/core/selection.h"
#include "cc/core/status.h"
#include "cc/core/values.h"

namespace tf_mlm {

namespace internal {

// What sweep 1 of MaskTokens learns of each row: up to kKeptRuns runs of
// unselectable tokens ((first token in the row, length) pairs), the number
// of runs and of unselectable tokens, and the number of tokens to mask.
struct TokenRows {
  explicit TokenRows(int64_t rows)
      : kept(static_cast<size_t>(rows * 2 * kKeptRuns)),
        num_runs(static_cast<size_t>(rows)),
        num_unselectable(static_cast<size_t>(rows)),
        counts(static_cast<size_t>(rows)) {}
  std::vector<int64_t> kept, num_runs, num_unselectable, counts;
};

// Sweep 1 for row b (`len` tokens at `row`): its runs of unselectable tokens
// (vector scan) and its count. Copies the row to copy_to (unless null) while
// the scan has it in cache.
template <typename T>
void ScanTokenRow(const T* row, int64_t len, int64_t b, const IdSet& unselectable,
                  const SelectionOptions& selection, const Seed& seed, T* copy_to,
                  TokenRows* rows) {
  int64_t* row_kept = rows->kept.data() + b * 2 * kKeptRuns;
  int64_t e = 0, runs = 0;
  unselectable.ForEachMemberRun(row, len, [&](int64_t i, int64_t count) {
    if (runs < kKeptRuns) {
      row_kept[2 * runs] = i;
      row_kept[2 * runs + 1] = count;
    }
    ++runs;
    e += count;
  });
  if (copy_to != nullptr && len > 0) {
    std::memcpy(copy_to, row, static_cast<size_t>(len) * sizeof(T));
  }
  RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
  rows->num_runs[b] = runs;
  rows->num_unselectable[b] = e;
  rows->counts[b] = DrawSelectionCount(rng, len - e, selection);
}

// Sweep 2 for row b: the positions of its chosen tokens, in increasing
// order, the first m of them written to row_positions. The chosen ranks are
// drawn as SelectInRow draws them (a bitmap walked in order); the token of
// rank r is found by stepping over the kept runs (O(1) per token), or, in a
// row with more runs than kept, over flags recomputed 8 at a time.
template <typename T, typename S>
void ChosenTokenPositions(const TokenRows& rows, int64_t b, const T* row, int64_t len,
                          const IdSet& unselectable, const SelectionOptions& selection,
                          const Seed& seed, int64_t m, S* row_positions) {
  const int64_t n = len - rows.num_unselectable[b], k = rows.counts[b], runs = rows.num_runs[b];
  if (k <= 0) return;
  int64_t j = 0;
  auto emit = [&](int64_t i) {
    if (j < m) row_positions[j++] = static_cast<S>(i);
  };
  // emit_rank(r) for the chosen ranks among the row's n selectable tokens,
  // in increasing order.
  auto for_each_chosen_rank = [&](auto&& emit_rank) {
    if (k == n) {
      for (int64_t r = 0; r < n; ++r) emit_rank(r);
      return;
    }
    RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
    if (selection.mode == SelectionMode::kBernoulli) rng.Skip(static_cast<uint64_t>(n));
    std::vector<uint64_t>& bits = ScratchBits(n);
    MarkUniformSubset(rng, n, k, bits);
    TakeSetBits(bits, n, emit_rank);
  };
  if (runs <= kKeptRuns) {
    RunsRanks token_of(rows.kept.data() + b * 2 * kKeptRuns, runs);
    for_each_chosen_rank([&](int64_t r) { emit(token_of(r)); });
    return;
  }
  // Unselectable tokens scattered over many runs: flags.
  thread_local std::vector<uint8_t> flags;
  if (flags.size() < static_cast<size_t>(len)) flags.resize(static_cast<size_t>(len));
  std::memset(flags.data(), 1, static_cast<size_t>(len));
  unselectable.ForEachMemberRun(row, len, [&](int64_t i, int64_t count) {
    std::memset(flags.data() + i, 0, static_cast<size_t>(count));
  });
  FlagsRanks token_of(flags.data(), len);
  for_each_chosen_rank([&](int64_t r) { emit(token_of(r)); });
}

// The fused pass when items are tokens (axis == ragged rank), the common
// BERT case, in two sweeps over the tokens instead of five:
//  1. per row: find the runs of unselectable tokens (usually the special
//     tokens and a tail of padding, a few runs per row), hence the row's
//     number of selectable tokens n and of tokens to mask k (also the row's
//     number of outputs) (ScanTokenRow);
//  2. per row, after allocation: copy the row, draw the k chosen ranks and
//     write their positions (ChosenTokenPositions), then ids and new values
//     (RowWriter).
// Same random draws as SelectInRow / ChooseValues, so the results equal the
// general path's and the composed ops' bit for bit.
template <typename T, typename S>
Status MaskTokens(Span<T> values, const NestedSplits<S>& splits, const IdSet& unselectable,
                  const SelectionOptions& selection, const ValueOptions& value_opts,
                  const Seed& seed, const AllocateMaskOutputs<T, S>& allocate,
                  const ParallelFor& parallel_for, int64_t pad_length) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  const bool dense = pad_length >= 0;
  TokenRows scan(rows);
  const int64_t cost = 4 * (values.size / (rows + 1) + 1);
  // Dense outputs have a known size: allocated first, so that sweep 1 copies
  // each row while the scan has it in cache.
  MaskOutputs<T, S> out;
  if (dense) TF_MLM_RETURN_IF_ERROR(allocate(rows * pad_length, &out));
  T* const copy_in_sweep_1 =
      dense && out.masked_values != values.data ? out.masked_values : nullptr;
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      ScanTokenRow(values.data + t0, t1 - t0, b, unselectable, selection, seed,
                   copy_in_sweep_1 != nullptr ? copy_in_sweep_1 + t0 : nullptr, &scan);
    }
  });
  std::vector<int64_t> offsets;
  const int64_t total = OutputOffsets(scan.counts, pad_length, &offsets);
  if (!dense) TF_MLM_RETURN_IF_ERROR(AllocateOutputs(allocate, offsets, total, dense, &out));
  const RowWriter<T, S> writer(values, out, value_opts, seed, pad_length);
  parallel_for(rows, 2 * cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      if (!dense) writer.CopyRow(t0, t1);
      // Positions first (the first pad_length ones when dense), then ids and
      // values.
      const int64_t m = writer.Recorded(scan.counts[b]);
      ChosenTokenPositions(scan, b, values.data + t0, t1 - t0, unselectable, selection, seed, m,
                           out.positions + offsets[b]);
      writer.FinishRow(b, t0, offsets[b], m);
    }
  });
  return Status::Ok();
}

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_TOKEN_PASS_H_

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

// The fused pass when items are tokens (axis == ragged rank), the common
// BERT case, in two sweeps over the tokens instead of five:
//  1. per row: find the runs of unselectable tokens (vector scan; usually
//     the special tokens and a tail of padding, a few runs per row) and keep
//     up to kKeptRuns of them; hence the row's number of selectable tokens n
//     and of tokens to mask k (also the row's number of outputs);
//  2. per row, after allocation: copy the row, draw the k chosen ranks into
//     a bitmap and walk its set bits in order. The token of rank r is found
//     by stepping over the kept runs (O(1) per token); a row with more runs
//     than kept recomputes its flags and skips 8 at a time. Write position,
//     id, new value.
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
  const ValueChooser choose(value_opts);
  // Per row: up to kKeptRuns (first token in the row, length) pairs, the
  // number of runs and of unselectable tokens.
  std::vector<int64_t> kept(static_cast<size_t>(rows * 2 * kKeptRuns));
  std::vector<int64_t> num_runs(static_cast<size_t>(rows)),
      num_unselectable(static_cast<size_t>(rows)), counts(static_cast<size_t>(rows));
  const int64_t cost = 4 * (values.size / (rows + 1) + 1);
  // Dense outputs have a known size: allocated first, so that sweep 1 copies
  // each row while the scan has it in cache.
  MaskOutputs<T, S> out;
  if (dense) TF_MLM_RETURN_IF_ERROR(allocate(rows * pad_length, &out));
  const bool copy_in_sweep_1 = dense && out.masked_values != values.data;
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      int64_t* row_kept = kept.data() + b * 2 * kKeptRuns;
      int64_t e = 0, runs = 0;
      unselectable.ForEachMemberRun(values.data + t0, t1 - t0, [&](int64_t i, int64_t count) {
        if (runs < kKeptRuns) {
          row_kept[2 * runs] = i;
          row_kept[2 * runs + 1] = count;
        }
        ++runs;
        e += count;
      });
      if (copy_in_sweep_1 && t1 > t0) {
        std::memcpy(out.masked_values + t0, values.data + t0,
                    static_cast<size_t>(t1 - t0) * sizeof(T));
      }
      RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
      num_runs[b] = runs;
      num_unselectable[b] = e;
      counts[b] = DrawSelectionCount(rng, t1 - t0 - e, selection);
    }
  });
  std::vector<int64_t> offsets;
  const int64_t total = OutputOffsets(counts, pad_length, &offsets);
  if (!dense) TF_MLM_RETURN_IF_ERROR(AllocateOutputs(allocate, offsets, total, dense, &out));
  parallel_for(rows, 2 * cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      if (!dense && out.masked_values != values.data && t1 > t0) {
        std::memcpy(out.masked_values + t0, values.data + t0,
                    static_cast<size_t>(t1 - t0) * sizeof(T));
      }
      const int64_t e = num_unselectable[b], n = t1 - t0 - e, k = counts[b];
      // Positions first (the first pad_length ones when dense), then ids and
      // values.
      const int64_t j0 = offsets[b], m = dense ? std::min(k, pad_length) : k;
      S* const row_positions = out.positions + j0;
      int64_t j = 0;
      auto emit = [&](int64_t t) {
        if (j < m) row_positions[j++] = static_cast<S>(t - t0);
      };
      // emit_rank(r) for the chosen ranks among the row's n selectable
      // tokens, in increasing order.
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
      const int64_t runs = num_runs[b];
      if (k > 0 && runs <= kKeptRuns) {
        RunsRanks token_of(kept.data() + b * 2 * kKeptRuns, runs);
        for_each_chosen_rank([&](int64_t r) { emit(t0 + token_of(r)); });
      } else if (k > 0) {
        // Unselectable tokens scattered over many runs: flags.
        thread_local std::vector<uint8_t> flags;
        if (flags.size() < static_cast<size_t>(t1 - t0)) flags.resize(static_cast<size_t>(t1 - t0));
        std::memset(flags.data(), 1, static_cast<size_t>(t1 - t0));
        unselectable.ForEachMemberRun(values.data + t0, t1 - t0, [&](int64_t i, int64_t count) {
          std::memset(flags.data() + i, 0, static_cast<size_t>(count));
        });
        FlagsRanks token_of(flags.data(), t1 - t0);
        for_each_chosen_rank([&](int64_t r) { emit(t0 + token_of(r)); });
      }
      RowStream values_rng = choose.Stream(seed, b, m);
      choose.ChooseRow(values_rng, values.data + t0, row_positions, m, out.masked_ids + j0,
                       out.masked_values + t0);
      if (dense) FinishDenseRow(out, j0, m, pad_length);
    }
  });
  return Status::Ok();
}

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_TOKEN_PASS_H_

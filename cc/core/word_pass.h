// The fused pass when items are above tokens (whole words).
#ifndef TF_MLM_CC_CORE_WORD_PASS_H_
#define TF_MLM_CC_CORE_WORD_PASS_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "cc/core/bits.h"
#include "cc/core/emit.h"
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

// The fused pass when items are above tokens (whole words: axis < ragged
// rank), given ComputeSelectable's 0/1 flags, in two sweeps over the rows:
//  1. per row: the runs of unselectable items (8 flags at a time; usually
//     the words of the special tokens), hence the count k of items to
//     select; the k chosen ranks (MarkUniformSubset's bitmap, walked a word
//     at a time), each mapped to its item by stepping over the runs; the
//     chosen items' first tokens and lengths are kept (a row has room for
//     min(cap, items) of them), their lengths summed into the row's m;
//  2. per row, after allocation: copy the row, write the kept items'
//     positions (the first pad_length when dense), then ids and values.
// Same draws as SelectInRow and ChooseValues, so the outputs equal the
// composed path's bit for bit; no pass over the flags after the first.
template <typename T, typename S>
Status MaskWords(Span<T> values, const NestedSplits<S>& splits, int axis, const uint8_t* selectable,
                 const SelectionOptions& selection, const ValueOptions& value_opts,
                 const Seed& seed, const AllocateMaskOutputs<T, S>& allocate,
                 const ParallelFor& parallel_for, int64_t pad_length) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  const bool dense = pad_length >= 0;
  // Room per row for its chosen items: k <= min(max_selections, items).
  std::vector<int64_t> room(static_cast<size_t>(rows + 1));
  room[0] = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t n = splits.Descend(b + 1, 0, axis) - splits.Descend(b, 0, axis);
    room[b + 1] = room[b] + std::min(n, selection.max_selections);
  }
  // Not zeroed: sweep 1 writes what sweep 2 reads.
  std::unique_ptr<int64_t[]> item_first(new int64_t[static_cast<size_t>(room[rows])]);
  std::unique_ptr<int64_t[]> item_length(new int64_t[static_cast<size_t>(room[rows])]);
  std::vector<int64_t> num_chosen(static_cast<size_t>(rows)), num_tokens(static_cast<size_t>(rows));
  const int64_t cost = 8 * (values.size / (rows + 1) + 1);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    WithTokenStarts(splits, axis, [&](auto token_start) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t i0 = splits.Descend(b, 0, axis), n = splits.Descend(b + 1, 0, axis) - i0;
        const uint8_t* const flags = selectable + i0;
        int64_t kept[2 * kKeptRuns];
        int64_t runs = 0, e = 0;
        ForEachZeroRun(flags, n, [&](int64_t i, int64_t count) {
          if (runs < kKeptRuns) {
            kept[2 * runs] = i;
            kept[2 * runs + 1] = count;
          }
          ++runs;
          e += count;
        });
        const int64_t num_selectable = n - e;
        RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
        const int64_t k = DrawSelectionCount(rng, num_selectable, selection);
        int64_t* const firsts = item_first.get() + room[b];
        int64_t* const lengths = item_length.get() + room[b];
        int64_t c = 0, m = 0;
        auto keep_item = [&](int64_t i) {
          const int64_t first = token_start(i0 + i), length = token_start(i0 + i + 1) - first;
          firsts[c] = first;
          lengths[c] = length;
          ++c;
          m += length;
        };
        // The chosen ranks, in increasing order, and their items.
        auto for_each_chosen_rank = [&](auto&& keep_rank) {
          if (k == num_selectable) {
            for (int64_t r = 0; r < k; ++r) keep_rank(r);
            return;
          }
          std::vector<uint64_t>& bits = ScratchBits(num_selectable);
          MarkUniformSubset(rng, num_selectable, k, bits);
          TakeSetBits(bits, num_selectable, keep_rank);
        };
        if (k > 0 && runs <= kKeptRuns) {
          RunsRanks item_of(kept, runs);
          for_each_chosen_rank([&](int64_t r) { keep_item(item_of(r)); });
        } else if (k > 0) {
          FlagsRanks item_of(flags, n);
          for_each_chosen_rank([&](int64_t r) { keep_item(item_of(r)); });
        }
        num_chosen[b] = c;
        num_tokens[b] = m;
      }
    });
  });
  std::vector<int64_t> offsets;
  const int64_t total = OutputOffsets(num_tokens, pad_length, &offsets);
  MaskOutputs<T, S> out;
  TF_MLM_RETURN_IF_ERROR(AllocateOutputs(allocate, offsets, total, dense, &out));
  const ValueChooser choose(value_opts);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      if (out.masked_values != values.data && t1 > t0) {
        std::memcpy(out.masked_values + t0, values.data + t0,
                    static_cast<size_t>(t1 - t0) * sizeof(T));
      }
      const int64_t j0 = offsets[b],
                    m = dense ? std::min(num_tokens[b], pad_length) : num_tokens[b];
      S* const row_positions = out.positions + j0;
      const int64_t* const firsts = item_first.get() + room[b];
      const int64_t* const lengths = item_length.get() + room[b];
      int64_t k = 0;
      for (int64_t c = 0; c < num_chosen[b] && k < m; ++c) {
        k = AppendItemPositions(row_positions, k, m, firsts[c] - t0, lengths[c]);
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

#endif  // TF_MLM_CC_CORE_WORD_PASS_H_

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

// What sweep 1 of MaskWords keeps of each row b: its chosen items' first
// tokens and lengths (room for min(cap, items) of them from room[b]: k never
// exceeds it), their number and their total token count.
struct ChosenWords {
  template <typename S>
  ChosenWords(const NestedSplits<S>& splits, int axis, int64_t max_selections)
      : room(static_cast<size_t>(splits.num_rows() + 1)),
        num_chosen(static_cast<size_t>(splits.num_rows())),
        num_tokens(static_cast<size_t>(splits.num_rows())) {
    const int64_t rows = splits.num_rows();
    room[0] = 0;
    for (int64_t b = 0; b < rows; ++b) {
      const int64_t n = splits.Descend(b + 1, 0, axis) - splits.Descend(b, 0, axis);
      room[b + 1] = room[b] + std::min(n, max_selections);
    }
    // Not zeroed: sweep 1 writes what sweep 2 reads.
    first.reset(new int64_t[static_cast<size_t>(room[rows])]);
    length.reset(new int64_t[static_cast<size_t>(room[rows])]);
  }

  // Row b's positions (tokens from row token t0), the first m of them
  // written to row_positions.
  template <typename S>
  void WritePositions(int64_t b, int64_t t0, int64_t m, S* row_positions) const {
    const int64_t* const firsts = first.get() + room[b];
    const int64_t* const lengths = length.get() + room[b];
    int64_t k = 0;
    for (int64_t c = 0; c < num_chosen[b] && k < m; ++c) {
      k = AppendItemPositions(row_positions, k, m, firsts[c] - t0, lengths[c]);
    }
  }

  std::vector<int64_t> room;
  std::unique_ptr<int64_t[]> first, length;
  std::vector<int64_t> num_chosen, num_tokens;
};

// Sweep 1 for row b, items [i0, i0 + n) with 0/1 `flags`: the runs of
// unselectable items (8 flags at a time; usually the words of the special
// tokens), hence the count k of items to select; the k chosen ranks
// (MarkUniformSubset's bitmap, walked a word at a time), each mapped to its
// item by stepping over the runs; the chosen items' first tokens
// (token_start) and lengths kept in `words`.
template <typename TokenStart>
void ChooseWordsInRow(const uint8_t* flags, int64_t i0, int64_t n, int64_t b,
                      const SelectionOptions& selection, const Seed& seed,
                      const TokenStart& token_start, ChosenWords* words) {
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
  int64_t* const firsts = words->first.get() + words->room[b];
  int64_t* const lengths = words->length.get() + words->room[b];
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
  words->num_chosen[b] = c;
  words->num_tokens[b] = m;
}

// The fused pass when items are above tokens (whole words: axis < ragged
// rank), given ComputeSelectable's 0/1 flags, in two sweeps over the rows:
//  1. per row: the chosen items, their first tokens and lengths, their
//     lengths summed into the row's m (ChooseWordsInRow);
//  2. per row, after allocation: copy the row, write the kept items'
//     positions (the first pad_length when dense), then ids and values
//     (RowWriter).
// Same draws as SelectInRow and ChooseValues, so the outputs equal the
// composed path's bit for bit; no pass over the flags after the first.
template <typename T, typename S>
Status MaskWords(Span<T> values, const NestedSplits<S>& splits, int axis, const uint8_t* selectable,
                 const SelectionOptions& selection, const ValueOptions& value_opts,
                 const Seed& seed, const AllocateMaskOutputs<T, S>& allocate,
                 const ParallelFor& parallel_for, int64_t pad_length) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  ChosenWords words(splits, axis, selection.max_selections);
  const int64_t cost = 8 * (values.size / (rows + 1) + 1);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    WithTokenStarts(splits, axis, [&](auto token_start) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t i0 = splits.Descend(b, 0, axis), n = splits.Descend(b + 1, 0, axis) - i0;
        ChooseWordsInRow(selectable + i0, i0, n, b, selection, seed, token_start, &words);
      }
    });
  });
  std::vector<int64_t> offsets;
  const int64_t total = OutputOffsets(words.num_tokens, pad_length, &offsets);
  MaskOutputs<T, S> out;
  TF_MLM_RETURN_IF_ERROR(AllocateOutputs(allocate, offsets, total, pad_length >= 0, &out));
  const RowWriter<T, S> writer(values, out, value_opts, seed, pad_length);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      writer.CopyRow(t0, t1);
      const int64_t m = writer.Recorded(words.num_tokens[b]);
      words.WritePositions(b, t0, m, out.positions + offsets[b]);
      writer.FinishRow(b, t0, offsets[b], m);
    }
  });
  return Status::Ok();
}

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_WORD_PASS_H_

// Selection: how many items of a row are chosen, and which (uniform
// subsets without replacement, Bernoulli counts, first / last n).
#ifndef TF_MLM_CC_CORE_SELECTION_H_
#define TF_MLM_CC_CORE_SELECTION_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/bits.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/status.h"

namespace tf_mlm {

// Number of items to select in a row with `num_selectable` selectable items
// in exact-count mode: min(ceil(num_selectable * rate), cap), computed in
// float32 like tensorflow_text so that the counts agree bit for bit.
inline int64_t ExactSelectionCount(int64_t num_selectable, const SelectionOptions& o) {
  const float want = std::ceil(static_cast<float>(num_selectable) * o.selection_rate);
  if (!(want < static_cast<float>(o.max_selections))) {
    // The cap, but never more than there are (float32 may round the cap).
    return o.max_selections < num_selectable ? o.max_selections : num_selectable;
  }
  const int64_t k = static_cast<int64_t>(want);
  return k < num_selectable ? k : num_selectable;
}

namespace internal {

// Marks `k` of the ranks [0, n) uniformly without replacement in `bits`
// (which must be clear on entry). Draws about min(k, n - k) bounded integers.
inline void MarkUniformSubset(RowStream& rng, int64_t n, int64_t k, std::vector<uint64_t>& bits) {
  const bool complement = k > n / 2;
  const int64_t draws = complement ? n - k : k;
  // About draws * draws / (2n) ranks are drawn twice.
  if (draws > 0) rng.ExpectWords(draws + draws * draws / (2 * n) + 2);
  if (n <= 0xFFFFFFFFLL) {
    // RowStream::Bounded(n) over the stream's buffered words, word after
    // word (the same words, so the same subset): Lemire's multiply, a draw
    // rejected when the low half is below (2^32 - n) mod n; a rank already
    // marked is drawn again.
    const uint32_t n32 = static_cast<uint32_t>(n);
    const uint32_t reject_below = static_cast<uint32_t>(0u - n32) % n32;
    uint64_t* b = bits.data();
    for (int64_t got = 0; got < draws;) {
      int available = 0;
      const uint32_t* words = rng.Buffered(&available);
      int used = 0;
      for (; used < available && got < draws; ++used) {
        const uint64_t m = static_cast<uint64_t>(words[used]) * n32;
        if (static_cast<uint32_t>(m) < reject_below) continue;
        const uint64_t r = m >> 32;
        const uint64_t bit = uint64_t{1} << (r & 63);
        got += (b[r >> 6] & bit) == 0;
        b[r >> 6] |= bit;
      }
      rng.Advance(used);
    }
  } else {
    for (int64_t got = 0; got < draws;) {
      const int64_t r = static_cast<int64_t>(rng.Bounded(static_cast<uint64_t>(n)));
      if (!TestBit(bits, r)) {
        SetBit(bits, r);
        ++got;
      }
    }
  }
  if (complement) {
    const int64_t words = (n + 63) / 64;
    for (int64_t w = 0; w < words; ++w) bits[w] = ~bits[w];
    if (n % 64) bits[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
  }
}

}  // namespace internal

// How many of a row's `num_selectable` items to select. Exact-count mode
// draws nothing; Bernoulli mode draws exactly num_selectable words (so a
// caller may replay it with RowStream::Skip): a Binomial(num_selectable,
// rate) count. Given its count a Bernoulli selection is a uniform subset, so
// drawing that subset next is the same law as independent per-item coins.
inline int64_t DrawSelectionCount(RowStream& rng, int64_t num_selectable,
                                  const SelectionOptions& o) {
  if (o.mode == SelectionMode::kExactCount) return ExactSelectionCount(num_selectable, o);
  int64_t k = 0;
  const uint64_t below = UnitThreshold(o.selection_rate);
  rng.ExpectWords(num_selectable);
  for (int64_t i = 0; i < num_selectable; ++i) k += rng.NextU32() < below;
  return k > o.max_selections ? o.max_selections : k;
}

// Chooses items in one row. `selectable[i]` (0/1) for the row's `n` items;
// writes chosen[i] = 1 for the selected items and 0 elsewhere (`chosen` may
// alias `selectable`). Returns the number of items chosen.
inline int64_t SelectInRow(RowStream& rng, const uint8_t* selectable, uint8_t* chosen, int64_t n,
                           const SelectionOptions& o) {
  int64_t num_selectable = 0;
  for (int64_t i = 0; i < n; ++i) num_selectable += selectable[i] != 0;
  const int64_t k = DrawSelectionCount(rng, num_selectable, o);
  if (k <= 0) {
    if (n > 0) std::memset(chosen, 0, static_cast<size_t>(n));  // chosen may be null when n == 0
    return 0;
  }
  if (k == num_selectable) {
    for (int64_t i = 0; i < n; ++i) chosen[i] = selectable[i] != 0;
    return k;
  }
  // One spare word: the 8-bit reads below may straddle the last word.
  std::vector<uint64_t>& bits = internal::ScratchBits(num_selectable + 64);
  internal::MarkUniformSubset(rng, num_selectable, k, bits);
  // Eight items at a time where all are selectable (the usual case): their
  // chosen flags are the next 8 bits of the bitmap, spread into bytes.
  auto next_8_bits = [&](int64_t r) -> uint64_t {
    const int64_t w = r >> 6;
    const int shift = static_cast<int>(r & 63);
    uint64_t x = bits[w] >> shift;
    if (shift > 56) x |= bits[w + 1] << (64 - shift);
    return x & 0xFF;
  };
  constexpr uint64_t kAllSelectable = 0x0101010101010101ULL;
  int64_t rank = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t block;
    std::memcpy(&block, selectable + i, 8);
    if (internal::kLittleEndian && block == kAllSelectable) {
      const uint64_t flags = internal::kBitsToBytes[next_8_bits(rank)];
      std::memcpy(chosen + i, &flags, 8);
      rank += 8;
      continue;
    }
    for (int64_t j = i; j < i + 8; ++j) {
      if (selectable[j]) {
        chosen[j] = internal::TestBit(bits, rank) ? 1 : 0;
        ++rank;
      } else {
        chosen[j] = 0;
      }
    }
  }
  for (; i < n; ++i) {
    if (selectable[i]) {
      chosen[i] = internal::TestBit(bits, rank) ? 1 : 0;
      ++rank;
    } else {
      chosen[i] = 0;
    }
  }
  std::memset(bits.data(), 0, static_cast<size_t>((num_selectable + 63) / 64) * 8);
  return k;
}

// Random selection on a rank-2 partition rows -> items (`item_splits`).
// `chosen` may alias `selectable`.
template <typename S>
Status SelectItems(Span<S> item_splits, const uint8_t* selectable, uint8_t* chosen,
                   const SelectionOptions& o, const Seed& seed, const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateSelectionOptions(o));
  const int64_t rows = item_splits.size - 1;
  const int64_t cost = 8 * (item_splits[rows] / (rows + 1) + 1);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
      const int64_t i0 = item_splits[b], i1 = item_splits[b + 1];
      SelectInRow(rng, selectable + i0, chosen + i0, i1 - i0, o);
    }
  });
  return Status::Ok();
}

// Counts for SelectFirstN: one for every row, or one per row (as
// tensorflow_text broadcasts `num_to_select`), each >= 0.
template <typename S>
Status ValidateFirstNCounts(Span<S> item_splits, Span<int64_t> counts) {
  const int64_t rows = item_splits.size - 1;
  if (counts.size != 1 && counts.size != rows) {
    return Status::Invalid("num_to_select must hold one count or one per row (" +
                           std::to_string(rows) + "), got " + std::to_string(counts.size));
  }
  for (int64_t i = 0; i < counts.size; ++i) {
    if (counts[i] < 0) {
      return Status::Invalid("num_to_select must be >= 0, got " + std::to_string(counts[i]));
    }
  }
  return Status::Ok();
}

// First (or, with reverse, last) `counts` selectable items of each row;
// `counts` as ValidateFirstNCounts accepts it.
template <typename S>
void SelectFirstN(Span<S> item_splits, const uint8_t* selectable, uint8_t* chosen,
                  Span<int64_t> counts, bool reverse) {
  const int64_t rows = item_splits.size - 1;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t i0 = item_splits[b], i1 = item_splits[b + 1];
    int64_t left = counts[counts.size == 1 ? 0 : b];
    if (!reverse) {
      for (int64_t i = i0; i < i1; ++i) {
        chosen[i] = selectable[i] && left > 0;
        left -= chosen[i];
      }
    } else {
      for (int64_t i = i1 - 1; i >= i0; --i) {
        chosen[i] = selectable[i] && left > 0;
        left -= chosen[i];
      }
    }
  }
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_SELECTION_H_

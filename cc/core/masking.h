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
#ifndef TF_MLM_CC_CORE_MASKING_H_
#define TF_MLM_CC_CORE_MASKING_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cc/core/id_set.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/replacement.h"
#include "cc/core/status.h"

namespace tf_mlm {

// Runs fn(begin, end) over [0, n) in shards; `cost_per_unit` is a rough
// number of cycles per unit. The TF adapter maps this onto the intra-op
// thread pool; results never depend on how the range is split.
using ParallelFor =
    std::function<void(int64_t n, int64_t cost_per_unit,
                       const std::function<void(int64_t, int64_t)>& fn)>;

inline void SerialFor(int64_t n, int64_t /*cost_per_unit*/,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 0) fn(0, n);
}

enum class SelectionMode {
  // tensorflow_text: exactly min(ceil(selectable * rate), cap) items per row,
  // uniformly without replacement.
  kExactCount = 0,
  // HuggingFace: each selectable item independently with probability rate;
  // if more than `cap` are drawn, a uniform subset of `cap` of them is kept.
  kBernoulli = 1,
};

struct SelectionOptions {
  float selection_rate = 0.15f;
  int64_t max_selections = std::numeric_limits<int64_t>::max();
  SelectionMode mode = SelectionMode::kExactCount;
};

struct ValueOptions {
  float mask_token_rate = 0.8f;
  float random_token_rate = 0.1f;
  int64_t vocab_size = 1;
  int64_t mask_token = 0;
  ReplacementOptions replacement;  // default: uniform over [0, vocab_size)
};

inline bool IsUnitRate(float r) { return std::isfinite(r) && r >= 0.0f && r <= 1.0f; }

// A selection rate above 1 selects every selectable item, as in
// tensorflow_text (its count ceil(n * rate) is then at least n).
inline Status ValidateSelectionOptions(const SelectionOptions& o) {
  if (!(std::isfinite(o.selection_rate) && o.selection_rate >= 0.0f)) {
    return Status::Invalid("selection_rate must be a finite number >= 0, got " +
                           std::to_string(o.selection_rate));
  }
  if (o.max_selections < 0) {
    return Status::Invalid("max_selections_per_batch must be >= 0, got " +
                           std::to_string(o.max_selections));
  }
  return Status::Ok();
}

inline Status ValidateValueOptions(const ValueOptions& o) {
  if (!IsUnitRate(o.mask_token_rate)) {
    return Status::Invalid("mask_token_rate must be a finite number in [0, 1], got " +
                           std::to_string(o.mask_token_rate));
  }
  if (!IsUnitRate(o.random_token_rate)) {
    return Status::Invalid("random_token_rate must be a finite number in [0, 1], got " +
                           std::to_string(o.random_token_rate));
  }
  // Same float32 sum as tensorflow_text's check.
  if (o.mask_token_rate + o.random_token_rate > 1.0f) {
    return Status::Invalid("mask_token_rate + random_token_rate must be <= 1, got " +
                           std::to_string(o.mask_token_rate) + " + " +
                           std::to_string(o.random_token_rate));
  }
  if (o.vocab_size < 1) {
    return Status::Invalid("vocab_size must be >= 1, got " + std::to_string(o.vocab_size));
  }
  // mask_token may lie outside [0, vocab_size) (e.g. a [MASK] id appended
  // after the ids random replacement draws from), as in tensorflow_text;
  // ValidateValuesFitIds checks that the id dtype holds it.
  return ValidateReplacementOptions(o.replacement, o.vocab_size);
}

// Ids of dtype T must hold mask_token and every id in [0, vocab_size):
// otherwise they would be truncated into other (even negative) ids.
template <typename T>
Status ValidateValuesFitIds(const ValueOptions& o) {
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<T>::max()) + 1;
  const std::string dtype = std::to_string(8 * sizeof(T)) + "-bit";
  if (o.vocab_size > 0 && static_cast<uint64_t>(o.vocab_size) > limit) {
    return Status::Invalid("vocab_size must be <= " + std::to_string(limit) + " for ids of " +
                           dtype + " dtype, got " + std::to_string(o.vocab_size));
  }
  if (o.mask_token < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      o.mask_token > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    return Status::Invalid("mask_token must fit in ids of " + dtype + " dtype, got " +
                           std::to_string(o.mask_token));
  }
  return Status::Ok();
}

inline Status ValidateAxis(int axis, int ragged_rank) {
  if (axis < 1 || axis > ragged_rank) {
    return Status::Invalid("axis must be in [1, " + std::to_string(ragged_rank) +
                           "] for an input of ragged rank " + std::to_string(ragged_rank) +
                           ", got " + std::to_string(axis));
  }
  return Status::Ok();
}

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

// Per-thread scratch bitmap, grown on demand and cleared by its user, so the
// per-row selection never allocates.
inline std::vector<uint64_t>& ScratchBits(int64_t num_bits) {
  thread_local std::vector<uint64_t> bits;
  const size_t words = static_cast<size_t>((num_bits + 63) / 64);
  if (bits.size() < words) bits.resize(words, 0);
  return bits;
}

inline bool TestBit(const std::vector<uint64_t>& b, int64_t i) { return (b[i >> 6] >> (i & 63)) & 1; }
inline void SetBit(std::vector<uint64_t>& b, int64_t i) { b[i >> 6] |= uint64_t{1} << (i & 63); }

// kBitsToBytes[x]: byte j is bit j of x (0 or 1).
struct BitsToBytesTable {
  uint64_t v[256];
  constexpr BitsToBytesTable() : v() {
    for (int x = 0; x < 256; ++x) {
      uint64_t bytes = 0;
      for (int j = 0; j < 8; ++j) bytes |= static_cast<uint64_t>((x >> j) & 1) << (8 * j);
      v[x] = bytes;
    }
  }
  constexpr uint64_t operator[](uint64_t x) const { return v[x]; }
};
inline constexpr BitsToBytesTable kBitsToBytes{};

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

// The smallest integer x with (u < x  <=>  u * 2^-32 < p) for every 32-bit u:
// comparing a raw draw with x decides exactly like comparing NextUnit() with
// p, without converting every draw to floating point.
inline uint64_t UnitThreshold(double p) {
  if (!(p > 0.0)) return 0;
  if (p >= 1.0) return uint64_t{1} << 32;
  return static_cast<uint64_t>(std::ceil(p * 4294967296.0));
}

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
  constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;  // byte j = bits 8j..
  int64_t rank = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t block;
    std::memcpy(&block, selectable + i, 8);
    if (kLittleEndian && block == kAllSelectable) {
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

// The value a selected token gets: mask_token with probability
// mask_token_rate, a replacement id (uniform in [0, vocab_size) by default, see
// replacement.h) with probability
// random_token_rate, otherwise its own id. Built once per call.
class ValueChooser {
 public:
  explicit ValueChooser(const ValueOptions& o)
      : mask_below_(UnitThreshold(o.mask_token_rate)),
        random_below_(UnitThreshold(static_cast<double>(o.mask_token_rate) +
                                    static_cast<double>(o.random_token_rate))),
        replacement_(o.vocab_size, o.replacement),
        mask_token_(o.mask_token),
        // A random token costs one more word, two with an alias table.
        extra_words_per_token_(std::min(1.0, std::max(0.0, static_cast<double>(o.random_token_rate))) *
                               (o.replacement.alias_prob.size > 0 ? 2.0 : 1.0)) {}

  // The value stream of batch row `row`, which is about to choose the values
  // of `tokens` tokens (its first refill sized for them).
  RowStream Stream(const Seed& seed, int64_t row, int64_t tokens) const {
    RowStream rng(seed, Domain::kValues, static_cast<uint64_t>(row));
    rng.ExpectWords(ExpectedWords(tokens));
    return rng;
  }

  template <typename T>
  T operator()(RowStream& rng, T original) const {
    const uint64_t u = rng.NextU32();
    if (u < mask_below_) return static_cast<T>(mask_token_);
    if (u < random_below_) return static_cast<T>(replacement_(rng));
    return original;
  }

  // The values of one row's m masked tokens, in order: for q < m, with
  // p = positions[q], records masked_ids[q] = row[p] and writes the chosen
  // value to row_out[p] (row_out may be row). The same draws as m calls of
  // operator(). With the default uniform replacement the decision and the
  // replacement's draw are read straight from the stream's buffer, with no
  // call and no refill check per token.
  template <typename T, typename S>
  void ChooseRow(RowStream& rng, const T* row, const S* positions, int64_t m, T* masked_ids,
                 T* row_out) const {
    // Token q the general way: operator() draws (and refills) as it needs.
    auto choose_one = [&](int64_t q) {
      const S p = positions[q];
      masked_ids[q] = row[p];
      row_out[p] = (*this)(rng, row[p]);
    };
    int64_t q = 0;
    if (replacement_.IsUniform32()) {
      const uint32_t vocab = static_cast<uint32_t>(replacement_.vocab_size());
      const uint32_t reject_below = static_cast<uint32_t>(0u - vocab) % vocab;
      const T mask = static_cast<T>(mask_token_);
      while (q < m) {
        int available = 0;
        const uint32_t* words = rng.Buffered(&available);
        int used = 0;
        // A token takes one word, or two when replaced: stop while two
        // remain, or at a replacement draw Lemire's method rejects.
        for (; q < m && used + 2 <= available; ++q) {
          const uint64_t u = words[used];
          const uint64_t product = static_cast<uint64_t>(words[used + 1]) * vocab;
          const bool masked = u < mask_below_;
          const bool random = !masked && u < random_below_;
          if (random && static_cast<uint32_t>(product) < reject_below) break;
          const S p = positions[q];
          const T original = row[p];
          masked_ids[q] = original;
          const T kept_or_random = random ? static_cast<T>(product >> 32) : original;
          row_out[p] = masked ? mask : kept_or_random;
          used += 1 + static_cast<int>(random);
        }
        rng.Advance(used);
        if (q < m) choose_one(q++);  // refills the buffer
      }
    }
    for (; q < m; ++q) choose_one(q);
  }

 private:
  // About how many words choosing `tokens` values draws.
  int64_t ExpectedWords(int64_t tokens) const {
    return tokens + static_cast<int64_t>(static_cast<double>(tokens) * extra_words_per_token_) + 2;
  }

  uint64_t mask_below_, random_below_;
  ReplacementSampler replacement_;
  int64_t mask_token_;
  double extra_words_per_token_;
};

template <typename T>
inline T ChooseValue(RowStream& rng, T original, const ValueOptions& o) {
  return ValueChooser(o)(rng, original);
}

// Number of items (elements at level `axis`).
template <typename S>
int64_t NumItems(const NestedSplits<S>& splits, int64_t num_values, int axis) {
  return axis == splits.ragged_rank() ? num_values : splits.levels[axis].size - 1;
}

// selectable[i] = 1 iff no token of item i is in `unselectable` (an item with
// no tokens is selectable, as reduce_all over nothing is true). Row by row:
// every item starts selectable, then the vector scan finds the runs of
// unselectable tokens (usually a few special tokens per row) and each run
// clears the items it falls in, found by binary search up the levels.
template <typename T, typename S>
void ComputeSelectable(Span<T> values, const NestedSplits<S>& splits, int axis,
                       const IdSet& unselectable, uint8_t* selectable,
                       const ParallelFor& parallel_for) {
  const int rank = splits.ragged_rank();
  const int64_t num_items = NumItems(splits, values.size, axis);
  // Guarded: memset on a null pointer (an empty output) is undefined even for 0 bytes.
  if (num_items > 0) std::memset(selectable, 1, static_cast<size_t>(num_items));
  if (unselectable.empty() || num_items == 0) return;
  // The item (element at level `axis`) that holds token t.
  auto item_of = [&](int64_t t) {
    for (int l = rank - 1; l >= axis; --l) {
      const Span<S>& level = splits.levels[l];
      t = (std::upper_bound(level.data, level.data + level.size, static_cast<S>(t)) - level.data) - 1;
    }
    return t;
  };
  const int64_t rows = splits.num_rows();
  parallel_for(rows, 2 * (values.size / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      unselectable.ForEachMemberRun(values.data + t0, t1 - t0, [&](int64_t i, int64_t count) {
        const int64_t first = t0 + i, last = first + count;  // tokens [first, last)
        if (axis == rank) {
          std::memset(selectable + first, 0, static_cast<size_t>(count));
          return;
        }
        // Items with tokens in [first, last): from the one holding `first`,
        // forward while they start before `last`; empty items in between
        // hold none of them and stay selectable.
        const int64_t holder = item_of(first);
        int64_t start = splits.Descend(holder, axis, rank);
        for (int64_t item = holder; item < num_items && start < last; ++item) {
          const int64_t next = splits.Descend(item + 1, axis, rank);
          if (next > start) selectable[item] = 0;
          start = next;
        }
      });
    }
  });
}

// Random selection on a rank-2 partition rows -> items (`item_splits`).
// `chosen` may alias `selectable`.
template <typename S>
void SelectItems(Span<S> item_splits, const uint8_t* selectable, uint8_t* chosen,
                 const SelectionOptions& o, const Seed& seed, const ParallelFor& parallel_for) {
  const int64_t rows = item_splits.size - 1;
  const int64_t cost = 8 * (item_splits[rows] / (rows + 1) + 1);
  parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
      const int64_t i0 = item_splits[b], i1 = item_splits[b + 1];
      SelectInRow(rng, selectable + i0, chosen + i0, i1 - i0, o);
    }
  });
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

// Value choice for the selected tokens, given as a rank-2 ragged tensor
// rows -> selected ids (`row_splits`, `ids`). Row b draws from its own
// stream in order, exactly as the fused pass does.
template <typename T, typename S>
void ChooseValues(Span<T> ids, Span<S> row_splits, const ValueOptions& o, const Seed& seed,
                  T* out, const ParallelFor& parallel_for) {
  const int64_t rows = row_splits.size - 1;
  const ValueChooser choose(o);
  parallel_for(rows, 16 * (ids.size / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      RowStream rng = choose.Stream(seed, b, static_cast<int64_t>(row_splits[b + 1] - row_splits[b]));
      for (int64_t j = row_splits[b]; j < row_splits[b + 1]; ++j) out[j] = choose(rng, ids[j]);
    }
  });
}

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

// Calls fn(i) for every i in [begin, end) with flags[i] != 0, in order.
// Eight flags at a time: their nonzero bytes are gathered into an 8-bit mask
// (byte j -> bit j, little-endian) whose set bits are visited, so unchosen
// items (the large majority) cost no branch each.
template <typename Fn>
inline void ForEachFlagged(const uint8_t* flags, int64_t begin, int64_t end, Fn&& fn) {
  constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  int64_t i = begin;
  for (; kLittleEndian && i + 8 <= end; i += 8) {
    uint64_t word;
    std::memcpy(&word, flags + i, 8);
    if (word == 0) continue;
    word |= word >> 4;  // bit 8j: any bit of byte j
    word |= word >> 2;
    word |= word >> 1;
    word &= 0x0101010101010101ULL;
    uint32_t mask = static_cast<uint32_t>((word * 0x0102040810204080ULL) >> 56);
    while (mask != 0) {
      fn(i + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
  for (; i < end; ++i) {
    if (flags[i]) fn(i);
  }
}

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
inline void FinishDenseRow(const MaskOutputs<T, S>& out, int64_t first, int64_t m, int64_t pad_length) {
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
Status AllocateOutputs(const AllocateMaskOutputs<T, S>& allocate, const std::vector<int64_t>& offsets,
                       int64_t total, bool dense, MaskOutputs<T, S>* out) {
  TF_MLM_RETURN_IF_ERROR(allocate(total, out));
  if (!dense && out->position_splits != nullptr) {
    const int64_t rows = static_cast<int64_t>(offsets.size());
    for (int64_t b = 0; b < rows; ++b) out->position_splits[b] = static_cast<S>(offsets[b]);
    out->position_splits[rows] = static_cast<S>(total);
  }
  return Status::Ok();
}

// Up to this many runs of unselectable elements are kept per row by the
// fused passes (RunsRanks); a row with more falls back to flags (FlagsRanks).
constexpr int64_t kKeptRuns = 8;

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
        const int64_t i0 = splits.Descend(b, 0, mask_level), i1 = splits.Descend(b + 1, 0, mask_level);
        // Any nonzero byte counts once: a caller's bool bytes may be other
        // than 0/1 (a TF bool tensor made from a NumPy uint8 view); summing
        // them as-is would size the outputs beyond what pass 2 writes.
        int64_t m = 0;
        ForEachFlagged(chosen, i0, i1, [&](int64_t i) { m += token_start(i + 1) - token_start(i); });
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
        const int64_t i0 = splits.Descend(b, 0, mask_level), i1 = splits.Descend(b + 1, 0, mask_level);
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

// Number of 1 bytes among flags[i..i+8) (flags hold 0/1 bytes): the byte
// sum, gathered into the top byte by one multiplication.
inline int CountFlags8(const uint8_t* flags) {
  uint64_t word;
  std::memcpy(&word, flags, 8);
  return static_cast<int>((word * 0x0101010101010101ULL) >> 56);
}

// Calls on_bit(i) for every set bit i of bits[0 .. (num_bits + 63) / 64), in
// increasing order, clearing the words it reads (so a scratch bitmap is
// ready for its next user).
template <typename F>
inline void TakeSetBits(std::vector<uint64_t>& bits, int64_t num_bits, F&& on_bit) {
  const int64_t words = (num_bits + 63) / 64;
  for (int64_t w = 0; w < words; ++w) {
    uint64_t word = bits[w];
    bits[w] = 0;
    while (word) {
      on_bit(w * 64 + __builtin_ctzll(word));
      word &= word - 1;
    }
  }
}

// Maps increasing ranks among a row's selectable elements to the elements'
// indices in the row: the rank plus the unselectable elements before it.
// Two ways, by how the unselectable elements are known:
//  - RunsRanks: as a few runs, (first, length) pairs in order: each run at or
//    before the candidate is stepped over once (O(1) per rank);
//  - FlagsRanks: as 0/1 flags[0, n) (many runs): counted 8 flags at a time.
class RunsRanks {
 public:
  RunsRanks(const int64_t* runs, int64_t num_runs) : runs_(runs), num_runs_(num_runs) {}
  int64_t operator()(int64_t r) {
    int64_t i = r + skipped_;
    while (passed_ < num_runs_ && runs_[2 * passed_] <= i) {
      skipped_ += runs_[2 * passed_ + 1];
      i += runs_[2 * passed_ + 1];
      ++passed_;
    }
    return i;
  }

 private:
  const int64_t* runs_;
  int64_t num_runs_, passed_ = 0, skipped_ = 0;
};

class FlagsRanks {
 public:
  FlagsRanks(const uint8_t* flags, int64_t n) : flags_(flags), n_(n) {}
  int64_t operator()(int64_t r) {
    while (i_ + 8 <= n_) {
      const int count = CountFlags8(flags_ + i_);
      if (rank_at_i_ + count > r) break;
      rank_at_i_ += count;
      i_ += 8;
    }
    while (!flags_[i_] || rank_at_i_ != r) {
      rank_at_i_ += flags_[i_];
      ++i_;
    }
    ++rank_at_i_;
    return i_++;
  }

 private:
  const uint8_t* flags_;
  int64_t n_, i_ = 0, rank_at_i_ = 0;  // rank_at_i_: selectable elements in [0, i_)
};

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
  std::vector<int64_t> num_runs(static_cast<size_t>(rows)), num_unselectable(static_cast<size_t>(rows)),
      counts(static_cast<size_t>(rows));
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
        std::memcpy(out.masked_values + t0, values.data + t0, static_cast<size_t>(t1 - t0) * sizeof(T));
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

// Calls on_run(i, count) for each run of zero bytes flags[i, i + count) in
// flags[0, n), in order; 8 bytes at a time while they are all 1.
template <typename F>
inline void ForEachZeroRun(const uint8_t* flags, int64_t n, F&& on_run) {
  constexpr uint64_t kAllOnes = 0x0101010101010101ULL;
  int64_t i = 0;
  while (i < n) {
    uint64_t block;
    while (i + 8 <= n && (std::memcpy(&block, flags + i, 8), block == kAllOnes)) i += 8;
    if (i == n) break;
    if (flags[i] != 0) {
      ++i;
      continue;
    }
    int64_t j = i + 1;
    while (j < n && flags[j] == 0) ++j;
    on_run(i, j - i);
    i = j;
  }
}

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
      const int64_t j0 = offsets[b], m = dense ? std::min(num_tokens[b], pad_length) : num_tokens[b];
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

// The fused pass: select items of every row (selectability from
// `unselectable`), then for every token of the chosen items record its
// position and original id and write its new value. One read of the input,
// each output written once. pad_length >= 0 gives dense [rows, pad_length]
// positions / ids / weights (see internal::EmitMasked).
template <typename T, typename S>
Status MaskLanguageModel(Span<T> values, const NestedSplits<S>& splits, int axis,
                         const IdSet& unselectable, const SelectionOptions& selection,
                         const ValueOptions& value_opts, const Seed& seed,
                         const AllocateMaskOutputs<T, S>& allocate,
                         const ParallelFor& parallel_for, int64_t pad_length = -1) {
  TF_MLM_RETURN_IF_ERROR(ValidateAxis(axis, splits.ragged_rank()));
  TF_MLM_RETURN_IF_ERROR(ValidateSelectionOptions(selection));
  TF_MLM_RETURN_IF_ERROR(ValidateValueOptions(value_opts));
  TF_MLM_RETURN_IF_ERROR(ValidateValuesFitIds<T>(value_opts));
  if (axis == splits.ragged_rank()) {
    return internal::MaskTokens(values, splits, unselectable, selection, value_opts, seed,
                                allocate, parallel_for, pad_length);
  }
  const int64_t num_items = NumItems(splits, values.size, axis);
  std::vector<uint8_t> flags(static_cast<size_t>(num_items));
  ComputeSelectable(values, splits, axis, unselectable, flags.data(), parallel_for);
  return internal::MaskWords(values, splits, axis, flags.data(), selection, value_opts, seed,
                             allocate, parallel_for, pad_length);
}

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
  if (out != values.data && values.size > 0) std::memcpy(out, values.data, static_cast<size_t>(values.size) * sizeof(T));
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

#endif  // TF_MLM_CC_CORE_MASKING_H_

// Value choice: what a selected token becomes (the mask id, a replacement
// id, or itself), drawn per row.
#ifndef TF_MLM_CC_CORE_VALUES_H_
#define TF_MLM_CC_CORE_VALUES_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/replacement.h"

namespace tf_mlm {

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
        extra_words_per_token_(
            std::min(1.0, std::max(0.0, static_cast<double>(o.random_token_rate))) *
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

namespace internal {

// ChooseValues with options already validated.
template <typename T, typename S>
void ChooseValueRows(Span<T> ids, Span<S> row_splits, const ValueOptions& o, const Seed& seed,
                     T* out, const ParallelFor& parallel_for) {
  const int64_t rows = row_splits.size - 1;
  const ValueChooser choose(o);
  parallel_for(rows, 16 * (ids.size / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      RowStream rng =
          choose.Stream(seed, b, static_cast<int64_t>(row_splits[b + 1] - row_splits[b]));
      for (int64_t j = row_splits[b]; j < row_splits[b + 1]; ++j) out[j] = choose(rng, ids[j]);
    }
  });
}

}  // namespace internal

// Value choice for the selected tokens, given as a rank-2 ragged tensor
// rows -> selected ids (`row_splits`, `ids`). Row b draws from its own
// stream in order, exactly as the fused pass does.
template <typename T, typename S>
Status ChooseValues(Span<T> ids, Span<S> row_splits, const ValueOptions& o, const Seed& seed,
                    T* out, const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateValueOptions(o));
  TF_MLM_RETURN_IF_ERROR(ValidateValuesFitIds<T>(o));
  internal::ChooseValueRows(ids, row_splits, o, seed, out, parallel_for);
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_VALUES_H_

// How random replacement ids are drawn (MaskValuesChooser's "random token"
// branch): uniform over [0, vocab_size) by default, optionally excluding a
// set of ids (special tokens), or from a frequency table (fairseq's
// freq_weighted_replacement) through Walker/Vose alias tables: O(1) per draw
// after an O(V) build done once per table.
#ifndef TF_MLM_CC_CORE_REPLACEMENT_H_
#define TF_MLM_CC_CORE_REPLACEMENT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/status.h"

namespace tf_mlm {

// Builds alias tables for drawing i with probability weights[i] / sum:
// draw i uniformly, keep it with probability prob[i], else take alias[i].
template <typename W>
Status BuildAliasTable(Span<W> weights, float* prob, int64_t* alias) {
  const int64_t n = weights.size;
  if (n < 1) return Status::Invalid("the frequency table must not be empty");
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = static_cast<double>(weights[i]);
    if (!std::isfinite(w) || w < 0) {
      return Status::Invalid("frequency table entries must be finite and >= 0, entry " +
                             std::to_string(i) + " is " + std::to_string(w));
    }
    total += w;
  }
  if (!(total > 0) || !std::isfinite(total)) {
    return Status::Invalid("the frequency table must have a positive, finite sum");
  }
  // Vose: scaled[i] = n * p_i; pair each under-full slot with an over-full one.
  std::vector<double> scaled(static_cast<size_t>(n));
  std::vector<int64_t> small, large;
  for (int64_t i = 0; i < n; ++i) {
    scaled[i] = static_cast<double>(weights[i]) * static_cast<double>(n) / total;
    (scaled[i] < 1.0 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const int64_t s = small.back(), l = large.back();
    small.pop_back();
    prob[s] = static_cast<float>(scaled[s]);
    alias[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are full up to rounding.
  for (int64_t i : large) prob[i] = 1.0f, alias[i] = i;
  for (int64_t i : small) prob[i] = 1.0f, alias[i] = i;
  return Status::Ok();
}

// The replacement law. Spans point at caller-owned data that outlives it.
struct ReplacementOptions {
  Span<int64_t> excluded;     // sorted, unique, within [0, vocab_size)
  Span<float> alias_prob;     // empty, or vocab_size entries in [0, 1]
  Span<int64_t> alias_index;  // same length as alias_prob, within [0, vocab_size)
};

inline Status ValidateReplacementOptions(const ReplacementOptions& r, int64_t vocab_size) {
  for (int64_t i = 0; i < r.excluded.size; ++i) {
    const int64_t id = r.excluded[i];
    if (id < 0 || id >= vocab_size) {
      return Status::Invalid("excluded ids must be in [0, vocab_size), got " + std::to_string(id));
    }
    if (i > 0 && id <= r.excluded[i - 1]) {
      return Status::Invalid("excluded ids must be sorted and unique");
    }
  }
  if (r.excluded.size >= vocab_size) {
    return Status::Invalid("excluded ids leave no id to draw random replacements from");
  }
  if (r.alias_prob.size != r.alias_index.size) {
    return Status::Invalid("alias_prob and alias_index must have the same length");
  }
  if (r.alias_prob.size != 0 && r.alias_prob.size != vocab_size) {
    return Status::Invalid("the frequency table must have vocab_size (" +
                           std::to_string(vocab_size) + ") entries, got " +
                           std::to_string(r.alias_prob.size));
  }
  for (int64_t i = 0; i < r.alias_prob.size; ++i) {
    const float p = r.alias_prob[i];
    const int64_t a = r.alias_index[i];
    if (!(p >= 0.0f && p <= 1.0f) || a < 0 || a >= vocab_size) {
      return Status::Invalid("malformed alias table at entry " + std::to_string(i));
    }
  }
  return Status::Ok();
}

// A replacement law's tables, owned: what BuildReplacementTables makes, and
// what the Python module copies its arguments into.
struct ReplacementTables {
  std::vector<int64_t> excluded;
  std::vector<float> alias_prob;
  std::vector<int64_t> alias_index;

  ReplacementOptions View() const {
    ReplacementOptions r;
    r.excluded = Span<int64_t>{excluded.data(), static_cast<int64_t>(excluded.size())};
    r.alias_prob = Span<float>{alias_prob.data(), static_cast<int64_t>(alias_prob.size())};
    r.alias_index = Span<int64_t>{alias_index.data(), static_cast<int64_t>(alias_index.size())};
    return r;
  }
};

// When BuildReplacementTables checks the law against vocab_size.
enum class SizeChecks {
  // Now, with messages naming replacement_tables' arguments: vocab_size >= 1,
  // an id left to draw, vocab_size weights (tf_mlm.replacement_tables).
  kNow,
  // When masking (ValidateReplacementOptions): the tables are built for
  // any vocab_size and any number of weights (MaskValuesChooser).
  kWhenMasking,
};

// The replacement law of MaskValuesChooser(excluded_ids=,
// replacement_frequencies=), normalised once: `excluded_ids` (any values)
// filtered to [0, vocab_size), sorted and made unique; with `weights`
// (non-null), the excluded ids weighted 0 (multiplied by 0: a non-finite
// weight stays an error) and alias tables built, the excluded ids then left
// empty (the alias draw covers every id).
inline Status BuildReplacementTables(int64_t vocab_size, Span<int64_t> excluded_ids,
                                     const Span<float>* weights, SizeChecks checks,
                                     ReplacementTables* out) {
  const bool now = checks == SizeChecks::kNow;
  if (now && vocab_size < 1) {
    return Status::Invalid("`vocab_size` must be >= 1, got " + std::to_string(vocab_size));
  }
  std::vector<int64_t>& excluded = out->excluded;
  excluded.clear();
  for (int64_t i = 0; i < excluded_ids.size; ++i) {
    if (excluded_ids[i] >= 0 && excluded_ids[i] < vocab_size) excluded.push_back(excluded_ids[i]);
  }
  std::sort(excluded.begin(), excluded.end());
  excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
  if (now && static_cast<int64_t>(excluded.size()) >= vocab_size) {
    return Status::Invalid("`excluded_ids` leave no id to draw random replacements from");
  }
  out->alias_prob.clear();
  out->alias_index.clear();
  if (weights == nullptr) return Status::Ok();
  const int64_t n = weights->size;
  if (now && n != vocab_size) {
    return Status::Invalid("`replacement_frequencies` must have vocab_size (" +
                           std::to_string(vocab_size) + ") entries, got " + std::to_string(n));
  }
  std::vector<float> w(weights->data, weights->data + n);
  for (const int64_t id : excluded) {
    if (id < n) w[static_cast<size_t>(id)] *= 0.0f;
  }
  excluded.clear();
  out->alias_prob.resize(static_cast<size_t>(n));
  out->alias_index.resize(static_cast<size_t>(n));
  const Status s =
      BuildAliasTable(Span<float>{w.data(), n}, out->alias_prob.data(), out->alias_index.data());
  if (!s.ok() && now) return Status::Invalid("`replacement_frequencies`: " + s.message());
  return s;
}

// Draws one replacement id.
class ReplacementSampler {
 public:
  ReplacementSampler(int64_t vocab_size, const ReplacementOptions& r)
      : vocab_size_(static_cast<uint64_t>(vocab_size)), r_(r) {}

  // The default law (uniform over the whole vocabulary) with a vocabulary
  // below 2^32: one RowStream::Bounded(vocab_size) draw, which a caller may
  // inline.
  bool IsUniform32() const {
    return r_.alias_prob.size == 0 && r_.excluded.size == 0 && vocab_size_ <= 0xFFFFFFFFULL;
  }
  uint64_t vocab_size() const { return vocab_size_; }

  int64_t operator()(RowStream& rng) const {
    if (r_.alias_prob.size > 0) {
      const int64_t i =
          static_cast<int64_t>(rng.Bounded(static_cast<uint64_t>(r_.alias_prob.size)));
      return rng.NextUnit() < static_cast<double>(r_.alias_prob[i]) ? i : r_.alias_index[i];
    }
    if (r_.excluded.size == 0) return static_cast<int64_t>(rng.Bounded(vocab_size_));
    // The r-th id not excluded: step over the excluded ids at or below it.
    int64_t id =
        static_cast<int64_t>(rng.Bounded(vocab_size_ - static_cast<uint64_t>(r_.excluded.size)));
    for (int64_t i = 0; i < r_.excluded.size && r_.excluded[i] <= id; ++i) ++id;
    return id;
  }

 private:
  uint64_t vocab_size_;
  ReplacementOptions r_;
};

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_REPLACEMENT_H_

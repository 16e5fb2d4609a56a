// Span masking (SpanBERT, Joshi et al. 2020): runs of consecutive items whose
// lengths follow a geometric law clipped at a maximum, drawn until a row's
// masking budget is spent.
#ifndef TF_MLM_CC_CORE_SPANS_H_
#define TF_MLM_CC_CORE_SPANS_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/selection.h"
#include "cc/core/status.h"

namespace tf_mlm {

struct SpanOptions {
  SelectionOptions budget;  // budget in tokens: min(ceil(selectable tokens * rate), cap)
  double p = 0.2;           // geometric parameter, in (0, 1]
  int64_t max_length = 10;  // lengths are clipped (renormalised) to [1, max_length]
};

inline Status ValidateSpanOptions(const SpanOptions& o) {
  TF_MLM_RETURN_IF_ERROR(ValidateSelectionOptions(o.budget));
  if (!(o.p > 0.0 && o.p <= 1.0)) {
    return Status::Invalid("span p must be in (0, 1], got " + std::to_string(o.p));
  }
  if (o.max_length < 1) {
    return Status::Invalid("max_span_length must be >= 1, got " + std::to_string(o.max_length));
  }
  return Status::Ok();
}

// One span length: P(l) proportional to p (1 - p)^(l - 1), l in [1, max],
// by inverting the clipped geometric CDF with one uniform draw.
inline int64_t SampleSpanLength(RowStream& rng, double p, int64_t max_length) {
  const double u = rng.NextUnit();
  if (p >= 1.0 || max_length == 1) return 1;
  const double q = 1.0 - p;
  if (q >= 1.0) {  // p below double resolution: the clipped law is uniform on [1, max_length]
    const double l = std::floor(u * static_cast<double>(max_length)) + 1.0;
    return l >= static_cast<double>(max_length) ? max_length : static_cast<int64_t>(l);
  }
  const double tail = std::pow(q, static_cast<double>(max_length));  // P(l > max) unclipped
  // F(l) = (1 - q^l) / (1 - tail); smallest l with F(l) > u.
  const double l = std::floor(std::log1p(-u * (1.0 - tail)) / std::log(q)) + 1.0;
  if (!(l >= 1.0)) return 1;  // also NaN: never cast it to an integer
  return l > static_cast<double>(max_length) ? max_length : static_cast<int64_t>(l);
}

// Spans in one row of n items. selectable[i] (0/1), tokens[i] = the item's
// token count (nullptr: 1 each). Writes chosen[i]. Each attempt draws a
// length and an anchor among the selectable items; an anchor already masked
// is skipped (as in SpanBERT); the span extends right over up to `length`
// items, stopping at an unselectable or masked item, the row's end, or an
// item that no longer fits in the budget. The row ends when the budget is
// spent or when no unchosen selectable item fits in what is left of it (only
// with words: tokens[i] > 1), never earlier: the first 16 * anchors + 64
// attempts run unchecked (a cap that once also ended rows whose budget could
// still be met, about one in 10^4 at rate 1.0); past it, the fit test runs
// again after each attempt that chose something. The draws of every attempt
// are those of the capped loop, so rows it completed are unchanged.
inline int64_t SelectSpansInRow(RowStream& rng, const uint8_t* selectable, const int64_t* tokens,
                                uint8_t* chosen, int64_t n, const SpanOptions& o) {
  if (n > 0) std::memset(chosen, 0, static_cast<size_t>(n));  // chosen may be null when n == 0
  thread_local std::vector<int64_t> anchors;
  anchors.clear();
  int64_t selectable_tokens = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (selectable[i]) {
      anchors.push_back(i);
      selectable_tokens += tokens ? tokens[i] : 1;
    }
  }
  const int64_t budget = ExactSelectionCount(selectable_tokens, o.budget);
  if (budget <= 0 || anchors.empty()) return 0;
  int64_t masked = 0;
  const int64_t unchecked_attempts = 16 * static_cast<int64_t>(anchors.size()) + 64;
  // Whether some unchosen selectable item fits in the budget left: the
  // budget can still grow. Always true without words (every item costs 1 and
  // the budget is at most the selectable tokens).
  const auto some_item_fits = [&]() {
    for (const int64_t i : anchors) {
      if (!chosen[i] && masked + (tokens ? tokens[i] : 1) <= budget) return true;
    }
    return false;
  };
  bool changed = true;  // since the last fit test
  for (int64_t attempt = 0; masked < budget; ++attempt) {
    if (attempt >= unchecked_attempts && changed) {
      changed = false;
      if (!some_item_fits()) break;
    }
    const int64_t length = SampleSpanLength(rng, o.p, o.max_length);
    const int64_t a = anchors[rng.Bounded(static_cast<uint64_t>(anchors.size()))];
    if (chosen[a]) continue;
    for (int64_t i = a; i < n && i < a + length; ++i) {
      const int64_t cost = tokens ? tokens[i] : 1;
      if (!selectable[i] || chosen[i] || masked + cost > budget) break;
      chosen[i] = 1;
      masked += cost;
      changed = true;
    }
  }
  return masked;
}

namespace internal {

// SelectSpans' rows, with options and counts already validated; item_tokens
// may be null (one token per item).
template <typename S>
void SelectSpanRows(Span<S> item_splits, const uint8_t* selectable, const int64_t* item_tokens,
                    uint8_t* chosen, const SpanOptions& o, const Seed& seed,
                    const ParallelFor& parallel_for) {
  const int64_t rows = item_splits.size - 1;
  const int64_t items = rows >= 0 ? static_cast<int64_t>(item_splits[rows]) : 0;
  parallel_for(rows, 32 * (items / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      RowStream rng(seed, Domain::kSelection, static_cast<uint64_t>(b));
      const int64_t i0 = item_splits[b], i1 = item_splits[b + 1];
      SelectSpansInRow(rng, selectable + i0, item_tokens ? item_tokens + i0 : nullptr, chosen + i0,
                       i1 - i0, o);
    }
  });
}

}  // namespace internal

// Span selection over a rank-2 partition rows -> items (item_splits), with
// optional per-item token counts (empty span: one token per item).
template <typename S>
Status SelectSpans(Span<S> item_splits, const uint8_t* selectable, Span<int64_t> item_tokens,
                   uint8_t* chosen, const SpanOptions& o, const Seed& seed,
                   const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateSpanOptions(o));
  const int64_t rows = item_splits.size - 1;
  const int64_t items = rows >= 0 ? static_cast<int64_t>(item_splits[rows]) : 0;
  if (item_tokens.size != 0 && item_tokens.size != items) {
    return Status::Invalid("item_token_counts must have one entry per item (" +
                           std::to_string(items) + "), got " + std::to_string(item_tokens.size));
  }
  // Bounded so that a row's token sums (and budget arithmetic) cannot
  // overflow int64.
  constexpr int64_t kMaxTokens = int64_t{1} << 62;
  int64_t total_tokens = 0;
  for (int64_t i = 0; i < item_tokens.size; ++i) {
    if (item_tokens[i] < 0) return Status::Invalid("item_token_counts must be >= 0");
    if (item_tokens[i] > kMaxTokens - total_tokens) {
      return Status::Invalid("item_token_counts must sum to at most 2**62");
    }
    total_tokens += item_tokens[i];
  }
  internal::SelectSpanRows(item_splits, selectable, item_tokens.size ? item_tokens.data : nullptr,
                           chosen, o, seed, parallel_for);
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_SPANS_H_

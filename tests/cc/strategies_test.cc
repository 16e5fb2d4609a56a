// Unit tests of the masking strategies beyond tensorflow_text: span lengths
// and span selection (spans.h), replacement laws (replacement.h), word
// grouping (words.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "cc/core/replacement.h"
#include "cc/core/spans.h"
#include "cc/core/words.h"
#include "gtest/gtest.h"

namespace tf_mlm {
namespace {

// Pearson's statistic of observed counts against expected probabilities.
double ChiSquare(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  const double n = std::accumulate(counts.begin(), counts.end(), 0.0);
  double stat = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = n * probs[i];
    if (e > 0) stat += (counts[i] - e) * (counts[i] - e) / e;
  }
  return stat;
}

// Critical value of chi-square with 9 degrees of freedom at p = 1e-6 is
// about 45.3; a wrong law at these sample sizes gives thousands.
constexpr double kChi2Df9 = 45.3;

TEST(SpanLength, FollowsTheClippedGeometricLaw) {
  const double p = 0.2;
  const int64_t max_len = 10;
  std::vector<int64_t> counts(max_len, 0);
  for (uint64_t row = 0; row < 200; ++row) {
    RowStream rng(Seed{3, 4}, Domain::kSelection, row);
    for (int i = 0; i < 500; ++i) {
      const int64_t l = SampleSpanLength(rng, p, max_len);
      ASSERT_GE(l, 1);
      ASSERT_LE(l, max_len);
      ++counts[l - 1];
    }
  }
  std::vector<double> probs(max_len);
  const double norm = 1 - std::pow(1 - p, max_len);
  for (int64_t l = 1; l <= max_len; ++l) probs[l - 1] = p * std::pow(1 - p, l - 1) / norm;
  EXPECT_LT(ChiSquare(counts, probs), kChi2Df9);
  // The same check rejects the unclipped-then-truncated law (mass piled at max).
  std::vector<double> wrong(probs);
  for (int64_t l = 1; l <= max_len; ++l) wrong[l - 1] = p * std::pow(1 - p, l - 1);
  wrong[max_len - 1] += std::pow(1 - p, max_len);
  EXPECT_GT(ChiSquare(counts, wrong), kChi2Df9);
}

TEST(SpanLength, DegenerateParameters) {
  RowStream rng(Seed{1, 1}, Domain::kSelection, 0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(SampleSpanLength(rng, 1.0, 10), 1);
    EXPECT_EQ(SampleSpanLength(rng, 0.3, 1), 1);
  }
}

SpanOptions Spans(float rate, int64_t cap = 1000, double p = 0.2, int64_t max_len = 10) {
  SpanOptions o;
  o.budget.selection_rate = rate;
  o.budget.max_selections = cap;
  o.p = p;
  o.max_length = max_len;
  return o;
}

TEST(SelectSpansInRow, SpendsTheTokenBudgetOnSelectableTokensOnly) {
  const int64_t n = 200;
  std::vector<uint8_t> selectable(n, 1), chosen(n);
  for (int64_t i = 0; i < n; i += 17) selectable[i] = 0;
  int64_t num_selectable = 0;
  for (uint8_t s : selectable) num_selectable += s;
  for (uint64_t row = 0; row < 300; ++row) {
    RowStream rng(Seed{5, 6}, Domain::kSelection, row);
    const int64_t masked =
        SelectSpansInRow(rng, selectable.data(), nullptr, chosen.data(), n, Spans(0.15f));
    EXPECT_EQ(masked, static_cast<int64_t>(std::ceil(num_selectable * 0.15f)));
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
      count += chosen[i];
      if (chosen[i]) EXPECT_TRUE(selectable[i]);
    }
    EXPECT_EQ(count, masked);
  }
}

TEST(SelectSpansInRow, WordsAreNeverSplitAndTheBudgetIsNotExceeded) {
  // 60 words of 1-3 tokens; items are words, the budget counts tokens.
  std::vector<int64_t> tokens(60);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = 1 + static_cast<int64_t>(i % 3);
  const int64_t total = std::accumulate(tokens.begin(), tokens.end(), int64_t{0});
  std::vector<uint8_t> selectable(tokens.size(), 1), chosen(tokens.size());
  const int64_t budget = static_cast<int64_t>(std::ceil(total * 0.2f));
  for (uint64_t row = 0; row < 200; ++row) {
    RowStream rng(Seed{7, 8}, Domain::kSelection, row);
    const int64_t masked = SelectSpansInRow(rng, selectable.data(), tokens.data(), chosen.data(),
                                            static_cast<int64_t>(tokens.size()), Spans(0.2f));
    int64_t sum = 0;
    for (size_t i = 0; i < tokens.size(); ++i) sum += chosen[i] ? tokens[i] : 0;
    EXPECT_EQ(sum, masked);
    EXPECT_LE(masked, budget);
    EXPECT_GT(masked, budget - 3);  // within one word of the budget
  }
}

TEST(SelectSpansInRow, CapAndEmptyRows) {
  std::vector<uint8_t> selectable(50, 1), chosen(50);
  RowStream rng(Seed{1, 2}, Domain::kSelection, 0);
  EXPECT_EQ(SelectSpansInRow(rng, selectable.data(), nullptr, chosen.data(), 50, Spans(1.0f, 7)),
            7);
  EXPECT_EQ(SelectSpansInRow(rng, selectable.data(), nullptr, chosen.data(), 0, Spans(1.0f)), 0);
  std::vector<uint8_t> none(50, 0);
  EXPECT_EQ(SelectSpansInRow(rng, none.data(), nullptr, chosen.data(), 50, Spans(1.0f)), 0);
}

// At rate 1.0 the budget is every selectable token: each row must end with
// all of them masked. The old attempt cap (16 * anchors + 64) left about one
// row in 10^4 one token short; the rows listed are such rows of Seed{7, 8}.
TEST(SelectSpansInRow, SpendsTheWholeBudgetAtRateOne) {
  struct Case {
    int64_t n;
    int64_t unselectable_every;  // 0: all selectable
    uint64_t first_row, rows;
  };
  const Case cases[] = {
      {200, 0, 3772, 1}, {500, 0, 18259, 1}, {201, 11, 15295, 1},  // short under the cap
      {1, 0, 0, 500},    {2, 0, 0, 500},     {13, 11, 0, 500},    {64, 0, 0, 500},
      {200, 0, 0, 300},  {201, 11, 0, 300},  {500, 7, 0, 100},    {2000, 0, 0, 20},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> selectable(static_cast<size_t>(c.n), 1), chosen(static_cast<size_t>(c.n));
    if (c.unselectable_every) {
      for (int64_t i = 5; i < c.n; i += c.unselectable_every) selectable[i] = 0;
    }
    int64_t num_selectable = 0;
    for (uint8_t s : selectable) num_selectable += s;
    for (uint64_t row = c.first_row; row < c.first_row + c.rows; ++row) {
      RowStream rng(Seed{7, 8}, Domain::kSelection, row);
      const int64_t masked = SelectSpansInRow(rng, selectable.data(), nullptr, chosen.data(), c.n,
                                              Spans(1.0f, 100000));
      ASSERT_EQ(masked, num_selectable) << "n = " << c.n << ", row " << row;
      ASSERT_TRUE(std::equal(chosen.begin(), chosen.end(), selectable.begin()));
    }
  }
}

// With words the budget may be unreachable; a row then ends only when no
// unchosen selectable word fits in what is left, never before.
TEST(SelectSpansInRow, WordsStopOnlyWhenNoWordFits) {
  std::vector<int64_t> tokens(300);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = 1 + static_cast<int64_t>((i * 7) % 4);
  std::vector<uint8_t> selectable(tokens.size(), 1), chosen(tokens.size());
  for (const float rate : {1.0f, 0.97f, 0.5f}) {
    for (uint64_t row = 0; row < 300; ++row) {
      RowStream rng(Seed{7, 8}, Domain::kSelection, row);
      const int64_t masked = SelectSpansInRow(rng, selectable.data(), tokens.data(), chosen.data(),
                                              static_cast<int64_t>(tokens.size()), Spans(rate));
      int64_t total = 0;
      for (int64_t t : tokens) total += t;
      const int64_t budget = static_cast<int64_t>(std::ceil(static_cast<float>(total) * rate));
      ASSERT_LE(masked, budget);
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (!chosen[i]) ASSERT_GT(masked + tokens[i], budget) << "word " << i << " still fits";
      }
    }
  }
}

TEST(SpanOptions, Validation) {
  EXPECT_FALSE(ValidateSpanOptions(Spans(0.1f, 10, 0.0)).ok());
  EXPECT_FALSE(ValidateSpanOptions(Spans(0.1f, 10, 1.5)).ok());
  EXPECT_FALSE(ValidateSpanOptions(Spans(0.1f, 10, 0.2, 0)).ok());
  EXPECT_FALSE(ValidateSpanOptions(Spans(-0.5f)).ok());
  EXPECT_TRUE(ValidateSpanOptions(Spans(2.0f)).ok());  // a budget of every selectable token
  EXPECT_TRUE(ValidateSpanOptions(Spans(0.1f)).ok());
}

TEST(AliasTable, DrawsProportionallyToTheWeights) {
  const std::vector<float> weights = {5, 0, 1, 3, 0.5f, 0, 2, 8, 1, 4};
  std::vector<float> prob(weights.size());
  std::vector<int64_t> alias(weights.size());
  ASSERT_TRUE(BuildAliasTable(Span<float>{weights.data(), 10}, prob.data(), alias.data()).ok());
  ReplacementOptions r;
  r.alias_prob = {prob.data(), 10};
  r.alias_index = {alias.data(), 10};
  ASSERT_TRUE(ValidateReplacementOptions(r, 10).ok());
  ReplacementSampler sample(10, r);
  std::vector<int64_t> counts(10, 0);
  for (uint64_t row = 0; row < 100; ++row) {
    RowStream rng(Seed{9, 9}, Domain::kValues, row);
    for (int i = 0; i < 1000; ++i) ++counts[sample(rng)];
  }
  EXPECT_EQ(counts[1], 0);
  EXPECT_EQ(counts[5], 0);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<double> probs(10);
  for (int i = 0; i < 10; ++i) probs[i] = weights[i] / total;
  EXPECT_LT(ChiSquare(counts, probs), kChi2Df9);
  std::vector<double> uniform(10, 0.1);
  EXPECT_GT(ChiSquare(counts, uniform), kChi2Df9);
}

TEST(AliasTable, RejectsBadWeights) {
  std::vector<float> prob(3);
  std::vector<int64_t> alias(3);
  const std::vector<float> negative = {1, -1, 2}, zero = {0, 0, 0};
  const std::vector<float> nan = {1, std::nanf(""), 1};
  EXPECT_FALSE(BuildAliasTable(Span<float>{negative.data(), 3}, prob.data(), alias.data()).ok());
  EXPECT_FALSE(BuildAliasTable(Span<float>{zero.data(), 3}, prob.data(), alias.data()).ok());
  EXPECT_FALSE(BuildAliasTable(Span<float>{nan.data(), 3}, prob.data(), alias.data()).ok());
  EXPECT_FALSE(BuildAliasTable(Span<float>{nullptr, 0}, prob.data(), alias.data()).ok());
}

TEST(ExcludedIds, AreNeverDrawnAndTheRestIsUniform) {
  const std::vector<int64_t> excluded = {0, 3, 4, 9};
  ReplacementOptions r;
  r.excluded = {excluded.data(), 4};
  ASSERT_TRUE(ValidateReplacementOptions(r, 10).ok());
  ReplacementSampler sample(10, r);
  std::vector<int64_t> counts(10, 0);
  for (uint64_t row = 0; row < 60; ++row) {
    RowStream rng(Seed{2, 3}, Domain::kValues, row);
    for (int i = 0; i < 1000; ++i) ++counts[sample(rng)];
  }
  std::vector<int64_t> kept;
  for (int i = 0; i < 10; ++i) {
    if (i == 0 || i == 3 || i == 4 || i == 9) {
      EXPECT_EQ(counts[i], 0);
    } else {
      kept.push_back(counts[i]);
    }
  }
  EXPECT_LT(ChiSquare(kept, std::vector<double>(kept.size(), 1.0 / kept.size())), kChi2Df9);
}

TEST(ExcludedIds, Validation) {
  const std::vector<int64_t> unsorted = {3, 1}, out_of_range = {12}, all = {0, 1};
  ReplacementOptions r;
  r.excluded = {unsorted.data(), 2};
  EXPECT_FALSE(ValidateReplacementOptions(r, 10).ok());
  r.excluded = {out_of_range.data(), 1};
  EXPECT_FALSE(ValidateReplacementOptions(r, 10).ok());
  r.excluded = {all.data(), 2};
  EXPECT_FALSE(ValidateReplacementOptions(r, 2).ok());
}

TEST(ReplacementTables, NormaliseTheExcludedIdsAndWeighThemZero) {
  const std::vector<int64_t> raw = {9, 3, -1, 0, 3, 5, 42};
  const Span<int64_t> ids{raw.data(), 7};
  ReplacementTables t;
  for (SizeChecks checks : {SizeChecks::kNow, SizeChecks::kWhenMasking}) {
    ASSERT_TRUE(BuildReplacementTables(6, ids, nullptr, checks, &t).ok());
    EXPECT_EQ(t.excluded, (std::vector<int64_t>{0, 3, 5}));
    EXPECT_TRUE(t.alias_prob.empty() && t.alias_index.empty());
    EXPECT_TRUE(ValidateReplacementOptions(t.View(), 6).ok());
  }
  // Weighted: the excluded ids weigh 0, and the alias draw replaces them.
  const std::vector<float> weights = {1, 2, 3, 4, 5, 6};
  const Span<float> w{weights.data(), 6};
  ASSERT_TRUE(BuildReplacementTables(6, ids, &w, SizeChecks::kNow, &t).ok());
  EXPECT_TRUE(t.excluded.empty());
  const std::vector<float> zeroed = {0, 2, 3, 0, 5, 0};
  std::vector<float> prob(6);
  std::vector<int64_t> alias(6);
  ASSERT_TRUE(BuildAliasTable(Span<float>{zeroed.data(), 6}, prob.data(), alias.data()).ok());
  EXPECT_EQ(t.alias_prob, prob);
  EXPECT_EQ(t.alias_index, alias);
  EXPECT_TRUE(ValidateReplacementOptions(t.View(), 6).ok());
}

TEST(ReplacementTables, CheckSizesNowOrWhenMasking) {
  const std::vector<int64_t> all = {0, 1, 1};
  const std::vector<float> two = {1, 1}, zero = {0, 0}, inf = {INFINITY, 1};
  const Span<int64_t> none{nullptr, 0}, both{all.data(), 3};
  const Span<float> w2{two.data(), 2}, w0{zero.data(), 2}, winf{inf.data(), 2}, empty;
  ReplacementTables t;
  const auto now = [&](int64_t vocab, Span<int64_t> ids, const Span<float>* w) {
    return BuildReplacementTables(vocab, ids, w, SizeChecks::kNow, &t).message();
  };
  const auto later = [&](int64_t vocab, Span<int64_t> ids, const Span<float>* w) {
    return BuildReplacementTables(vocab, ids, w, SizeChecks::kWhenMasking, &t);
  };
  EXPECT_EQ(now(0, none, nullptr), "`vocab_size` must be >= 1, got 0");
  EXPECT_EQ(now(2, both, nullptr), "`excluded_ids` leave no id to draw random replacements from");
  EXPECT_EQ(now(2, both, &w2), "`excluded_ids` leave no id to draw random replacements from");
  EXPECT_EQ(now(3, none, &w2), "`replacement_frequencies` must have vocab_size (3) entries, got 2");
  EXPECT_EQ(now(2, none, &w0),
            "`replacement_frequencies`: the frequency table must have a positive, finite sum");
  // When masking: any vocab_size and any number of weights; ValidateReplacementOptions
  // then rejects them.
  ASSERT_TRUE(later(0, both, nullptr).ok());
  EXPECT_TRUE(t.excluded.empty());
  ASSERT_TRUE(later(2, both, nullptr).ok());
  EXPECT_FALSE(ValidateReplacementOptions(t.View(), 2).ok());
  ASSERT_TRUE(later(3, none, &w2).ok());
  EXPECT_FALSE(ValidateReplacementOptions(t.View(), 3).ok());
  EXPECT_EQ(later(3, both, &w2).message(), "the frequency table must have a positive, finite sum");
  // An excluded weight is multiplied by 0: infinity stays an error.
  EXPECT_FALSE(later(2, Span<int64_t>{all.data(), 1}, &winf).ok());
  EXPECT_EQ(later(0, none, &empty).message(), "the frequency table must not be empty");
}

TEST(GroupWords, StartsAWordAtRowStartsAndNonContinuationIds) {
  // ids: 0 = [CLS], 1 = "play", 2 = "##ing", 3 = "##s"
  const std::vector<int64_t> values = {0, 1, 2, 3, 1, 2, 2, 1};
  const std::vector<int64_t> row_splits = {0, 4, 4, 6, 8};
  const std::vector<uint8_t> continues = {0, 0, 1, 1};
  std::vector<int64_t> word_rows, words;
  const Status s =
      GroupWords<int64_t, int64_t>({values.data(), 8}, {row_splits.data(), 5},
                                   {continues.data(), 4}, [&](int64_t n, int64_t** a, int64_t** b) {
                                     word_rows.resize(5);
                                     words.resize(n + 1);
                                     *a = word_rows.data();
                                     *b = words.data();
                                     return Status::Ok();
                                   });
  ASSERT_TRUE(s.ok());
  // row 0: [0] [1 2 3]; row 1: empty; row 2: [1 2]; row 3: [2] (row start) [1]
  EXPECT_EQ(word_rows, (std::vector<int64_t>{0, 2, 2, 3, 5}));
  EXPECT_EQ(words, (std::vector<int64_t>{0, 1, 4, 6, 7, 8}));
}

}  // namespace
}  // namespace tf_mlm

// Selection and value choice of the masking core: counts, options
// validation, SelectInRow, ChooseValue, and their distributions.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cc/core/masking.h"
#include "gtest/gtest.h"
#include "tests/cc/test_util.h"

namespace tf_mlm {
namespace {

// One token's value, drawn as the passes draw it.
template <typename T>
T ChooseValue(RowStream& rng, T original, const ValueOptions& o) {
  return ValueChooser(o)(rng, original);
}

using testing::InvalidWith;

SelectionOptions Rate(float rate, int64_t cap = std::numeric_limits<int64_t>::max()) {
  SelectionOptions o;
  o.selection_rate = rate;
  o.max_selections = cap;
  return o;
}

// tensorflow_text computes ceil(float32(n) * float32(rate)): float32
// products, not decimal arithmetic. 20 * 0.15f rounds to exactly 3.0f (a tie
// broken to even), while 100 * 0.15f rounds up to 15.000001f, so its ceil is
// 16. Both values were checked against TensorFlow 2.21 / NumPy float32.
TEST(ExactSelectionCount, Float32CeilSemantics) {
  EXPECT_EQ(ExactSelectionCount(20, Rate(0.15f)), 3);
  EXPECT_EQ(ExactSelectionCount(21, Rate(0.15f)), 4);  // 3.15 -> 4
  EXPECT_EQ(ExactSelectionCount(7, Rate(0.15f)), 2);   // 1.05 -> 2
  EXPECT_EQ(ExactSelectionCount(100, Rate(0.15f)), 16);
  EXPECT_EQ(ExactSelectionCount(1000, Rate(0.15f)), 150);
  EXPECT_EQ(ExactSelectionCount(1, Rate(0.15f)), 1);
  EXPECT_EQ(ExactSelectionCount(0, Rate(0.15f)), 0);
  EXPECT_EQ(ExactSelectionCount(10, Rate(0.3f)), 3);
  EXPECT_EQ(ExactSelectionCount(3, Rate(1.0f / 3.0f)), 1);
}

TEST(ExactSelectionCount, RateBounds) {
  EXPECT_EQ(ExactSelectionCount(50, Rate(0.0f)), 0);
  EXPECT_EQ(ExactSelectionCount(50, Rate(1.0f)), 50);
  EXPECT_EQ(ExactSelectionCount(1, Rate(1e-30f)), 1);  // any positive rate selects one
}

TEST(ExactSelectionCount, Cap) {
  EXPECT_EQ(ExactSelectionCount(100, Rate(0.15f, 5)), 5);
  EXPECT_EQ(ExactSelectionCount(100, Rate(0.15f, 16)), 16);
  EXPECT_EQ(ExactSelectionCount(100, Rate(0.15f, 17)), 16);
  EXPECT_EQ(ExactSelectionCount(100, Rate(0.15f, 0)), 0);
  EXPECT_EQ(ExactSelectionCount(512, Rate(0.15f, 76)), 76);
}

TEST(ExactSelectionCount, NeverMoreThanSelectable) {
  // 2^24 items at rate 1 with a cap that float32 cannot represent exactly.
  const int64_t n = int64_t{1} << 24;
  EXPECT_LE(ExactSelectionCount(n, Rate(1.0f, n + 1)), n);
  EXPECT_EQ(ExactSelectionCount(n, Rate(1.0f, n + 1)), n);
  EXPECT_EQ(ExactSelectionCount(5, Rate(1.0f, 6)), 5);
}

TEST(ValidateOptions, Selection) {
  EXPECT_TRUE(ValidateSelectionOptions(Rate(0.15f, 0)).ok());
  EXPECT_TRUE(ValidateSelectionOptions(Rate(0.0f)).ok());
  EXPECT_TRUE(ValidateSelectionOptions(Rate(1.0f)).ok());
  EXPECT_TRUE(InvalidWith(ValidateSelectionOptions(Rate(-0.1f)), "selection_rate"));
  EXPECT_TRUE(ValidateSelectionOptions(Rate(1.5f)).ok());  // selects every selectable item
  EXPECT_TRUE(InvalidWith(ValidateSelectionOptions(Rate(std::nanf(""))), "selection_rate"));
  EXPECT_TRUE(InvalidWith(ValidateSelectionOptions(Rate(INFINITY)), "selection_rate"));
  EXPECT_TRUE(InvalidWith(ValidateSelectionOptions(Rate(0.1f, -1)), "max_selections_per_batch"));
}

ValueOptions Values(float mask_rate, float random_rate, int64_t vocab = 30522, int64_t mask = 103) {
  ValueOptions o;
  o.mask_token_rate = mask_rate;
  o.random_token_rate = random_rate;
  o.vocab_size = vocab;
  o.mask_token = mask;
  return o;
}

TEST(ValidateOptions, Values) {
  EXPECT_TRUE(ValidateValueOptions(Values(0.8f, 0.1f)).ok());
  EXPECT_TRUE(ValidateValueOptions(Values(1.0f, 0.0f)).ok());
  EXPECT_TRUE(ValidateValueOptions(Values(0.8f, 0.2f)).ok());  // float32 sum is exactly 1
  EXPECT_TRUE(
      InvalidWith(ValidateValueOptions(Values(0.9f, 0.2f)), "mask_token_rate + random_token_rate"));
  EXPECT_TRUE(InvalidWith(ValidateValueOptions(Values(-0.1f, 0.1f)), "mask_token_rate"));
  EXPECT_TRUE(InvalidWith(ValidateValueOptions(Values(0.1f, std::nanf(""))), "random_token_rate"));
  EXPECT_TRUE(InvalidWith(ValidateValueOptions(Values(0.8f, 0.1f, 0, 0)), "vocab_size"));
  // Any mask id the ids' dtype holds, inside the vocabulary or not.
  EXPECT_TRUE(ValidateValueOptions(Values(0.8f, 0.1f, 100, 100)).ok());
  EXPECT_TRUE(ValidateValueOptions(Values(0.8f, 0.1f, 100, -1)).ok());
  EXPECT_TRUE(ValidateValuesFitIds<int32_t>(Values(0.8f, 0.1f, 100, -(int64_t{1} << 31))).ok());
  EXPECT_TRUE(InvalidWith(ValidateValuesFitIds<int32_t>(Values(0.8f, 0.1f, 100, int64_t{1} << 31)),
                          "mask_token must fit in ids of 32-bit"));
  EXPECT_TRUE(
      InvalidWith(ValidateValuesFitIds<int32_t>(Values(0.8f, 0.1f, 100, -(int64_t{1} << 31) - 1)),
                  "mask_token"));
  EXPECT_TRUE(ValidateValuesFitIds<int64_t>(Values(0.8f, 0.1f, 100, int64_t{1} << 31)).ok());
  EXPECT_TRUE(InvalidWith(ValidateValuesFitIds<int32_t>(Values(0.8f, 0.1f, (int64_t{1} << 31) + 1)),
                          "vocab_size must be <= 2147483648"));
}

TEST(ExactSelectionCount, RateAboveOneSelectsEverySelectableItem) {
  EXPECT_EQ(ExactSelectionCount(7, Rate(1.5f)), 7);
  EXPECT_EQ(ExactSelectionCount(7, Rate(1e30f)), 7);
  EXPECT_EQ(ExactSelectionCount(7, Rate(3.0f, 4)), 4);
  EXPECT_EQ(ExactSelectionCount(0, Rate(2.0f)), 0);
}

TEST(ValidateOptions, Axis) {
  EXPECT_TRUE(ValidateAxis(1, 1).ok());
  EXPECT_TRUE(ValidateAxis(2, 2).ok());
  EXPECT_TRUE(InvalidWith(ValidateAxis(0, 1), "axis must be in [1, 1]"));
  EXPECT_TRUE(InvalidWith(ValidateAxis(2, 1), "got 2"));
  EXPECT_TRUE(InvalidWith(ValidateAxis(-1, 2), "axis"));
}

// Runs SelectInRow for `seed_count` seeds; returns how often each item was chosen.
std::vector<int> SelectMany(const std::vector<uint8_t>& selectable, const SelectionOptions& o,
                            int seed_count, int64_t expected_count) {
  const int64_t n = static_cast<int64_t>(selectable.size());
  std::vector<int> freq(n, 0);
  std::vector<uint8_t> chosen(n);
  for (int s = 0; s < seed_count; ++s) {
    RowStream rng(Seed{static_cast<uint64_t>(s), 17}, Domain::kSelection, 0);
    const int64_t k = SelectInRow(rng, selectable.data(), chosen.data(), n, o);
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_LE(chosen[i], 1);
      if (chosen[i]) {
        EXPECT_TRUE(selectable[i]) << "item " << i << " is not selectable";
        ++freq[i];
        ++count;
      }
    }
    EXPECT_EQ(count, k);
    if (expected_count >= 0) {
      EXPECT_EQ(k, expected_count);
    }
  }
  return freq;
}

TEST(SelectInRow, ExactCountOnlySelectableUniform) {
  // 20 items, 5 unselectable: 15 selectable * 0.2 -> 3 per row.
  std::vector<uint8_t> selectable(20, 1);
  for (int i : {0, 4, 9, 10, 19}) selectable[i] = 0;
  const int seeds = 20000;
  const std::vector<int> freq = SelectMany(selectable, Rate(0.2f), seeds, 3);
  for (int i = 0; i < 20; ++i) {
    if (!selectable[i]) {
      EXPECT_EQ(freq[i], 0);
    } else {
      EXPECT_NEAR(static_cast<double>(freq[i]) / seeds, 3.0 / 15.0, 0.02) << "item " << i;
    }
  }
}

TEST(SelectInRow, ComplementPathUniform) {
  // k > n / 2 draws the unchosen items instead: 10 * 0.8 -> 8 of 10.
  const std::vector<uint8_t> selectable(10, 1);
  const int seeds = 20000;
  const std::vector<int> freq = SelectMany(selectable, Rate(0.8f), seeds, 8);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(static_cast<double>(freq[i]) / seeds, 0.8, 0.02);
}

TEST(SelectInRow, MoreThan64ItemsUniform) {
  // Several scratch words, and a complement over a partial last word.
  std::vector<uint8_t> selectable(150, 1);
  selectable[64] = selectable[65] = 0;
  const int seeds = 4000;
  for (float rate : {0.15f, 0.7f}) {
    const int64_t k = ExactSelectionCount(148, Rate(rate));
    const std::vector<int> freq = SelectMany(selectable, Rate(rate), seeds, k);
    for (int i = 0; i < 150; ++i) {
      if (selectable[i]) {
        EXPECT_NEAR(static_cast<double>(freq[i]) / seeds, static_cast<double>(k) / 148, 0.05)
            << "rate " << rate << " item " << i;
      }
    }
  }
}

TEST(SelectInRow, AllNoneAndCap) {
  std::vector<uint8_t> selectable = {1, 0, 1, 1, 0, 1};
  SelectMany(selectable, Rate(1.0f), 50, 4);                  // all selectable ones
  SelectMany(selectable, Rate(0.0f), 50, 0);                  // none
  SelectMany(selectable, Rate(1.0f, 2), 200, 2);              // capped
  SelectMany(selectable, Rate(0.5f, 0), 50, 0);               // cap 0
  SelectMany(std::vector<uint8_t>(5, 0), Rate(1.0f), 10, 0);  // nothing selectable
  SelectMany(std::vector<uint8_t>(), Rate(1.0f), 10, 0);      // empty row
}

TEST(SelectInRow, ChosenMayAliasSelectable) {
  for (int s = 0; s < 200; ++s) {
    std::vector<uint8_t> flags = {1, 1, 0, 1, 1, 1, 0, 1, 1, 1};
    const std::vector<uint8_t> original = flags;
    RowStream a(Seed{static_cast<uint64_t>(s), 1}, Domain::kSelection, 3);
    RowStream b(Seed{static_cast<uint64_t>(s), 1}, Domain::kSelection, 3);
    std::vector<uint8_t> separate(flags.size());
    SelectInRow(a, original.data(), separate.data(), 10, Rate(0.5f));
    SelectInRow(b, flags.data(), flags.data(), 10, Rate(0.5f));
    EXPECT_EQ(flags, separate);
  }
}

TEST(SelectInRow, StaleChosenIsOverwritten) {
  std::vector<uint8_t> chosen(8, 1);
  const std::vector<uint8_t> selectable = {0, 1, 0, 1, 0, 1, 0, 1};
  RowStream rng(Seed{1, 1}, Domain::kSelection, 0);
  EXPECT_EQ(SelectInRow(rng, selectable.data(), chosen.data(), 8, Rate(0.0f)), 0);
  EXPECT_EQ(chosen, std::vector<uint8_t>(8, 0));
  RowStream rng2(Seed{1, 1}, Domain::kSelection, 0);
  std::fill(chosen.begin(), chosen.end(), 1);
  EXPECT_EQ(SelectInRow(rng2, selectable.data(), chosen.data(), 8, Rate(0.5f)), 2);
  for (int i = 0; i < 8; i += 2) EXPECT_EQ(chosen[i], 0);
}

TEST(SelectInRow, BernoulliCountsAndCap) {
  SelectionOptions o = Rate(0.15f);
  o.mode = SelectionMode::kBernoulli;
  std::vector<uint8_t> selectable(200, 1);
  for (int i = 0; i < 200; i += 10) selectable[i] = 0;  // 180 selectable
  const int seeds = 3000;
  const std::vector<int> freq = SelectMany(selectable, o, seeds, -1);
  double total = 0;
  for (int i = 0; i < 200; ++i) {
    if (!selectable[i]) {
      EXPECT_EQ(freq[i], 0);
    }
    total += freq[i];
  }
  EXPECT_NEAR(total / seeds, 180 * 0.15, 0.5);  // mean count, binomial sd / sqrt(seeds) ~ 0.09
  o.max_selections = 10;
  std::vector<uint8_t> chosen(200);
  for (int s = 0; s < 300; ++s) {
    RowStream rng(Seed{static_cast<uint64_t>(s), 5}, Domain::kSelection, 0);
    EXPECT_LE(SelectInRow(rng, selectable.data(), chosen.data(), 200, o), 10);
  }
}

template <typename T>
class ChooseValueTest : public ::testing::Test {};
using IdTypes = ::testing::Types<int32_t, int64_t>;
TYPED_TEST_SUITE(ChooseValueTest, IdTypes);

TYPED_TEST(ChooseValueTest, Proportions) {
  using T = TypeParam;
  // A huge vocabulary makes a random id equal to the mask or the original
  // with negligible probability, so the three outcomes can be told apart.
  const ValueOptions o = Values(0.8f, 0.1f, 1 << 30, 103);
  RowStream rng(Seed{123, 456}, Domain::kValues, 0);
  const int n = 100000;
  int mask = 0, keep = 0, random = 0;
  double random_sum = 0;
  for (int i = 0; i < n; ++i) {
    const T v = ChooseValue<T>(rng, T{5}, o);
    ASSERT_GE(v, 0);
    ASSERT_LT(static_cast<int64_t>(v), o.vocab_size);
    if (v == 103) {
      ++mask;
    } else if (v == 5) {
      ++keep;
    } else {
      ++random;
      random_sum += static_cast<double>(v);
    }
  }
  EXPECT_NEAR(mask / double(n), 0.8, 0.01);
  EXPECT_NEAR(keep / double(n), 0.1, 0.01);
  EXPECT_NEAR(random / double(n), 0.1, 0.01);
  EXPECT_NEAR(random_sum / random / o.vocab_size, 0.5, 0.02);
}

TYPED_TEST(ChooseValueTest, DegenerateRates) {
  using T = TypeParam;
  RowStream rng(Seed{1, 2}, Domain::kValues, 0);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(ChooseValue<T>(rng, T{7}, Values(1.0f, 0.0f, 50, 3)), T{3});
    EXPECT_EQ(ChooseValue<T>(rng, T{7}, Values(0.0f, 0.0f, 50, 3)), T{7});
    const T r = ChooseValue<T>(rng, T{7}, Values(0.0f, 1.0f, 50, 3));
    EXPECT_GE(r, 0);
    EXPECT_LT(r, 50);
    EXPECT_EQ(ChooseValue<T>(rng, T{7}, Values(0.0f, 1.0f, 1, 0)), T{0});
  }
}

TEST(ChooseValue, RandomIdsUniformOverSmallVocab) {
  RowStream rng(Seed{9, 9}, Domain::kValues, 4);
  std::vector<int> counts(10, 0);
  const int n = 50000;
  for (int i = 0; i < n; ++i) ++counts[ChooseValue<int64_t>(rng, 0, Values(0.0f, 1.0f, 10, 0))];
  for (int c : counts) EXPECT_NEAR(c / double(n), 0.1, 0.01);
}

// ChooseRow (the row-at-once form the fused passes use) equals operator()
// token by token: same values, same recorded ids, same stream position after.
// Covers the inlined uniform path (including Lemire rejections: a vocabulary
// just above 2^31 rejects about half of all draws, and a refill between a
// token's two words), and the general path (excluded ids, alias table).
TYPED_TEST(ChooseValueTest, ChooseRowEqualsOneByOne) {
  using T = TypeParam;
  std::vector<int64_t> excluded{2, 5, 6, 40};
  std::vector<float> alias_prob(50);
  std::vector<int64_t> alias_index(50);
  for (int i = 0; i < 50; ++i) {
    alias_prob[i] = static_cast<float>((i * 37) % 50) / 50.0f;
    alias_index[i] = (i * 11 + 3) % 50;
  }
  std::vector<ValueOptions> options;
  for (float mask_rate : {0.0f, 0.3f, 0.8f, 1.0f}) {
    for (float random_rate : {0.0f, 0.1f, 0.7f}) {
      if (mask_rate + random_rate > 1.0f) continue;
      options.push_back(Values(mask_rate, random_rate, 50, 3));
      options.push_back(Values(mask_rate, random_rate, 30522, 103));
      if (sizeof(T) == 8)
        options.push_back(Values(mask_rate, random_rate, (int64_t{1} << 31) + 1, 7));
      ValueOptions with_excluded = Values(mask_rate, random_rate, 50, 3);
      with_excluded.replacement.excluded = {excluded.data(), static_cast<int64_t>(excluded.size())};
      options.push_back(with_excluded);
      ValueOptions with_alias = Values(mask_rate, random_rate, 50, 3);
      with_alias.replacement.alias_prob = {alias_prob.data(), 50};
      with_alias.replacement.alias_index = {alias_index.data(), 50};
      options.push_back(with_alias);
    }
  }
  std::vector<T> row(300);
  for (int i = 0; i < 300; ++i) row[i] = static_cast<T>(1000 + 7 * i);
  for (const ValueOptions& o : options) {
    const ValueChooser choose(o);
    for (int m : {0, 1, 2, 31, 33, 64, 150, 300}) {
      for (bool in_place : {false, true}) {
        std::vector<int64_t> positions;
        for (int p = 0; p < 300 && static_cast<int>(positions.size()) < m; p += 1 + p % 3)
          positions.push_back(p);
        const int64_t count = static_cast<int64_t>(positions.size());
        RowStream fast = choose.Stream(Seed{17, 4}, m, count);
        RowStream slow(Seed{17, 4}, Domain::kValues, static_cast<uint64_t>(m));
        std::vector<T> fast_row = row, fast_out = row, fast_ids(count), slow_out = row,
                       slow_ids(count);
        choose.ChooseRow(fast, fast_row.data(), positions.data(), count, fast_ids.data(),
                         in_place ? fast_row.data() : fast_out.data());
        for (int64_t q = 0; q < count; ++q) {
          slow_ids[q] = row[positions[q]];
          slow_out[positions[q]] = choose(slow, row[positions[q]]);
        }
        ASSERT_EQ(in_place ? fast_row : fast_out, slow_out)
            << "vocab " << o.vocab_size << " rates " << o.mask_token_rate << "/"
            << o.random_token_rate << " m " << m;
        ASSERT_EQ(fast_ids, slow_ids);
        ASSERT_EQ(fast.NextU32(), slow.NextU32()) << "stream position after, m " << m;
      }
    }
  }
}

}  // namespace
}  // namespace tf_mlm

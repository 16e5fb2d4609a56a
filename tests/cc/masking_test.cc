// The fused masking pass, the composed path (GatherMasked / ScatterMasked),
// and independence of the results from how ParallelFor shards the work.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cc/core/masking.h"
#include "gtest/gtest.h"
#include "tests/cc/test_util.h"

namespace tf_mlm {
namespace {

using testing::FromRows;
using testing::FromWords;
using testing::InvalidWith;
using testing::OneElementShardsReversed;
using testing::Outputs;
using testing::Ragged;
using testing::ThreadedShards;

constexpr int64_t kMask = 103;

SelectionOptions Rate(float rate, int64_t cap = std::numeric_limits<int64_t>::max()) {
  SelectionOptions o;
  o.selection_rate = rate;
  o.max_selections = cap;
  return o;
}

ValueOptions Values(float mask_rate, float random_rate, int64_t vocab = 1000) {
  ValueOptions o;
  o.mask_token_rate = mask_rate;
  o.random_token_rate = random_rate;
  o.vocab_size = vocab;
  o.mask_token = kMask;
  return o;
}

template <typename T>
IdSet Ids(const std::vector<T>& ids) {  // IdSet copies what it needs
  return IdSet(Span<T>{ids.data(), static_cast<int64_t>(ids.size())});
}

template <typename T, typename S>
Status RunMlm(const Ragged<T, S>& in, int axis, const IdSet& unselectable,
              const SelectionOptions& sel, const ValueOptions& val, const Seed& seed,
              Outputs<T, S>* out, const ParallelFor& pf = SerialFor, int64_t pad_length = -1) {
  const int64_t rows = static_cast<int64_t>(in.splits[0].size()) - 1;
  return MaskLanguageModel<T, S>(in.values_span(), in.nested(), axis, unselectable, sel, val, seed,
                                 out->Allocator(static_cast<int64_t>(in.values.size()), rows,
                                                /*with_values=*/true, pad_length >= 0),
                                 pf, pad_length);
}

template <typename T>
class MaskLanguageModelTest : public ::testing::Test {};
struct I32I32 {
  using T = int32_t;
  using S = int32_t;
};
struct I32I64 {
  using T = int32_t;
  using S = int64_t;
};
struct I64I32 {
  using T = int64_t;
  using S = int32_t;
};
struct I64I64 {
  using T = int64_t;
  using S = int64_t;
};
using TypePairs = ::testing::Types<I32I32, I32I64, I64I32, I64I64>;
TYPED_TEST_SUITE(MaskLanguageModelTest, TypePairs);

TYPED_TEST(MaskLanguageModelTest, EverythingMasked) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  const auto in = FromRows<T, S>({{1, 2, 3, 4}, {5, 6}, {}});
  Outputs<T, S> out;
  ASSERT_TRUE(RunMlm(in, 1, IdSet(), Rate(1.0f), Values(1.0f, 0.0f), Seed{1, 2}, &out).ok());
  EXPECT_EQ(out.allocations, 1);
  EXPECT_EQ(out.masked_values, (std::vector<T>{103, 103, 103, 103, 103, 103}));
  EXPECT_EQ(out.position_splits, (std::vector<S>{0, 4, 6, 6}));
  EXPECT_EQ(out.positions, (std::vector<S>{0, 1, 2, 3, 0, 1}));
  EXPECT_EQ(out.masked_ids, (std::vector<T>{1, 2, 3, 4, 5, 6}));
}

TYPED_TEST(MaskLanguageModelTest, UnselectableTokensStay) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  const auto in = FromRows<T, S>({{101, 7, 8, 102}, {0, 0}, {9, 101}});
  Outputs<T, S> out;
  ASSERT_TRUE(
      RunMlm(in, 1, Ids<T>({0, 101, 102}), Rate(1.0f), Values(1.0f, 0.0f), Seed{3, 4}, &out).ok());
  EXPECT_EQ(out.masked_values, (std::vector<T>{101, 103, 103, 102, 0, 0, 103, 101}));
  EXPECT_EQ(out.position_splits, (std::vector<S>{0, 2, 2, 3}));
  EXPECT_EQ(out.positions, (std::vector<S>{1, 2, 0}));
  EXPECT_EQ(out.masked_ids, (std::vector<T>{7, 8, 9}));
}

TYPED_TEST(MaskLanguageModelTest, KeepBranchRecordsPositionsButKeepsValues) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  const auto in = FromRows<T, S>({{11, 12, 13}, {14}});
  Outputs<T, S> out;
  ASSERT_TRUE(RunMlm(in, 1, IdSet(), Rate(1.0f), Values(0.0f, 0.0f), Seed{5, 6}, &out).ok());
  EXPECT_EQ(out.masked_values, in.values);
  EXPECT_EQ(out.positions, (std::vector<S>{0, 1, 2, 0}));
  EXPECT_EQ(out.masked_ids, in.values);
}

TYPED_TEST(MaskLanguageModelTest, WholeWords) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  // Row 0: words [10 11] [12] [101]; row 1: [13 14 15]; row 2: no words.
  const auto in = FromWords<T, S>({{{10, 11}, {12}, {101}}, {{13, 14, 15}}, {}});
  ASSERT_EQ(in.splits[0], (std::vector<S>{0, 3, 4, 4}));
  ASSERT_EQ(in.splits[1], (std::vector<S>{0, 2, 3, 4, 7}));
  Outputs<T, S> out;
  ASSERT_TRUE(RunMlm(in, 1, Ids<T>({101}), Rate(1.0f), Values(1.0f, 0.0f), Seed{7, 8}, &out).ok());
  EXPECT_EQ(out.masked_values, (std::vector<T>{103, 103, 103, 101, 103, 103, 103}));
  EXPECT_EQ(out.position_splits, (std::vector<S>{0, 3, 6, 6}));
  EXPECT_EQ(out.positions, (std::vector<S>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(out.masked_ids, (std::vector<T>{10, 11, 12, 13, 14, 15}));

  // A word containing an unselectable piece is unselectable as a whole.
  const auto in2 = FromWords<T, S>({{{10, 101}, {12}}});
  Outputs<T, S> out2;
  ASSERT_TRUE(
      RunMlm(in2, 1, Ids<T>({101}), Rate(1.0f), Values(1.0f, 0.0f), Seed{7, 8}, &out2).ok());
  EXPECT_EQ(out2.masked_values, (std::vector<T>{10, 101, 103}));
  EXPECT_EQ(out2.positions, (std::vector<S>{2}));
}

TYPED_TEST(MaskLanguageModelTest, WholeWordsCapPicksWholeWords) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  const auto in = FromWords<T, S>({{{10, 11}, {12}, {101}}, {{13, 14, 15}}, {}});
  std::set<std::vector<S>> row0_outcomes;
  for (uint64_t s = 0; s < 64; ++s) {
    Outputs<T, S> out;
    ASSERT_TRUE(
        RunMlm(in, 1, Ids<T>({101}), Rate(1.0f, 1), Values(1.0f, 0.0f), Seed{s, 0}, &out).ok());
    const std::vector<S> row0(out.positions.begin(),
                              out.positions.begin() + out.position_splits[1]);
    ASSERT_TRUE(row0 == (std::vector<S>{0, 1}) || row0 == (std::vector<S>{2}));
    EXPECT_EQ(std::vector<S>(out.positions.begin() + out.position_splits[1], out.positions.end()),
              (std::vector<S>{0, 1, 2}));
    row0_outcomes.insert(row0);
  }
  EXPECT_EQ(row0_outcomes.size(), 2u);  // both words get picked for some seed
}

TYPED_TEST(MaskLanguageModelTest, TokenAxisOnRaggedRankTwo) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  // axis = 2: items are wordpieces, positions count tokens within the row.
  const auto in = FromWords<T, S>({{{10, 101}, {12}}, {{13}}});
  Outputs<T, S> out;
  ASSERT_TRUE(RunMlm(in, 2, Ids<T>({101}), Rate(1.0f), Values(1.0f, 0.0f), Seed{1, 1}, &out).ok());
  EXPECT_EQ(out.masked_values, (std::vector<T>{103, 101, 103, 103}));
  EXPECT_EQ(out.position_splits, (std::vector<S>{0, 2, 3}));
  EXPECT_EQ(out.positions, (std::vector<S>{0, 2, 0}));
  EXPECT_EQ(out.masked_ids, (std::vector<T>{10, 12, 13}));
}

TYPED_TEST(MaskLanguageModelTest, DensePadLength) {
  using T = typename TypeParam::T;
  using S = typename TypeParam::S;
  const auto in = FromRows<T, S>({{1, 2, 3, 4}, {5, 6}, {}});
  {
    // Longer than any row: every chosen token recorded, the rest padding.
    Outputs<T, S> out;
    ASSERT_TRUE(
        RunMlm(in, 1, IdSet(), Rate(1.0f), Values(1.0f, 0.0f), Seed{1, 2}, &out, SerialFor, 5)
            .ok());
    EXPECT_EQ(out.masked_values, (std::vector<T>{103, 103, 103, 103, 103, 103}));
    EXPECT_EQ(out.positions,
              (std::vector<S>{0, 1, 2, 3, 0, /**/ 0, 1, 0, 0, 0, /**/ 0, 0, 0, 0, 0}));
    EXPECT_EQ(out.masked_ids,
              (std::vector<T>{1, 2, 3, 4, 0, /**/ 5, 6, 0, 0, 0, /**/ 0, 0, 0, 0, 0}));
    EXPECT_EQ(out.weights,
              (std::vector<float>{1, 1, 1, 1, 0, /**/ 1, 1, 0, 0, 0, /**/ 0, 0, 0, 0, 0}));
  }
  {
    // Shorter than a row: only the first pad_length chosen tokens are masked.
    Outputs<T, S> out;
    ASSERT_TRUE(
        RunMlm(in, 1, IdSet(), Rate(1.0f), Values(1.0f, 0.0f), Seed{1, 2}, &out, SerialFor, 2)
            .ok());
    EXPECT_EQ(out.masked_values, (std::vector<T>{103, 103, 3, 4, 103, 103}));
    EXPECT_EQ(out.positions, (std::vector<S>{0, 1, 0, 1, 0, 0}));
    EXPECT_EQ(out.masked_ids, (std::vector<T>{1, 2, 5, 6, 0, 0}));
    EXPECT_EQ(out.weights, (std::vector<float>{1, 1, 1, 1, 0, 0}));
  }
  {
    Outputs<T, S> out;
    ASSERT_TRUE(
        RunMlm(in, 1, IdSet(), Rate(1.0f), Values(1.0f, 0.0f), Seed{1, 2}, &out, SerialFor, 0)
            .ok());
    EXPECT_EQ(out.masked_values, in.values);
    EXPECT_TRUE(out.positions.empty());
    EXPECT_TRUE(out.weights.empty());
  }
}

TEST(MaskLanguageModel, RejectsBadArguments) {
  const auto in = FromRows<int64_t, int64_t>({{1, 2}});
  Outputs<int64_t, int64_t> out;
  EXPECT_FALSE(RunMlm(in, 0, IdSet(), Rate(0.5f), Values(0.8f, 0.1f), Seed{}, &out).ok());
  EXPECT_FALSE(RunMlm(in, 2, IdSet(), Rate(0.5f), Values(0.8f, 0.1f), Seed{}, &out).ok());
  EXPECT_FALSE(RunMlm(in, 1, IdSet(), Rate(-0.5f), Values(0.8f, 0.1f), Seed{}, &out).ok());
  EXPECT_FALSE(RunMlm(in, 1, IdSet(), Rate(0.5f, -1), Values(0.8f, 0.1f), Seed{}, &out).ok());
  EXPECT_FALSE(RunMlm(in, 1, IdSet(), Rate(0.5f), Values(0.9f, 0.2f), Seed{}, &out).ok());
  EXPECT_EQ(out.allocations, 0);  // nothing allocated for rejected arguments
}

TEST(MaskLanguageModel, AllocationErrorPropagates) {
  const auto in = FromRows<int64_t, int64_t>({{1, 2}});
  const Status s = MaskLanguageModel<int64_t, int64_t>(
      in.values_span(), in.nested(), 1, IdSet(), Rate(0.5f), Values(0.8f, 0.1f), Seed{},
      [](int64_t, MaskOutputs<int64_t, int64_t>*) { return Status::Invalid("no memory"); },
      SerialFor);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "no memory");
}

// A random batch: `rows` rows of up to `max_len` tokens (ragged rank 1), or
// of up to `max_len` words of 1-3 pieces (ragged rank 2).
Ragged<int64_t, int64_t> RandomBatch(int rows, int max_len, bool words, uint32_t seed,
                                     int max_pieces = 3) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> id(0, 120), len(0, max_len), pieces(1, max_pieces);
  if (!words) {
    std::vector<std::vector<int64_t>> r(rows);
    for (auto& row : r) {
      row.resize(len(gen));
      for (auto& v : row) v = id(gen);
    }
    return FromRows<int64_t, int64_t>(r);
  }
  std::vector<std::vector<std::vector<int64_t>>> r(rows);
  for (auto& row : r) {
    row.resize(len(gen));
    for (auto& word : row) {
      word.resize(pieces(gen));
      for (auto& v : word) v = id(gen);
    }
  }
  return FromWords<int64_t, int64_t>(r);
}

// Random nested splits of ragged rank `rank` over `values`, every level
// with empty elements now and then.
Ragged<int32_t, int64_t> RandomNested(int rank, int rows, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> fanout(0, 4), id(0, 7);
  Ragged<int32_t, int64_t> r;
  int64_t count = rows;
  for (int l = 0; l < rank; ++l) {
    std::vector<int64_t> splits{0};
    for (int64_t e = 0; e < count; ++e) splits.push_back(splits.back() + fanout(gen));
    count = splits.back();
    r.splits.push_back(splits);
  }
  for (int64_t t = 0; t < count; ++t) r.values.push_back(static_cast<int32_t>(id(gen)));
  return r;
}

// MarkUniformSubset draws over the stream's buffered words in a tight loop;
// it must mark the same ranks, and leave the stream at the same word, as
// the plain loop of Bounded(n) draws it stands for. (Lemire's rejection is
// the same comparison as in Bounded; it fires with probability below n/2^32,
// so rows of test size never reach it.)
TEST(MarkUniformSubset, EqualsBoundedDrawLoop) {
  int compared = 0;
  for (int64_t n : {1, 2, 3, 7, 64, 65, 100, 333, 1000, 4099}) {
    for (int64_t k : {int64_t{0}, int64_t{1}, n / 7, n / 2, n / 2 + 1, n - 1, n}) {
      if (k < 0 || k > n) continue;
      for (uint64_t s = 0; s < 4; ++s) {
        const Seed seed{s * 977 + static_cast<uint64_t>(n), static_cast<uint64_t>(k)};
        RowStream fast(seed, Domain::kSelection, 1), plain(seed, Domain::kSelection, 1);
        fast.NextU32();  // start mid-buffer
        plain.NextU32();
        std::vector<uint64_t> got(static_cast<size_t>((n + 63) / 64), 0), expected = got;
        internal::MarkUniformSubset(fast, n, k, got);
        const bool complement = k > n / 2;
        for (int64_t marked = 0; marked < (complement ? n - k : k);) {
          const uint64_t r = plain.Bounded(static_cast<uint64_t>(n));
          if (!internal::TestBit(expected, static_cast<int64_t>(r))) {
            internal::SetBit(expected, static_cast<int64_t>(r));
            ++marked;
          }
        }
        if (complement) {
          for (auto& w : expected) w = ~w;
          if (n % 64) expected.back() &= (uint64_t{1} << (n % 64)) - 1;
        }
        ASSERT_EQ(got, expected) << "n " << n << " k " << k;
        ASSERT_EQ(fast.NextU32(), plain.NextU32()) << "stream position, n " << n << " k " << k;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 250);
}

// ForEachFlagged visits exactly the nonzero flags, in order: any nonzero
// byte (a caller's bool may be 2 or 0x80), ranges of any start and length.
TEST(ForEachFlagged, VisitsNonzeroBytesInOrder) {
  std::mt19937 gen(11);
  const uint8_t values[] = {1, 2, 0x80, 0xFF, 0x10};
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> flags(static_cast<size_t>(gen() % 90));
    for (auto& f : flags) f = gen() % 4 == 0 ? values[gen() % 5] : 0;
    const int64_t n = static_cast<int64_t>(flags.size());
    const int64_t begin = n ? static_cast<int64_t>(gen() % (n + 1)) : 0;
    const int64_t end = begin + (n - begin ? static_cast<int64_t>(gen() % (n - begin + 1)) : 0);
    std::vector<int64_t> got, expected;
    internal::ForEachFlagged(flags.data(), begin, end, [&](int64_t i) { got.push_back(i); });
    for (int64_t i = begin; i < end; ++i) {
      if (flags[i]) expected.push_back(i);
    }
    ASSERT_EQ(got, expected) << "trial " << trial;
  }
}

// The pieces of the fused passes' rank walk against their definitions, on
// 0/1 flags of every density and run structure (long runs, scattered
// zeros, all ones, all zeros; lengths around multiples of 8):
//  - ForEachZeroRun lists the maximal runs of zero flags, in order;
//  - RunsRanks (from those runs) and FlagsRanks (from the flags) both map
//    increasing ranks to the index of the rank-th nonzero flag;
//  - TakeSetBits visits the set bits in order and leaves the bitmap clear.
TEST(RankWalk, ZeroRunsAndRankMapsMatchDefinitions) {
  std::mt19937 gen(12);
  for (int trial = 0; trial < 400; ++trial) {
    const int64_t n = static_cast<int64_t>(gen() % 150);
    const int style = trial % 4;
    std::vector<uint8_t> flags(static_cast<size_t>(n), 1);
    for (int64_t i = 0; i < n; ++i) {
      if (style == 0) flags[i] = gen() % 3 != 0;              // scattered zeros
      if (style == 1) flags[i] = (i / (1 + trial % 13)) % 2;  // runs of equal length
      if (style == 2) flags[i] = gen() % 40 != 0;             // rare zeros
      if (style == 3 && trial % 8 == 3) flags[i] = 0;         // all zeros (else all ones)
    }
    std::vector<int64_t> runs, expected_runs;
    internal::ForEachZeroRun(flags.data(), n, [&](int64_t i, int64_t count) {
      runs.push_back(i);
      runs.push_back(count);
    });
    for (int64_t i = 0; i < n;) {
      if (flags[i]) {
        ++i;
        continue;
      }
      int64_t j = i;
      while (j < n && !flags[j]) ++j;
      expected_runs.push_back(i);
      expected_runs.push_back(j - i);
      i = j;
    }
    ASSERT_EQ(runs, expected_runs) << "trial " << trial;

    std::vector<int64_t> selectable;  // index of each rank
    for (int64_t i = 0; i < n; ++i) {
      if (flags[i]) selectable.push_back(i);
    }
    const int64_t num_selectable = static_cast<int64_t>(selectable.size());
    std::vector<uint64_t> bits(static_cast<size_t>((num_selectable + 63) / 64), 0);
    std::vector<int64_t> chosen;
    for (int64_t r = 0; r < num_selectable; ++r) {
      if (gen() % (1 + trial % 5) == 0) {
        chosen.push_back(r);
        bits[r >> 6] |= uint64_t{1} << (r & 63);
      }
    }
    std::vector<int64_t> visited;
    internal::TakeSetBits(bits, num_selectable, [&](int64_t r) { visited.push_back(r); });
    ASSERT_EQ(visited, chosen) << "trial " << trial;
    ASSERT_TRUE(std::all_of(bits.begin(), bits.end(), [](uint64_t w) { return w == 0; }));

    internal::RunsRanks from_runs(runs.data(), static_cast<int64_t>(runs.size() / 2));
    internal::FlagsRanks from_flags(flags.data(), n);
    for (int64_t r : chosen) {
      ASSERT_EQ(from_runs(r), selectable[r]) << "trial " << trial << " rank " << r;
      ASSERT_EQ(from_flags(r), selectable[r]) << "trial " << trial << " rank " << r;
    }
  }
}

// SelectInRow (which spreads 8 bitmap bits at a time into the flags of 8
// selectable items) against the item-by-item mapping of the same draws:
// item i is chosen iff it is selectable and the bit of its rank is set.
TEST(SelectInRow, EqualsItemByItemMapping) {
  std::mt19937 gen(5);
  int compared = 0;
  for (int64_t n : {1, 7, 8, 9, 63, 64, 65, 71, 130, 200, 517}) {
    for (double density : {1.0, 0.97, 0.5, 0.0}) {
      std::bernoulli_distribution selectable_item(density);
      std::vector<uint8_t> selectable(static_cast<size_t>(n));
      // Mostly 1; now and then another true byte (a caller's bool), which
      // must not take the 8-at-a-time path.
      for (auto& f : selectable) f = selectable_item(gen) ? (gen() % 50 ? 1 : 2) : 0;
      for (float rate : {0.15f, 0.6f}) {
        for (uint64_t rep = 0; rep < 12; ++rep) {
          const Seed seed{static_cast<uint64_t>(n), rep};
          std::vector<uint8_t> chosen(static_cast<size_t>(n), 7);
          RowStream rng(seed, Domain::kSelection, 3);
          const int64_t k = SelectInRow(rng, selectable.data(), chosen.data(), n, Rate(rate));
          // The reference: replay the draws (exact count: none before the bitmap).
          int64_t num_selectable = 0;
          for (uint8_t f : selectable) num_selectable += f != 0;
          std::vector<uint8_t> expected(static_cast<size_t>(n), 0);
          if (k == num_selectable) {
            for (int64_t i = 0; i < n; ++i) expected[i] = selectable[i] != 0;
          } else if (k > 0) {
            RowStream replay(seed, Domain::kSelection, 3);
            std::vector<uint64_t> bits(static_cast<size_t>((num_selectable + 63) / 64), 0);
            internal::MarkUniformSubset(replay, num_selectable, k, bits);
            int64_t rank = 0;
            for (int64_t i = 0; i < n; ++i) {
              if (selectable[i]) expected[i] = internal::TestBit(bits, rank++);
            }
          }
          EXPECT_EQ(chosen, expected) << "n " << n << " density " << density << " rate " << rate;
          EXPECT_EQ(std::count(chosen.begin(), chosen.end(), 1), k);
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 11 * 4 * 2 * 12);
}

// The run-based ComputeSelectable against its definition: an item is
// selectable iff none of its tokens is unselectable; empty items are.
TEST(ComputeSelectable, MatchesDefinitionOnRandomNestedBatches) {
  const std::vector<std::vector<int32_t>> sets = {{}, {3}, {0, 1, 2}, {-5, 0, 1, 2, 3, 4}, {7, 6}};
  const ParallelFor fors[] = {SerialFor, OneElementShardsReversed};
  int checked = 0;
  for (int rank = 1; rank <= 3; ++rank) {
    for (uint32_t seed = 0; seed < 6; ++seed) {
      const auto in = RandomNested(rank, 9, 100 * rank + seed);
      const NestedSplits<int64_t> splits = in.nested();
      const int64_t num_values = static_cast<int64_t>(in.values.size());
      for (const std::vector<int32_t>& ids : sets) {
        const IdSet set = Ids<int32_t>(ids);
        for (int axis = 1; axis <= rank; ++axis) {
          const int64_t items = NumItems(splits, num_values, axis);
          std::vector<uint8_t> expected(static_cast<size_t>(items));
          for (int64_t i = 0; i < items; ++i) {
            bool ok = true;
            for (int64_t t = splits.Descend(i, axis, rank); t < splits.Descend(i + 1, axis, rank);
                 ++t) {
              ok = ok && std::find(ids.begin(), ids.end(), in.values[t]) == ids.end();
            }
            expected[i] = ok;
          }
          for (const ParallelFor& pf : fors) {
            std::vector<uint8_t> got(static_cast<size_t>(items), 9);
            ComputeSelectable(in.values_span(), splits, axis, set, got.data(), pf);
            EXPECT_EQ(got, expected) << "rank " << rank << " axis " << axis << " seed " << seed;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 5 * 6 * (1 + 2 + 3));
}

TEST(MaskLanguageModel, ExactCountsPerRowOnRandomBatches) {
  const auto in = RandomBatch(60, 40, /*words=*/false, 1);
  const IdSet special = Ids<int64_t>({0, 101, 102});
  for (uint64_t s = 0; s < 20; ++s) {
    Outputs<int64_t, int64_t> out;
    ASSERT_TRUE(
        RunMlm(in, 1, special, Rate(0.15f, 5), Values(0.8f, 0.1f), Seed{s, s + 1}, &out).ok());
    for (int b = 0; b < 60; ++b) {
      int64_t selectable = 0;
      for (int64_t t = in.splits[0][b]; t < in.splits[0][b + 1]; ++t)
        selectable += !special.Contains(in.values[t]);
      const int64_t got = out.position_splits[b + 1] - out.position_splits[b];
      EXPECT_EQ(got, ExactSelectionCount(selectable, Rate(0.15f, 5))) << "row " << b;
      for (int64_t j = out.position_splits[b]; j < out.position_splits[b + 1]; ++j) {
        const int64_t t = in.splits[0][b] + out.positions[j];
        EXPECT_EQ(out.masked_ids[j], in.values[t]);
        EXPECT_FALSE(special.Contains(in.values[t]));
        if (j > out.position_splits[b]) {
          EXPECT_LT(out.positions[j - 1], out.positions[j]);
        }
      }
    }
  }
}

TEST(MaskLanguageModel, StatelessDeterminism) {
  const auto in = RandomBatch(40, 30, /*words=*/true, 2);
  Outputs<int64_t, int64_t> a, b, c;
  ASSERT_TRUE(RunMlm(in, 1, IdSet(), Rate(0.3f), Values(0.8f, 0.1f), Seed{10, 20}, &a).ok());
  ASSERT_TRUE(RunMlm(in, 1, IdSet(), Rate(0.3f), Values(0.8f, 0.1f), Seed{10, 20}, &b).ok());
  ASSERT_TRUE(RunMlm(in, 1, IdSet(), Rate(0.3f), Values(0.8f, 0.1f), Seed{10, 21}, &c).ok());
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
}

TEST(MaskLanguageModel, RowResultDependsOnlyOnItsOwnData) {
  // Row streams are indexed by row: changing row 0 leaves row 1 untouched.
  const auto x = FromRows<int64_t, int64_t>({{1, 2, 3}, {20, 21, 22, 23, 24, 25, 26, 27}});
  const auto y = FromRows<int64_t, int64_t>(
      {{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, {20, 21, 22, 23, 24, 25, 26, 27}});
  for (uint64_t s = 0; s < 20; ++s) {
    Outputs<int64_t, int64_t> a, b;
    ASSERT_TRUE(RunMlm(x, 1, IdSet(), Rate(0.4f), Values(0.5f, 0.3f), Seed{s, 3}, &a).ok());
    ASSERT_TRUE(RunMlm(y, 1, IdSet(), Rate(0.4f), Values(0.5f, 0.3f), Seed{s, 3}, &b).ok());
    EXPECT_EQ(std::vector<int64_t>(a.positions.begin() + a.position_splits[1], a.positions.end()),
              std::vector<int64_t>(b.positions.begin() + b.position_splits[1], b.positions.end()));
    EXPECT_EQ(std::vector<int64_t>(a.masked_values.end() - 8, a.masked_values.end()),
              std::vector<int64_t>(b.masked_values.end() - 8, b.masked_values.end()));
  }
}

// The token fast path (internal::MaskTokens: unselectable runs, rank -> token
// stepping, the flag walk for rows with many runs) must give exactly what the
// general path gives when every token is a word of its own: same draws, so
// the same outputs, bit for bit. Rows mix specials, padding tails, long runs
// and scattered unselectable ids; both selection modes; ragged and dense.
TEST(MaskLanguageModel, TokenFastPathEqualsGeneralPath) {
  std::mt19937_64 gen(17);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<std::vector<int64_t>> rows;
    const int num_rows = 1 + static_cast<int>(gen() % 24);
    for (int b = 0; b < num_rows; ++b) {
      const int len = static_cast<int>(gen() % 300);
      const int style = static_cast<int>(gen() % 4);
      std::vector<int64_t> row(static_cast<size_t>(len));
      for (int i = 0; i < len; ++i) {
        int64_t id = 1000 + static_cast<int64_t>(gen() % 3000);
        if (style == 1 && i >= len / 2) id = 0;                                  // padding tail
        if (style == 2 && gen() % 3 == 0) id = static_cast<int64_t>(gen() % 3);  // scattered
        if (style == 3 && (i / 20) % 2 == 1) id = 0;                             // many runs
        row[static_cast<size_t>(i)] = id;
      }
      if (len > 1) {
        row.front() = 101;
        row.back() = 102;
      }
      rows.push_back(row);
    }
    const auto tokens = FromRows<int64_t, int64_t>(rows);
    std::vector<std::vector<std::vector<int64_t>>> word_rows;
    for (const auto& row : rows) {
      word_rows.emplace_back();
      for (int64_t id : row) word_rows.back().push_back({id});
    }
    const auto words = FromWords<int64_t, int64_t>(word_rows);
    const std::vector<int64_t> special = {0, 101, 102};
    const std::vector<int64_t> many = {0, 1, 2, 101, 102};  // > kSmallIdSet: lookups
    for (const auto* ids : {&special, &many}) {
      for (SelectionMode mode : {SelectionMode::kExactCount, SelectionMode::kBernoulli}) {
        for (int64_t pad_length : {int64_t{-1}, int64_t{24}}) {
          SelectionOptions sel = Rate(0.2f, 40);
          sel.mode = mode;
          const Seed seed{static_cast<uint64_t>(trial), 5};
          Outputs<int64_t, int64_t> fast, general;
          ASSERT_TRUE(RunMlm(tokens, 1, Ids(*ids), sel, Values(0.8f, 0.1f, 5000), seed, &fast,
                             SerialFor, pad_length)
                          .ok());
          ASSERT_TRUE(RunMlm(words, 1, Ids(*ids), sel, Values(0.8f, 0.1f, 5000), seed, &general,
                             SerialFor, pad_length)
                          .ok());
          ASSERT_EQ(fast.masked_values, general.masked_values) << "trial " << trial;
          ASSERT_EQ(fast.positions, general.positions) << "trial " << trial;
          ASSERT_EQ(fast.masked_ids, general.masked_ids) << "trial " << trial;
          ASSERT_EQ(fast.weights, general.weights) << "trial " << trial;
          if (pad_length < 0) {
            ASSERT_EQ(fast.position_splits, general.position_splits);
          }
        }
      }
    }
  }
}

TEST(MaskLanguageModel, UniformOverSelectableTokens) {
  // One row of 10 tokens, 2 unselectable: each of the 8 others is masked
  // with probability ceil(8 * 0.25) / 8 = 1/4.
  const auto in = FromRows<int64_t, int64_t>({{5, 0, 6, 7, 8, 0, 9, 10, 11, 12}});
  std::vector<int> freq(10, 0);
  const int seeds = 8000;
  for (int s = 0; s < seeds; ++s) {
    Outputs<int64_t, int64_t> out;
    ASSERT_TRUE(RunMlm(in, 1, Ids<int64_t>({0}), Rate(0.25f), Values(1.0f, 0.0f),
                       Seed{static_cast<uint64_t>(s), 77}, &out)
                    .ok());
    ASSERT_EQ(out.positions.size(), 2u);
    for (int64_t p : out.positions) ++freq[p];
  }
  for (int i = 0; i < 10; ++i) {
    if (in.values[i] == 0) {
      EXPECT_EQ(freq[i], 0);
    } else {
      EXPECT_NEAR(freq[i] / double(seeds), 0.25, 0.025) << "position " << i;
    }
  }
}

// ---- Independence of the ParallelFor sharding ------------------------------

class ShardingTest : public ::testing::TestWithParam<bool> {};  // param: whole words

TEST_P(ShardingTest, FusedPassIgnoresSharding) {
  const bool words = GetParam();
  const auto in = RandomBatch(150, 50, words, 3);
  const IdSet special = Ids<int64_t>({0, 101, 102});
  for (int64_t pad : {int64_t{-1}, int64_t{7}}) {
    for (SelectionMode mode : {SelectionMode::kExactCount, SelectionMode::kBernoulli}) {
      SelectionOptions sel = Rate(0.2f, 9);
      sel.mode = mode;
      Outputs<int64_t, int64_t> serial, single, threaded;
      ASSERT_TRUE(
          RunMlm(in, 1, special, sel, Values(0.6f, 0.3f), Seed{4, 5}, &serial, SerialFor, pad)
              .ok());
      ASSERT_TRUE(RunMlm(in, 1, special, sel, Values(0.6f, 0.3f), Seed{4, 5}, &single,
                         OneElementShardsReversed, pad)
                      .ok());
      ASSERT_TRUE(RunMlm(in, 1, special, sel, Values(0.6f, 0.3f), Seed{4, 5}, &threaded,
                         ThreadedShards, pad)
                      .ok());
      EXPECT_FALSE(serial.positions.empty());
      EXPECT_TRUE(serial == single) << "pad " << pad;
      EXPECT_TRUE(serial == threaded) << "pad " << pad;
    }
  }
}

TEST_P(ShardingTest, ComposedStepsIgnoreSharding) {
  const bool words = GetParam();
  const auto in = RandomBatch(120, 40, words, 4);
  const NestedSplits<int64_t> splits = in.nested();
  const int axis = 1;
  const int64_t items = NumItems(splits, static_cast<int64_t>(in.values.size()), axis);
  const IdSet special = Ids<int64_t>({0, 101, 102});
  const ParallelFor fors[] = {SerialFor, OneElementShardsReversed, ThreadedShards};
  std::vector<std::vector<uint8_t>> selectable(3, std::vector<uint8_t>(items)), chosen = selectable;
  std::vector<std::vector<int64_t>> values(3);
  for (int f = 0; f < 3; ++f) {
    ComputeSelectable(in.values_span(), splits, axis, special, selectable[f].data(), fors[f]);
    SelectItems(splits.levels[0], selectable[f].data(), chosen[f].data(), Rate(0.3f), Seed{6, 7},
                fors[f]);
    const Span<int64_t> ids = in.values_span();  // any ragged ids will do
    values[f].resize(in.values.size());
    ChooseValues(ids, in.nested().levels.back(), Values(0.5f, 0.4f), Seed{6, 7}, values[f].data(),
                 fors[f]);
  }
  for (int f = 1; f < 3; ++f) {
    EXPECT_EQ(selectable[0], selectable[f]);
    EXPECT_EQ(chosen[0], chosen[f]);
    EXPECT_EQ(values[0], values[f]);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokens, ShardingTest, ::testing::Values(false));
INSTANTIATE_TEST_SUITE_P(WholeWords, ShardingTest, ::testing::Values(true));

// ---- Composed path ----------------------------------------------------------

TEST(ComposedPath, EqualsFusedPass) {
  // ComputeSelectable + SelectItems + GatherMasked + ChooseValues +
  // ScatterMasked draw from the same row streams as the fused pass.
  for (bool words : {false, true}) {
    const auto in = RandomBatch(50, 30, words, 5);
    const NestedSplits<int64_t> splits = in.nested();
    const IdSet special = Ids<int64_t>({0, 101, 102});
    const Seed seed{11, 12};
    const SelectionOptions sel = Rate(0.2f, 6);
    const ValueOptions val = Values(0.6f, 0.3f);
    Outputs<int64_t, int64_t> fused;
    ASSERT_TRUE(RunMlm(in, 1, special, sel, val, seed, &fused).ok());

    const int64_t items = NumItems(splits, static_cast<int64_t>(in.values.size()), 1);
    std::vector<uint8_t> flags(items);
    ComputeSelectable(in.values_span(), splits, 1, special, flags.data(), SerialFor);
    SelectItems(splits.levels[0], flags.data(), flags.data(), sel, seed, SerialFor);
    Outputs<int64_t, int64_t> gathered;
    ASSERT_TRUE(GatherMasked(in.values_span(), splits, 1, flags.data(),
                             gathered.Allocator(0, splits.num_rows(), /*with_values=*/false),
                             SerialFor)
                    .ok());
    EXPECT_EQ(gathered.positions, fused.positions);
    EXPECT_EQ(gathered.position_splits, fused.position_splits);
    EXPECT_EQ(gathered.masked_ids, fused.masked_ids);
    const Span<int64_t> pos_splits{gathered.position_splits.data(),
                                   static_cast<int64_t>(gathered.position_splits.size())};
    const Span<int64_t> ids{gathered.masked_ids.data(),
                            static_cast<int64_t>(gathered.masked_ids.size())};
    std::vector<int64_t> new_ids(ids.size);
    ChooseValues(ids, pos_splits, val, seed, new_ids.data(), SerialFor);
    std::vector<int64_t> scattered(in.values.size());
    ASSERT_TRUE(ScatterMasked(in.values_span(), splits,
                              Span<int64_t>{gathered.positions.data(),
                                            static_cast<int64_t>(gathered.positions.size())},
                              pos_splits, Span<int64_t>{new_ids.data(), ids.size}, scattered.data())
                    .ok());
    EXPECT_EQ(scattered, fused.masked_values) << (words ? "words" : "tokens");
  }
}

// ---- Span pass --------------------------------------------------------------

template <typename T, typename S>
Status RunSpans(const Ragged<T, S>& in, int axis, const IdSet& unselectable,
                const SpanOptions& spans, const ValueOptions& val, const Seed& seed,
                Outputs<T, S>* out, const ParallelFor& pf = SerialFor, int64_t pad_length = -1) {
  const int64_t rows = static_cast<int64_t>(in.splits[0].size()) - 1;
  return MaskSpans<T, S>(in.values_span(), in.nested(), axis, unselectable, spans, val, seed,
                         out->Allocator(static_cast<int64_t>(in.values.size()), rows,
                                        /*with_values=*/true, pad_length >= 0),
                         pf, pad_length);
}

SpanOptions Spans(float rate, int64_t cap, double p, int64_t max_length) {
  SpanOptions o;
  o.budget = Rate(rate, cap);
  o.p = p;
  o.max_length = max_length;
  return o;
}

TEST(SpanPass, EqualsComposedSteps) {
  // ComputeSelectable + SelectSpans + GatherMasked + ChooseValues +
  // ScatterMasked, the steps of a SpanItemSelector's composed path.
  for (bool words : {false, true}) {
    const auto in = RandomBatch(50, 30, words, 7);
    const NestedSplits<int64_t> splits = in.nested();
    const IdSet special = Ids<int64_t>({0, 101, 102});
    const Seed seed{3, 4};
    const SpanOptions spans = Spans(0.3f, 8, 0.3, 4);
    const ValueOptions val = Values(0.6f, 0.3f);
    Outputs<int64_t, int64_t> fused;
    ASSERT_TRUE(RunSpans(in, 1, special, spans, val, seed, &fused).ok());
    EXPECT_FALSE(fused.positions.empty());

    const int64_t rows = splits.num_rows();
    const int64_t items = NumItems(splits, static_cast<int64_t>(in.values.size()), 1);
    std::vector<uint8_t> flags(items), chosen(items);
    ComputeSelectable(in.values_span(), splits, 1, special, flags.data(), SerialFor);
    std::vector<int64_t> tokens;
    if (words) {
      for (int64_t i = 0; i < items; ++i) tokens.push_back(in.splits[1][i + 1] - in.splits[1][i]);
    }
    ASSERT_TRUE(SelectSpans(splits.levels[0], flags.data(),
                            Span<int64_t>{tokens.data(), static_cast<int64_t>(tokens.size())},
                            chosen.data(), spans, seed, SerialFor)
                    .ok());
    Outputs<int64_t, int64_t> gathered;
    ASSERT_TRUE(GatherMasked(in.values_span(), splits, 1, chosen.data(),
                             gathered.Allocator(0, rows, /*with_values=*/false), SerialFor)
                    .ok());
    EXPECT_EQ(gathered.positions, fused.positions);
    EXPECT_EQ(gathered.position_splits, fused.position_splits);
    EXPECT_EQ(gathered.masked_ids, fused.masked_ids);
    const Span<int64_t> pos_splits{gathered.position_splits.data(), rows + 1};
    const Span<int64_t> ids{gathered.masked_ids.data(),
                            static_cast<int64_t>(gathered.masked_ids.size())};
    std::vector<int64_t> new_ids(ids.size);
    ChooseValues(ids, pos_splits, val, seed, new_ids.data(), SerialFor);
    std::vector<int64_t> scattered(in.values.size());
    ASSERT_TRUE(ScatterMasked(in.values_span(), splits,
                              Span<int64_t>{gathered.positions.data(),
                                            static_cast<int64_t>(gathered.positions.size())},
                              pos_splits, Span<int64_t>{new_ids.data(), ids.size}, scattered.data())
                    .ok());
    EXPECT_EQ(scattered, fused.masked_values) << (words ? "words" : "tokens");

    Outputs<int64_t, int64_t> threaded;
    ASSERT_TRUE(RunSpans(in, 1, special, spans, val, seed, &threaded, ThreadedShards).ok());
    EXPECT_EQ(threaded, fused);
  }
}

TEST(SpanPass, DenseOutputsAreTheRaggedOnesPaddedWithTheBudgetCapped) {
  for (bool words : {false, true}) {
    const auto in = RandomBatch(40, 30, words, 8);
    const IdSet special = Ids<int64_t>({0, 101, 102});
    const Seed seed{5, 6};
    const ValueOptions val = Values(0.8f, 0.1f);
    for (int64_t pad : {0, 3, 8, 20}) {
      // The dense pass's budget is min(cap, pad): the ragged pass with that cap.
      Outputs<int64_t, int64_t> ragged, dense;
      ASSERT_TRUE(RunSpans(in, 1, special, Spans(0.5f, std::min<int64_t>(8, pad), 0.3, 4), val,
                           seed, &ragged)
                      .ok());
      ASSERT_TRUE(
          RunSpans(in, 1, special, Spans(0.5f, 8, 0.3, 4), val, seed, &dense, SerialFor, pad).ok());
      EXPECT_EQ(dense.masked_values, ragged.masked_values);
      const int64_t rows = static_cast<int64_t>(ragged.position_splits.size()) - 1;
      for (int64_t b = 0; b < rows; ++b) {
        const int64_t j0 = ragged.position_splits[b], m = ragged.position_splits[b + 1] - j0;
        ASSERT_LE(m, pad);
        for (int64_t q = 0; q < pad; ++q) {
          const int64_t k = b * pad + q;
          EXPECT_EQ(dense.positions[k], q < m ? ragged.positions[j0 + q] : 0);
          EXPECT_EQ(dense.masked_ids[k], q < m ? ragged.masked_ids[j0 + q] : 0);
          EXPECT_EQ(dense.weights[k], q < m ? 1.0f : 0.0f);
        }
      }
    }
  }
}

TEST(SpanPass, ValidatesItsOptions) {
  const auto in = RandomBatch(4, 10, false, 9);
  Outputs<int64_t, int64_t> out;
  const ValueOptions val = Values(0.8f, 0.1f);
  EXPECT_TRUE(
      InvalidWith(RunSpans(in, 1, IdSet(), Spans(0.2f, 5, 0.0, 4), val, {1, 2}, &out), "span p"));
  EXPECT_TRUE(InvalidWith(RunSpans(in, 1, IdSet(), Spans(0.2f, 5, 0.2, 0), val, {1, 2}, &out),
                          "max_span_length"));
  EXPECT_TRUE(InvalidWith(RunSpans(in, 1, IdSet(), Spans(0.2f, -1, 0.2, 4), val, {1, 2}, &out),
                          "max_selections"));
  EXPECT_TRUE(
      InvalidWith(RunSpans(in, 2, IdSet(), Spans(0.2f, 5, 0.2, 4), val, {1, 2}, &out), "axis"));
  EXPECT_EQ(out.allocations, 0);
}

// GatherMasked against the definition, computed here from the chosen
// flags: each row lists the tokens of its chosen items in order, as offsets
// from the row's first token. Words of 1-9 pieces, so both the short-item
// path of AppendItemPositions (up to 4 tokens, near and far from the end of
// a row's slots) and the general one are covered.
TEST(GatherMasked, ChosenItemsTokensInOrder) {
  const auto in = RandomBatch(80, 30, /*words=*/true, 9, /*max_pieces=*/9);
  const NestedSplits<int64_t> splits = in.nested();
  const int64_t rows = splits.num_rows();
  const std::vector<int64_t>& row_words = in.splits[0];
  const std::vector<int64_t>& word_tokens = in.splits[1];
  std::mt19937 gen(10);
  for (int trial = 0; trial < 8; ++trial) {
    std::vector<uint8_t> chosen(word_tokens.size() - 1);
    std::bernoulli_distribution pick(trial / 7.0);
    for (auto& c : chosen) c = pick(gen);
    std::vector<std::vector<int64_t>> expected(rows);
    for (int64_t b = 0; b < rows; ++b) {
      for (int64_t w = row_words[b]; w < row_words[b + 1]; ++w) {
        if (!chosen[w]) continue;
        for (int64_t t = word_tokens[w]; t < word_tokens[w + 1]; ++t) {
          expected[b].push_back(t - word_tokens[row_words[b]]);
        }
      }
    }
    Outputs<int64_t, int64_t> ragged;
    ASSERT_TRUE(GatherMasked(in.values_span(), splits, 1, chosen.data(),
                             ragged.Allocator(0, rows, false), SerialFor)
                    .ok());
    for (int64_t b = 0; b < rows; ++b) {
      const std::vector<int64_t> got(ragged.positions.begin() + ragged.position_splits[b],
                                     ragged.positions.begin() + ragged.position_splits[b + 1]);
      ASSERT_EQ(got, expected[b]) << "trial " << trial << " row " << b;
    }
  }
}

// The whole-word fused pass, dense: each row's outputs are the first
// pad_length of its ragged outputs (same seed), then zeros with weight 0;
// only the recorded tokens change in masked_values. Words of 1-9 pieces,
// rows with many unselectable words (more runs than the pass keeps) and
// with none.
TEST(MaskLanguageModel, WholeWordDenseIsRaggedCut) {
  const auto in = RandomBatch(80, 30, /*words=*/true, 9, /*max_pieces=*/9);
  const int64_t rows = static_cast<int64_t>(in.splits[0].size()) - 1;
  for (int trial = 0; trial < 6; ++trial) {
    // ids are drawn from [0, 120]: 3 special ids leave most words
    // selectable; 40 make many short runs of unselectable words.
    std::vector<int64_t> special_ids = {0, 101, 102};
    if (trial % 2 == 1) {
      for (int64_t id = 3; id < 40; ++id) special_ids.push_back(id);
    }
    const IdSet special = Ids(special_ids);
    SelectionOptions sel = Rate(trial == 5 ? 1.0f : 0.1f + 0.15f * trial, 1 + 4 * trial);
    sel.mode = trial < 3 ? SelectionMode::kExactCount : SelectionMode::kBernoulli;
    const Seed seed{static_cast<uint64_t>(trial), 3};
    const ValueOptions val = Values(0.5f, 0.3f);
    Outputs<int64_t, int64_t> ragged;
    ASSERT_TRUE(RunMlm(in, 1, special, sel, val, seed, &ragged).ok());
    for (int64_t pad_length : {0, 1, 3, 5, 12, 200}) {
      Outputs<int64_t, int64_t> dense;
      ASSERT_TRUE(RunMlm(in, 1, special, sel, val, seed, &dense, SerialFor, pad_length).ok());
      std::vector<int64_t> values = in.values;
      for (int64_t b = 0; b < rows; ++b) {
        const int64_t r0 = ragged.position_splits[b], r1 = ragged.position_splits[b + 1];
        const int64_t t_row = in.splits[1][in.splits[0][b]];
        for (int64_t j = 0; j < pad_length; ++j) {
          const int64_t d = b * pad_length + j;
          const bool kept = j < r1 - r0;
          ASSERT_EQ(dense.positions[d], kept ? ragged.positions[r0 + j] : 0)
              << "trial " << trial << " pad_length " << pad_length << " row " << b << " slot " << j;
          ASSERT_EQ(dense.masked_ids[d], kept ? ragged.masked_ids[r0 + j] : 0);
          ASSERT_EQ(dense.weights[d], kept ? 1.0f : 0.0f);
          if (kept) {
            const int64_t t = t_row + ragged.positions[r0 + j];
            values[t] = ragged.masked_values[t];
          }
        }
      }
      ASSERT_EQ(dense.masked_values, values) << "trial " << trial << " pad_length " << pad_length;
    }
  }
}

TEST(GatherMasked, HandCheckedLevels) {
  const auto in = FromWords<int32_t, int64_t>({{{10, 11}, {12}}, {{13, 14, 15}, {16}}});
  const NestedSplits<int64_t> splits = in.nested();
  {
    const std::vector<uint8_t> words = {0, 1, 1, 1};  // mask_level 1: per word
    Outputs<int32_t, int64_t> out;
    ASSERT_TRUE(GatherMasked(in.values_span(), splits, 1, words.data(), out.Allocator(0, 2, false),
                             SerialFor)
                    .ok());
    EXPECT_EQ(out.position_splits, (std::vector<int64_t>{0, 1, 5}));
    EXPECT_EQ(out.positions, (std::vector<int64_t>{2, 0, 1, 2, 3}));
    EXPECT_EQ(out.masked_ids, (std::vector<int32_t>{12, 13, 14, 15, 16}));
  }
  {
    const std::vector<uint8_t> tokens = {1, 0, 0, 0, 1, 0, 1};  // mask_level 2: per token
    Outputs<int32_t, int64_t> out;
    ASSERT_TRUE(GatherMasked(in.values_span(), splits, 2, tokens.data(), out.Allocator(0, 2, false),
                             SerialFor)
                    .ok());
    EXPECT_EQ(out.position_splits, (std::vector<int64_t>{0, 1, 3}));
    EXPECT_EQ(out.positions, (std::vector<int64_t>{0, 1, 3}));
    EXPECT_EQ(out.masked_ids, (std::vector<int32_t>{10, 14, 16}));
  }
  for (int bad_level : {0, 3}) {
    const std::vector<uint8_t> none(7, 0);
    Outputs<int32_t, int64_t> out;
    EXPECT_FALSE(GatherMasked(in.values_span(), splits, bad_level, none.data(),
                              out.Allocator(0, 2, false), SerialFor)
                     .ok());
    EXPECT_EQ(out.allocations, 0);
  }
}

template <typename P>
Status Scatter(const Ragged<int64_t, int64_t>& in, const std::vector<P>& positions,
               const std::vector<int64_t>& position_splits, const std::vector<int64_t>& new_ids,
               std::vector<int64_t>* out) {
  out->assign(in.values.size(), -1);
  return ScatterMasked<int64_t, int64_t, P>(
      in.values_span(), in.nested(),
      Span<P>{positions.data(), static_cast<int64_t>(positions.size())},
      Span<int64_t>{position_splits.data(), static_cast<int64_t>(position_splits.size())},
      Span<int64_t>{new_ids.data(), static_cast<int64_t>(new_ids.size())}, out->data());
}

TEST(ScatterMasked, GatherScatterRoundTrip) {
  const auto in = RandomBatch(30, 20, /*words=*/true, 6);
  const NestedSplits<int64_t> splits = in.nested();
  const int64_t words = NumItems(splits, static_cast<int64_t>(in.values.size()), 1);
  std::vector<uint8_t> chosen(words);
  for (int64_t i = 0; i < words; ++i) chosen[i] = (i * 7) % 3 == 0;
  Outputs<int64_t, int64_t> g;
  ASSERT_TRUE(GatherMasked(in.values_span(), splits, 1, chosen.data(),
                           g.Allocator(0, splits.num_rows(), false), SerialFor)
                  .ok());
  // Scattering the gathered ids back is the identity.
  std::vector<int64_t> out;
  ASSERT_TRUE(Scatter<int64_t>(in, g.positions, g.position_splits, g.masked_ids, &out).ok());
  EXPECT_EQ(out, in.values);
  // Scattering shifted ids changes exactly the tokens of the chosen words.
  std::vector<int64_t> shifted = g.masked_ids;
  for (int64_t& v : shifted) v += 1000;
  ASSERT_TRUE(Scatter<int64_t>(in, g.positions, g.position_splits, shifted, &out).ok());
  int64_t changed = 0;
  for (int64_t w = 0; w < words; ++w) {
    for (int64_t t = in.splits[1][w]; t < in.splits[1][w + 1]; ++t) {
      EXPECT_EQ(out[t], in.values[t] + (chosen[w] ? 1000 : 0));
      changed += chosen[w];
    }
  }
  EXPECT_EQ(changed, static_cast<int64_t>(g.positions.size()));
  // int32 positions work the same.
  const std::vector<int32_t> pos32(g.positions.begin(), g.positions.end());
  std::vector<int64_t> out32;
  ASSERT_TRUE(Scatter<int32_t>(in, pos32, g.position_splits, shifted, &out32).ok());
  EXPECT_EQ(out32, out);
}

TEST(ScatterMasked, InPlace) {
  auto in = FromRows<int64_t, int64_t>({{1, 2, 3}, {4, 5}});
  const std::vector<int64_t> positions = {2, 0}, splits = {0, 1, 2}, ids = {30, 40};
  const NestedSplits<int64_t> nested = in.nested();
  ASSERT_TRUE((ScatterMasked<int64_t, int64_t, int64_t>(
                   in.values_span(), nested, Span<int64_t>{positions.data(), 2},
                   Span<int64_t>{splits.data(), 3}, Span<int64_t>{ids.data(), 2}, in.values.data()))
                  .ok());
  EXPECT_EQ(in.values, (std::vector<int64_t>{1, 2, 30, 40, 5}));
}

TEST(ScatterMasked, Errors) {
  const auto in = FromRows<int64_t, int64_t>({{1, 2, 3}, {4, 5}});
  std::vector<int64_t> out;
  EXPECT_TRUE(InvalidWith(Scatter<int64_t>(in, {0}, {0, 1}, {9}, &out),
                          "as many rows as input_ids (2), got 1"));
  EXPECT_TRUE(
      InvalidWith(Scatter<int64_t>(in, {0, 1}, {0, 1, 2}, {9}, &out), "same number of values"));
  EXPECT_TRUE(
      InvalidWith(Scatter<int64_t>(in, {0, 2}, {0, 1, 2}, {9, 9}, &out), "position 2 of row 1"));
  EXPECT_TRUE(
      InvalidWith(Scatter<int64_t>(in, {-1}, {0, 1, 1}, {9}, &out), "position -1 of row 0"));
  EXPECT_TRUE(
      InvalidWith(Scatter<int32_t>(in, {3}, {0, 1, 1}, {9}, &out), "outside the row (length 3)"));
  // Malformed position splits must be rejected before any position is read.
  EXPECT_TRUE(InvalidWith(Scatter<int64_t>(in, {0, 1}, {0, 5, 2}, {9, 9}, &out),
                          "masked_positions_row_splits"));
  EXPECT_TRUE(InvalidWith(Scatter<int64_t>(in, {0, 1}, {0, 1, 7}, {9, 9}, &out),
                          "masked_positions_row_splits"));
  EXPECT_TRUE(InvalidWith(Scatter<int64_t>(in, {0, 1}, {1, 2, 2}, {9, 9}, &out),
                          "masked_positions_row_splits"));
}

}  // namespace
}  // namespace tf_mlm

// Philox4x32-10 and the per-row random streams built on it.
#include "cc/core/philox.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace tf_mlm {
namespace {

// Random123's published known-answer vectors (its kat_vectors file).
TEST(Philox4x32, KnownAnswerZero) {
  EXPECT_EQ(Philox4x32({0u, 0u, 0u, 0u}, 0u, 0u),
            (PhiloxBlock{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
}

TEST(Philox4x32, KnownAnswerAllOnes) {
  EXPECT_EQ(
      Philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu),
      (PhiloxBlock{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
}

TEST(Philox4x32, KnownAnswerPiDigits) {
  EXPECT_EQ(
      Philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u),
      (PhiloxBlock{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

// A refill computes several blocks at once; its words must be the blocks in
// order, whatever the CPU path, including across a carry into the counter's
// high word.
std::vector<uint32_t> BlocksOneByOne(int blocks, uint64_t counter, uint32_t lo, uint32_t hi,
                                     uint32_t k0, uint32_t k1) {
  std::vector<uint32_t> out;
  for (int i = 0; i < blocks; ++i) {
    const uint64_t c = counter + static_cast<uint64_t>(i);
    for (uint32_t w :
         Philox4x32({static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), lo, hi}, k0, k1)) {
      out.push_back(w);
    }
  }
  return out;
}

const int kRefillSizes[] = {internal::kPhiloxFirstBatch, internal::kPhiloxBatch, 24,
                            internal::kPhiloxMaxBatch, 4};

TEST(PhiloxBatch, ScalarIsBlocksInOrder) {
  for (int blocks : kRefillSizes) {
    for (uint64_t counter : {uint64_t{0}, uint64_t{5}, uint64_t{0xFFFFFFFDull}, ~uint64_t{3}}) {
      std::vector<uint32_t> words(4 * blocks);
      internal::PhiloxBatchScalar(blocks, counter, 0x9abcdef0u, 0x12345678u, 0xdeadbeefu,
                                  0xfeedf00du, words.data());
      EXPECT_EQ(words, BlocksOneByOne(blocks, counter, 0x9abcdef0u, 0x12345678u, 0xdeadbeefu,
                                      0xfeedf00du));
    }
  }
}

#if TF_MLM_HAVE_AVX2_DISPATCH
TEST(PhiloxBatch, Avx2EqualsScalar) {
  if (!CpuHasAvx2()) GTEST_SKIP() << "this CPU has no AVX2";
  uint64_t state = 1;
  for (int trial = 0; trial < 2000; ++trial) {
    state = Mix64(state);
    const uint64_t counter = trial < 4 ? 0xFFFFFFFCull + trial : state;
    const uint32_t lo = static_cast<uint32_t>(Mix64(state + 1)),
                   hi = static_cast<uint32_t>(Mix64(state + 2));
    const uint32_t k0 = static_cast<uint32_t>(Mix64(state + 3)),
                   k1 = static_cast<uint32_t>(Mix64(state + 4) >> 32);
    for (int blocks :
         {internal::kPhiloxFirstBatch, internal::kPhiloxBatch, 24, internal::kPhiloxMaxBatch}) {
      std::vector<uint32_t> scalar(4 * blocks), avx2(4 * blocks);
      internal::PhiloxBatchScalar(blocks, counter, lo, hi, k0, k1, scalar.data());
      internal::PhiloxBatchAvx2(blocks, counter, lo, hi, k0, k1, avx2.data());
      ASSERT_EQ(avx2, scalar) << "counter " << counter << " blocks " << blocks;
    }
  }
}
#endif

std::vector<uint32_t> Draw(RowStream rng, int n) {
  std::vector<uint32_t> out(n);
  for (uint32_t& x : out) x = rng.NextU32();
  return out;
}

// A stream's words are its Philox blocks 0, 1, 2, ... in order, whatever
// the refill sizes: counter words 0-1 count blocks, words 2-3 hold the
// stream id Mix64(Mix64(s1 ^ domain * C) + row), the key is s0.
TEST(RowStream, WordsAreTheBlocksInOrder) {
  const Seed seed{0x0123456789abcdefull, 0x0fedcba987654321ull};
  const uint64_t row = 12;
  const uint64_t stream = Mix64(
      Mix64(seed.s1 ^ (static_cast<uint64_t>(Domain::kValues) * 0xD1B54A32D192ED03ULL)) + row);
  const std::vector<uint32_t> expected =
      BlocksOneByOne(100, 0, static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32),
                     static_cast<uint32_t>(seed.s0), static_cast<uint32_t>(seed.s0 >> 32));
  EXPECT_EQ(Draw(RowStream(seed, Domain::kValues, row), 400), expected);
}

// Skip(n) is n draws: whatever was drawn before (within the first, smaller
// refill or a later one) and however n falls on block and refill boundaries.
TEST(RowStream, SkipEqualsDrawing) {
  const Seed seed{0x1234, 0x5678};
  for (int before : {0, 1, 3, 31, 32, 33, 95, 96, 100}) {
    for (uint64_t n : {0, 1, 3, 4, 5, 31, 32, 33, 63, 64, 65, 96, 127, 200, 1001}) {
      RowStream skipped(seed, Domain::kSelection, 7), drawn(seed, Domain::kSelection, 7);
      for (int i = 0; i < before; ++i) {
        skipped.NextU32();
        drawn.NextU32();
      }
      skipped.Skip(n);
      for (uint64_t i = 0; i < n; ++i) drawn.NextU32();
      ASSERT_EQ(Draw(skipped, 300), Draw(drawn, 300)) << "before " << before << " n " << n;
    }
  }
}

// ExpectWords only sizes the first refill: any hint, before the first draw
// or after it, gives the same words.
TEST(RowStream, ExpectWordsKeepsTheWords) {
  const Seed seed{0xabcdef, 0x13579};
  const std::vector<uint32_t> plain = Draw(RowStream(seed, Domain::kValues, 3), 700);
  for (int64_t hint : std::vector<int64_t>{-5, 0, 1, 32, 33, 63, 64, 65, 96, 127, 128, 129, 1000,
                                           int64_t{1} << 40}) {
    RowStream early(seed, Domain::kValues, 3);
    early.ExpectWords(hint);
    EXPECT_EQ(Draw(early, 700), plain) << "hint " << hint;
    RowStream late(seed, Domain::kValues, 3);
    std::vector<uint32_t> words{late.NextU32()};
    late.ExpectWords(hint);
    for (uint32_t w : Draw(late, 699)) words.push_back(w);
    EXPECT_EQ(words, plain) << "late hint " << hint;
  }
}

TEST(PhiloxBatch, FirstBatchForIsWithinBoundsAndAMultipleOf8) {
  EXPECT_EQ(internal::FirstBatchFor(0), internal::kPhiloxFirstBatch);
  EXPECT_EQ(internal::FirstBatchFor(32), 8);
  EXPECT_EQ(internal::FirstBatchFor(33), 16);
  EXPECT_EQ(internal::FirstBatchFor(64), 16);
  EXPECT_EQ(internal::FirstBatchFor(65), 24);
  EXPECT_EQ(internal::FirstBatchFor(128), internal::kPhiloxMaxBatch);
  EXPECT_EQ(internal::FirstBatchFor(int64_t{1} << 50), internal::kPhiloxMaxBatch);
}

TEST(RowStream, DeterministicForSameSeedDomainRow) {
  const Seed seed{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  EXPECT_EQ(Draw(RowStream(seed, Domain::kSelection, 5), 64),
            Draw(RowStream(seed, Domain::kSelection, 5), 64));
}

TEST(RowStream, BlockCounterAdvances) {
  // Words come four per Philox block; consecutive blocks must differ.
  RowStream rng(Seed{0x1111222233334444ULL, 99}, Domain::kValues, 0);
  const std::vector<uint32_t> words = Draw(rng, 12);
  const std::vector<uint32_t> b0(words.begin(), words.begin() + 4),
      b1(words.begin() + 4, words.begin() + 8), b2(words.begin() + 8, words.end());
  EXPECT_NE(b0, b1);
  EXPECT_NE(b1, b2);
  EXPECT_NE(b0, b2);
}

TEST(RowStream, StreamsDifferAcrossRowsDomainsAndSeeds) {
  const Seed seed{7, 11};
  std::set<std::vector<uint32_t>> seen;
  for (uint64_t row = 0; row < 200; ++row) {
    seen.insert(Draw(RowStream(seed, Domain::kSelection, row), 4));
    seen.insert(Draw(RowStream(seed, Domain::kValues, row), 4));
  }
  seen.insert(Draw(RowStream(Seed{8, 11}, Domain::kSelection, 0), 4));
  seen.insert(Draw(RowStream(Seed{7, 12}, Domain::kSelection, 0), 4));
  seen.insert(Draw(RowStream(Seed{7ULL | (1ULL << 40), 11}, Domain::kSelection, 0), 4));
  EXPECT_EQ(seen.size(), 403u);
}

TEST(RowStream, NextU64CombinesTwoWordsHighFirst) {
  const Seed seed{3, 4};
  RowStream a(seed, Domain::kSelection, 1), b(seed, Domain::kSelection, 1);
  for (int i = 0; i < 10; ++i) {
    const uint64_t hi = a.NextU32(), lo = a.NextU32();
    EXPECT_EQ(b.NextU64(), (hi << 32) | lo);
  }
}

TEST(RowStream, NextUnitInHalfOpenUnitInterval) {
  RowStream rng(Seed{1, 2}, Domain::kValues, 3);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.NextUnit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
}

TEST(RowStream, AdjacentRowsAreUncorrelated) {
  // Neighbouring rows are the most likely to leak into each other when the
  // stream id derivation is weak.
  const Seed seed{0, 0};
  const int n = 20000;
  for (uint64_t row = 0; row < 8; ++row) {
    RowStream a(seed, Domain::kSelection, row), b(seed, Domain::kSelection, row + 1);
    double sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; ++i) {
      const double x = a.NextUnit(), y = b.NextUnit();
      sab += x * y, sa += x, sb += y, saa += x * x, sbb += y * y;
    }
    const double cov = sab / n - (sa / n) * (sb / n);
    const double corr =
        cov / std::sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
    EXPECT_LT(std::fabs(corr), 0.05) << "rows " << row << " and " << row + 1;
  }
}

TEST(RowStreamBounded, AlwaysInRange) {
  RowStream rng(Seed{42, 43}, Domain::kSelection, 0);
  const uint64_t bounds[] = {1,
                             2,
                             3,
                             7,
                             1000,
                             0x7fffffffULL,
                             0xffffffffULL,
                             0x100000000ULL,
                             0x100000001ULL,
                             (1ULL << 63) + 12345,
                             0xffffffffffffffffULL};
  for (uint64_t n : bounds) {
    for (int i = 0; i < 2000; ++i) ASSERT_LT(rng.Bounded(n), n) << "n = " << n;
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.Bounded(1), 0u);
}

// Pearson chi-square statistic of `draws` Bounded(n) values.
double ChiSquare(RowStream& rng, uint64_t n, int draws) {
  std::vector<int> counts(n, 0);
  for (int i = 0; i < draws; ++i) ++counts[rng.Bounded(n)];
  const double expected = static_cast<double>(draws) / n;
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

TEST(RowStreamBounded, UniformSmallRanges) {
  RowStream rng(Seed{5, 6}, Domain::kValues, 9);
  // Loose bounds (far beyond the 99.9999% quantile of chi-square with n-1
  // degrees of freedom) - the draws are deterministic, so this never flakes,
  // yet a modulo bias or a stuck bit fails by orders of magnitude.
  EXPECT_LT(ChiSquare(rng, 2, 20000), 30.0);
  EXPECT_LT(ChiSquare(rng, 7, 70000), 40.0);
  EXPECT_LT(ChiSquare(rng, 10, 100000), 45.0);
  EXPECT_LT(ChiSquare(rng, 97, 97000), 220.0);
}

TEST(RowStreamBounded, NoModuloBiasNearTwoToThe32) {
  // n = 3 * 2^30: naive `x % n` would put 1/2 of the draws below 2^30, the
  // exact method 1/3.
  RowStream rng(Seed{8, 9}, Domain::kSelection, 1);
  const uint64_t n = 3ULL << 30;
  int low = 0;
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) low += rng.Bounded(n) < (1ULL << 30);
  EXPECT_NEAR(static_cast<double>(low) / draws, 1.0 / 3.0, 0.01);
}

TEST(RowStreamBounded, UniformAbove32Bits) {
  // The 64-bit path: n = 3 * 2^62; each third of the range equally likely.
  RowStream rng(Seed{10, 11}, Domain::kSelection, 2);
  const uint64_t n = 3ULL << 62;
  int thirds[3] = {0, 0, 0};
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++thirds[rng.Bounded(n) / (1ULL << 62)];
  for (int t : thirds) EXPECT_NEAR(static_cast<double>(t) / draws, 1.0 / 3.0, 0.01);
}

}  // namespace
}  // namespace tf_mlm

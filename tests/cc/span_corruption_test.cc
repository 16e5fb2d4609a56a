// T5's span corruption (cc/core/span_corruption.h) and TensorFlow's
// stateless random streams it draws from (cc/core/tf_random.h). The pinned
// values come from TensorFlow 2.21 (tf.random.stateless_uniform,
// tf.random.experimental.stateless_split) and t5 0.9.4
// (t5.data.preprocessors.random_spans_noise_mask); the Python suite
// (tests/test_t5.py) compares with both at scale.
#include "cc/core/span_corruption.h"

#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/tf_random.h"
#include "gtest/gtest.h"

namespace tf_mlm {
namespace {

TEST(TfRandom, StatelessUniformAsTensorFlow) {
  // tf.random.stateless_uniform([6], seed=[1, 2]) * 2**23
  std::vector<uint32_t> words;
  TfStreamWords(TfStatelessStream(1, 2), 6, &words);
  const std::vector<uint32_t> want = {7080492, 1610993, 8356926, 1345427, 2281619, 5447109};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(TfUniformKey(words[i]), want[i]) << i;
}

TEST(TfRandom, StatelessSplitAsTensorFlow) {
  int64_t out[6];
  TfStatelessSplit(7, -3, 3, out);
  const int64_t want[6] = {4181692268747924059LL,  -9145954649354817080LL, 6028316063551946271LL,
                           -4160119432241818558LL, -2371071146355166744LL, 5831326824053774581LL};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], want[i]) << i;
}

std::string Mask(int64_t length, NoiseOptions o, NoiseSeeds seeds) {
  NoiseCounts c;
  EXPECT_TRUE(CountNoise(length, o, &c).ok());
  NoiseScratch scratch;
  std::vector<uint8_t> mask(static_cast<size_t>(length));
  NoiseMask(length, c, o, seeds, &scratch, mask.data());
  std::string out;
  for (uint8_t m : mask) out += m ? 'X' : '.';
  return out;
}

TEST(NoiseMask, AsT5) {
  EXPECT_EQ(Mask(20, {0.15f, 3.0f, false}, {{1, 2}, {3, 4}}), ".................XXX");
  EXPECT_EQ(Mask(30, {0.3f, 2.0f, false}, {{5, 6}, {7, 8}}), ".XXX...XX.....XX............XX");
  EXPECT_EQ(Mask(25, {0.15f, 3.0f, true}, {{9, -10}, {11, 12}}), "..............XXXX.......");
  EXPECT_EQ(Mask(190, {0.15f, 3.0f, false}, {{1, 1}, {2, 2}}),
            "......................................XXXX.X................XXX..................."
            "......XXXXX.......X.....................XXXXX..........XX.................XXX......"
            "...........XXX.........XX");
}

TEST(NoiseMask, ShortRows) {
  // Lengths below 2 count as 2; one span of noise ends the row.
  EXPECT_EQ(Mask(1, {0.15f, 3.0f, false}, {{1, 2}, {3, 4}}), ".");
  EXPECT_EQ(Mask(2, {0.15f, 3.0f, false}, {{1, 2}, {3, 4}}), ".X");
  EXPECT_EQ(Mask(5, {0.15f, 3.0f, false}, {{1, 2}, {3, 4}}), "....X");
}

TEST(NoiseMask, CountsRoundHalfToEvenInFloat32) {
  NoiseCounts c;
  // 190 * 0.15f = 28.500002 in float32: 29 (float64 would give 28).
  ASSERT_TRUE(CountNoise(190, {0.15f, 3.0f, false}, &c).ok());
  EXPECT_EQ(c.noise, 29);
  EXPECT_EQ(c.spans, 10);
  // 10 * 0.25 = 2.5 -> 2 (half to even); 2 / 1 -> 2 spans.
  ASSERT_TRUE(CountNoise(10, {0.25f, 1.0f, false}, &c).ok());
  EXPECT_EQ(c.noise, 2);
  // A density above 1 is clamped to length - 1 noise tokens.
  ASSERT_TRUE(CountNoise(10, {1.5f, 9.0f, false}, &c).ok());
  EXPECT_EQ(c.noise, 9);
}

TEST(NoiseMask, MoreSpansThanTokensIsAnError) {
  NoiseCounts c;
  const Status s = CountNoise(10, {0.9f, 1.0f, false}, &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot hold 9 noise spans"), std::string::npos) << s.message();
  EXPECT_FALSE(ValidateNoiseOptions({0.15f, 0.0f, false}).ok());
  EXPECT_FALSE(ValidateNoiseOptions({NAN, 3.0f, false}).ok());
}

struct Result {
  std::vector<int32_t> inputs, targets;
  std::vector<int64_t> inputs_splits, targets_splits;
  std::vector<uint8_t> mask;
};

Status Corrupt(const std::vector<int32_t>& values, const std::vector<int64_t>& splits,
               NoiseOptions o, int64_t first_sentinel, Result* r) {
  const int64_t rows = static_cast<int64_t>(splits.size()) - 1;
  std::vector<NoiseSeeds> seeds;
  for (int64_t i = 0; i < rows; ++i) seeds.push_back({{i, 1}, {2, i}});
  r->mask.assign(values.size(), 2);
  r->inputs_splits.assign(splits.size(), -1);
  r->targets_splits.assign(splits.size(), -1);
  const AllocateSentinelOutputs<int32_t, int64_t> allocate =
      [&](int64_t n_in, int64_t n_out, SentinelOutputs<int32_t, int64_t>* out) {
        r->inputs.assign(static_cast<size_t>(n_in), -1);
        r->targets.assign(static_cast<size_t>(n_out), -1);
        *out = {r->inputs.data(), r->inputs_splits.data(), r->targets.data(),
                r->targets_splits.data()};
        return Status::Ok();
      };
  return SpanCorruption<int32_t, int64_t>(
      Span<int32_t>{values.data(), static_cast<int64_t>(values.size())},
      Span<int64_t>{splits.data(), static_cast<int64_t>(splits.size())}, seeds.data(), o,
      first_sentinel, r->mask.data(), allocate, SerialFor);
}

TEST(SpanCorruption, SentinelsNumberEachRowsSpans) {
  // Row 0: 20 tokens, its mask as in AsT5 would be for these seeds; check
  // the structure: inputs keep the non-noise tokens and one sentinel per
  // noise span, targets the reverse, both numbered from first_sentinel down.
  std::vector<int32_t> values;
  for (int i = 0; i < 50; ++i) values.push_back(100 + i);
  Result r;
  ASSERT_TRUE(Corrupt(values, {0, 30, 30, 50}, {0.3f, 2.0f, false}, 999, &r).ok());
  for (int row = 0; row < 3; ++row) {
    const int64_t b = row == 0 ? 0 : 30, e = row == 0 ? 30 : (row == 1 ? 30 : 50);
    std::vector<int32_t> want_in, want_out;
    int32_t k_in = 0, k_out = 0;
    for (int64_t i = b; i < e; ++i) {
      const bool noise = r.mask[i] == 1, first = i == b || r.mask[i - 1] != r.mask[i];
      if (noise) {
        if (first) want_in.push_back(999 - k_in++);
        want_out.push_back(values[i]);
      } else {
        want_in.push_back(values[i]);
        if (first) want_out.push_back(999 - k_out++);
      }
    }
    EXPECT_EQ(std::vector<int32_t>(r.inputs.begin() + r.inputs_splits[row],
                                   r.inputs.begin() + r.inputs_splits[row + 1]),
              want_in)
        << row;
    EXPECT_EQ(std::vector<int32_t>(r.targets.begin() + r.targets_splits[row],
                                   r.targets.begin() + r.targets_splits[row + 1]),
              want_out)
        << row;
  }
  EXPECT_EQ(r.inputs_splits[1], r.inputs_splits[2]);  // the empty row
}

TEST(SpanCorruption, ZeroDensityKeepsEverything) {
  Result r;
  ASSERT_TRUE(Corrupt({5, 6, 7}, {0, 3}, {0.0f, 3.0f, false}, 99, &r).ok());
  EXPECT_EQ(r.inputs, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(r.targets, (std::vector<int32_t>{99}));
  EXPECT_EQ(r.mask, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(SpanCorruption, ErrorsNameTheRow) {
  Result r;
  const Status s =
      Corrupt({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {0, 2, 12}, {0.9f, 1.0f, false}, 99, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("row 1: ", 0), 0u) << s.message();
  // Sentinels below the dtype's range.
  EXPECT_FALSE(
      Corrupt({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 10}, {0.5f, 1.0f, false}, INT32_MIN, &r).ok());
  EXPECT_FALSE(Corrupt({1, 2}, {0, 2}, {0.5f, 1.0f, false}, int64_t{1} << 40, &r).ok());
}

}  // namespace
}  // namespace tf_mlm

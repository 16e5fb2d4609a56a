// T5's span corruption (Raffel et al. 2020, "Exploring the Limits of
// Transfer Learning with a Unified Text-to-Text Transformer"), the same
// outputs as t5.data.preprocessors for the same seeds:
//
//   * the noise mask of a row (random_spans_noise_mask): with L the row's
//     length raised to 2, round(L * density) noise tokens (float32, half to
//     even) clamped to [1, L - 1], round(noise / mean_span) spans (at least
//     1); the noise and the non-noise lengths are each a uniformly random
//     composition into that many positive parts, drawn from TensorFlow's
//     stateless uniforms (tf_random.h) with the row's two seeds and a stable
//     argsort, interleaved starting with non-noise; optionally rolled by a
//     uniform offset; cut to the row's length. Density 0 gives no noise.
//   * the inputs (noise_span_to_unique_sentinel): each noise span replaced
//     by one sentinel, the k-th span of the row by first_sentinel - k; the
//     targets (nonnoise_span_to_unique_sentinel): the same with the
//     non-noise spans.
#ifndef TF_MLM_CC_CORE_SPAN_CORRUPTION_H_
#define TF_MLM_CC_CORE_SPAN_CORRUPTION_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "cc/core/parallel.h"
#include "cc/core/ragged.h"
#include "cc/core/status.h"
#include "cc/core/tf_random.h"

namespace tf_mlm {

struct NoiseOptions {
  float noise_density = 0.15f;
  float mean_noise_span_length = 3.0f;
  bool random_roll = false;
};

// The two seeds of one row's mask: `noise` draws the noise span lengths,
// `nonnoise` the non-noise ones (t5's seeds[0] and seeds[1]).
struct NoiseSeeds {
  int64_t noise[2] = {0, 0};
  int64_t nonnoise[2] = {0, 0};
};

inline Status ValidateNoiseOptions(const NoiseOptions& o) {
  if (!std::isfinite(o.noise_density)) {
    return Status::Invalid("noise_density must be finite, got " + std::to_string(o.noise_density));
  }
  if (!(std::isfinite(o.mean_noise_span_length) && o.mean_noise_span_length > 0.0f)) {
    return Status::Invalid("mean_noise_span_length must be finite and > 0, got " +
                           std::to_string(o.mean_noise_span_length));
  }
  return Status::Ok();
}

namespace internal {

// float32 rounded half to even (tf.round), as an int64 clamped to
// [lo, hi] first (a float beyond int64's range has no defined cast).
inline int64_t RoundHalfEven(float x, int64_t lo, int64_t hi) {
  const float r = std::nearbyint(x);  // the default rounding mode: to nearest, ties to even
  if (!(r > static_cast<float>(lo))) return lo;
  if (!(r < static_cast<float>(hi))) return hi;
  return std::min(std::max(static_cast<int64_t>(r), lo), hi);
}

}  // namespace internal

// The counts of a row of `length` tokens: noise tokens and spans (t5's
// num_noise_tokens and num_noise_spans). An error where t5 fails: more
// spans than noise or non-noise tokens.
struct NoiseCounts {
  int64_t length = 0;  // max(row length, 2)
  int64_t noise = 0;
  int64_t spans = 0;
};

inline Status CountNoise(int64_t row_length, const NoiseOptions& o, NoiseCounts* c) {
  c->length = std::max<int64_t>(row_length, 2);
  const int64_t big = int64_t{1} << 40;
  c->noise = internal::RoundHalfEven(static_cast<float>(c->length) * o.noise_density, -big, big);
  c->noise = std::min(std::max<int64_t>(c->noise, 1), c->length - 1);
  c->spans =
      internal::RoundHalfEven(static_cast<float>(c->noise) / o.mean_noise_span_length, -big, big);
  c->spans = std::max<int64_t>(c->spans, 1);
  if (c->spans > c->noise || c->spans > c->length - c->noise) {
    return Status::Invalid("a row of " + std::to_string(row_length) + " tokens cannot hold " +
                           std::to_string(c->spans) + " noise spans: " + std::to_string(c->noise) +
                           " noise and " + std::to_string(c->length - c->noise) +
                           " non-noise tokens (noise_density " + std::to_string(o.noise_density) +
                           ", mean_noise_span_length " + std::to_string(o.mean_noise_span_length) +
                           ")");
  }
  return Status::Ok();
}

// Scratch buffers of one thread.
struct NoiseScratch {
  std::vector<uint32_t> words;
  std::vector<uint64_t> order;
  std::vector<int64_t> noise_lengths, nonnoise_lengths;
  std::vector<uint8_t> mask;
};

namespace internal {

// t5's _random_segmentation: `items` split into `segments` positive lengths,
// uniformly among compositions. The cut after item j + 1 (j in [0, items -
// 1)) is taken when the j-th smallest uniform (stable) is one of the first
// segments - 1 drawn.
inline void RandomSegmentation(int64_t items, int64_t segments, const int64_t seed[2],
                               NoiseScratch* s, std::vector<int64_t>* lengths) {
  lengths->assign(static_cast<size_t>(segments), 0);
  const int64_t n = items - 1;
  std::vector<uint64_t>& order = s->order;
  order.resize(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (n > 0) {
    TfStreamWords(TfStatelessStream(seed[0], seed[1]), n, &s->words);
    for (int64_t i = 0; i < n; ++i) {
      order[i] =
          (static_cast<uint64_t>(TfUniformKey(s->words[i])) << 32) | static_cast<uint64_t>(i);
    }
    std::sort(order.begin(), order.end());  // (key, index): a stable argsort
  }
  int64_t segment = 0, start = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (static_cast<int64_t>(order[j] & 0xFFFFFFFFu) < segments - 1) {
      (*lengths)[segment++] = j + 1 - start;
      start = j + 1;
    }
  }
  (*lengths)[segment] = items - start;
}

}  // namespace internal

// The noise mask of one row of `row_length` tokens into mask[0:row_length]
// (1 = noise). `c` from CountNoise.
inline void NoiseMask(int64_t row_length, const NoiseCounts& c, const NoiseOptions& o,
                      const NoiseSeeds& seeds, NoiseScratch* s, uint8_t* mask) {
  if (row_length == 0) return;
  if (o.noise_density == 0.0f) {
    std::fill(mask, mask + row_length, uint8_t{0});
    return;
  }
  internal::RandomSegmentation(c.noise, c.spans, seeds.noise, s, &s->noise_lengths);
  internal::RandomSegmentation(c.length - c.noise, c.spans, seeds.nonnoise, s,
                               &s->nonnoise_lengths);
  std::vector<uint8_t>& full = s->mask;
  full.resize(static_cast<size_t>(c.length));
  int64_t at = 0;
  for (int64_t k = 0; k < c.spans; ++k) {
    std::fill(full.begin() + at, full.begin() + at + s->nonnoise_lengths[k], uint8_t{0});
    at += s->nonnoise_lengths[k];
    std::fill(full.begin() + at, full.begin() + at + s->noise_lengths[k], uint8_t{1});
    at += s->noise_lengths[k];
  }
  int64_t offset = 0;
  if (o.random_roll) {
    // t5's roll seed: (noise[0] + nonnoise[1], noise[1] - nonnoise[0]),
    // wrapping as int64; the offset an int32 uniform in [0, length).
    const int64_t r0 = static_cast<int64_t>(static_cast<uint64_t>(seeds.noise[0]) +
                                            static_cast<uint64_t>(seeds.nonnoise[1]));
    const int64_t r1 = static_cast<int64_t>(static_cast<uint64_t>(seeds.noise[1]) -
                                            static_cast<uint64_t>(seeds.nonnoise[0]));
    TfStreamWords(TfStatelessStream(r0, r1), 1, &s->words);
    offset = static_cast<int64_t>(s->words[0] % static_cast<uint32_t>(c.length)) % row_length;
  }
  for (int64_t i = 0; i < row_length; ++i) mask[(i + offset) % row_length] = full[i];
}

// Output buffers of the sentinel pass, allocated once the sizes are known.
template <typename T, typename S>
struct SentinelOutputs {
  T* inputs = nullptr;
  S* inputs_splits = nullptr;  // rows + 1
  T* targets = nullptr;
  S* targets_splits = nullptr;  // rows + 1
};

template <typename T, typename S>
using AllocateSentinelOutputs =
    std::function<Status(int64_t num_inputs, int64_t num_targets, SentinelOutputs<T, S>* out)>;

namespace internal {

// The length of a row after replacing each span of `flag` tokens by one
// sentinel, and its number of such spans.
inline void SentinelRowCounts(const uint8_t* mask, int64_t n, uint8_t flag, int64_t* kept,
                              int64_t* spans) {
  *kept = 0;
  *spans = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (mask[i] != flag) {
      ++*kept;
    } else if (i == 0 || mask[i - 1] != flag) {
      ++*kept;
      ++*spans;
    }
  }
}

template <typename T>
void WriteSentinelRow(const T* values, const uint8_t* mask, int64_t n, uint8_t flag,
                      int64_t first_sentinel, T* out) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (mask[i] != flag) {
      *out++ = values[i];
    } else if (i == 0 || mask[i - 1] != flag) {
      *out++ = static_cast<T>(first_sentinel - k++);
    }
  }
}

}  // namespace internal

// The inputs (noise spans -> sentinels) and targets (non-noise spans ->
// sentinels) of each row of `values` partitioned by `splits`, given the
// noise mask (0/1 bytes, one per value).
template <typename T, typename S>
Status NoiseSpansToSentinels(Span<T> values, Span<S> splits, const uint8_t* mask,
                             int64_t first_sentinel, const AllocateSentinelOutputs<T, S>& allocate,
                             const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateRowSplits(splits, values.size, "row_splits"));
  const int64_t rows = splits.size - 1;
  if (first_sentinel > std::numeric_limits<T>::max() ||
      first_sentinel < std::numeric_limits<T>::min()) {
    return Status::Invalid("first_sentinel " + std::to_string(first_sentinel) +
                           " does not fit in the ids' dtype");
  }
  std::vector<int64_t> in_len(rows), out_len(rows);
  int64_t num_in = 0, num_out = 0, most_spans = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = splits[r], n = splits[r + 1] - b;
    int64_t spans_in, spans_out;
    internal::SentinelRowCounts(mask + b, n, 1, &in_len[r], &spans_in);
    internal::SentinelRowCounts(mask + b, n, 0, &out_len[r], &spans_out);
    num_in += in_len[r];
    num_out += out_len[r];
    most_spans = std::max(most_spans, std::max(spans_in, spans_out));
  }
  // first_sentinel - (most_spans - 1) >= min(T), written so that nothing
  // overflows (most_spans <= values.size).
  if (most_spans > 0 &&
      first_sentinel < static_cast<int64_t>(std::numeric_limits<T>::min()) + (most_spans - 1)) {
    return Status::Invalid("the sentinels of " + std::to_string(most_spans) + " spans below " +
                           std::to_string(first_sentinel) + " do not fit in the ids' dtype");
  }
  SentinelOutputs<T, S> out;
  TF_MLM_RETURN_IF_ERROR(allocate(num_in, num_out, &out));
  out.inputs_splits[0] = 0;
  out.targets_splits[0] = 0;
  for (int64_t r = 0; r < rows; ++r) {
    out.inputs_splits[r + 1] = static_cast<S>(out.inputs_splits[r] + in_len[r]);
    out.targets_splits[r + 1] = static_cast<S>(out.targets_splits[r] + out_len[r]);
  }
  parallel_for(rows, 8 * (values.size / std::max<int64_t>(rows, 1) + 1),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t r = lo; r < hi; ++r) {
                   const int64_t b = splits[r], n = splits[r + 1] - b;
                   internal::WriteSentinelRow(values.data + b, mask + b, n, 1, first_sentinel,
                                              out.inputs + out.inputs_splits[r]);
                   internal::WriteSentinelRow(values.data + b, mask + b, n, 0, first_sentinel,
                                              out.targets + out.targets_splits[r]);
                 }
               });
  return Status::Ok();
}

// Span corruption of each row: its noise mask (into mask[0:values.size])
// from seeds[r], then the inputs and targets. `seeds` holds one NoiseSeeds
// per row.
template <typename T, typename S>
Status SpanCorruption(Span<T> values, Span<S> splits, const NoiseSeeds* seeds,
                      const NoiseOptions& o, int64_t first_sentinel, uint8_t* mask,
                      const AllocateSentinelOutputs<T, S>& allocate,
                      const ParallelFor& parallel_for) {
  TF_MLM_RETURN_IF_ERROR(ValidateNoiseOptions(o));
  TF_MLM_RETURN_IF_ERROR(ValidateRowSplits(splits, values.size, "row_splits"));
  const int64_t rows = splits.size - 1;
  std::vector<NoiseCounts> counts(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = splits[r + 1] - splits[r];
    if (o.noise_density != 0.0f) {  // t5 counts (and fails) for empty rows too
      const Status s = CountNoise(n, o, &counts[r]);
      if (!s.ok()) return Status::Invalid("row " + std::to_string(r) + ": " + s.message());
    }
  }
  parallel_for(
      rows, 40 * (values.size / std::max<int64_t>(rows, 1) + 1), [&](int64_t lo, int64_t hi) {
        NoiseScratch scratch;
        for (int64_t r = lo; r < hi; ++r) {
          NoiseMask(splits[r + 1] - splits[r], counts[r], o, seeds[r], &scratch, mask + splits[r]);
        }
      });
  return NoiseSpansToSentinels(values, splits, mask, first_sentinel, allocate, parallel_for);
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_SPAN_CORRUPTION_H_

// TensorFlow's stateless random numbers, bit for bit, without TensorFlow.
//
// T5's span corruption draws its randomness from TensorFlow's stateless ops
// (tf.random.stateless_uniform, tf.random.experimental.stateless_split) on
// the CPU, so reproducing its outputs means reproducing those streams:
//
//   * the seed (two int64, sign-extended to 64 bits: s0, s1) is scrambled
//     by one Philox4x32-10 call on the counter {lo(s0), hi(s0), lo(s1),
//     hi(s1)} with the key {0x3ec8f720, 0x02461e29}; its output m gives the
//     key {m0, m1} and the stream {m2, m3} (TensorFlow's GenerateKey);
//   * output word j is word j % 4 of block j / 4, block b computed on the
//     counter {lo(b), hi(b), m2, m3};
//   * a float32 uniform in [0, 1) is (u & 0x7FFFFF) * 2^-23, so it orders as
//     the low 23 bits of the word;
//   * an int32 uniform in [lo, hi) is lo + u % (hi - lo);
//   * a full-range int64 is u[2i] | u[2i + 1] << 32.
//
// The Philox rounds are philox.h's.
#ifndef TF_MLM_CC_CORE_TF_RANDOM_H_
#define TF_MLM_CC_CORE_TF_RANDOM_H_

#include <cstdint>
#include <vector>

#include "cc/core/philox.h"

namespace tf_mlm {

// One stateless stream of TensorFlow's, as derived from a seed pair.
struct TfStream {
  uint32_t k0 = 0, k1 = 0;  // the Philox key
  uint32_t c2 = 0, c3 = 0;  // the counter's upper half
};

inline TfStream TfStatelessStream(int64_t seed0, int64_t seed1) {
  const uint64_t s0 = static_cast<uint64_t>(seed0), s1 = static_cast<uint64_t>(seed1);
  const PhiloxBlock m = Philox4x32({static_cast<uint32_t>(s0), static_cast<uint32_t>(s0 >> 32),
                                    static_cast<uint32_t>(s1), static_cast<uint32_t>(s1 >> 32)},
                                   0x3ec8f720u, 0x02461e29u);
  return TfStream{m[0], m[1], m[2], m[3]};
}

// The first `n` 32-bit words of `stream`, in TensorFlow's order, into `words`
// (resized to a whole number of 8-block batches; the first n are the
// stream's).
inline void TfStreamWords(const TfStream& stream, int64_t n, std::vector<uint32_t>* words) {
  const int64_t blocks = (n + 3) / 4;
  const int64_t batches = (blocks + 7) / 8;
  words->resize(static_cast<size_t>(batches * 32));
  for (int64_t b = 0; b < batches; ++b) {
    internal::PhiloxBatch(8, static_cast<uint64_t>(b) * 8, stream.c2, stream.c3, stream.k0,
                          stream.k1, words->data() + b * 32);
  }
}

// The float32 uniform of word u, scaled by 2^23: its low 23 bits. Sorting by
// this key sorts the uniforms.
inline uint32_t TfUniformKey(uint32_t u) { return u & 0x7FFFFFu; }

// The most seeds one stateless split makes here (the adapters check it).
constexpr int64_t kMaxSplit = int64_t{1} << 24;

// tf.random.experimental.stateless_split(seed, num) for an int64 seed:
// `num` new seeds, out[2 * i], out[2 * i + 1]; seed i is block i's four
// words. No scratch memory.
inline void TfStatelessSplit(int64_t seed0, int64_t seed1, int64_t num, int64_t* out) {
  const TfStream s = TfStatelessStream(seed0, seed1);
  for (int64_t i = 0; i < num; ++i) {
    const uint64_t b = static_cast<uint64_t>(i);
    const PhiloxBlock w = Philox4x32(
        {static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), s.c2, s.c3}, s.k0, s.k1);
    out[2 * i] =
        static_cast<int64_t>(static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32));
    out[2 * i + 1] =
        static_cast<int64_t>(static_cast<uint64_t>(w[2]) | (static_cast<uint64_t>(w[3]) << 32));
  }
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_TF_RANDOM_H_

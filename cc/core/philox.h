// Counter-based random numbers for tf_mlm.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11) turns a 128-bit counter and a 64-bit key into four 32-bit words. A
// 128-bit seed (two uint64 words) plus a "domain" (which random decision:
// selection, value choice, ...) plus a batch row index select one independent
// stream, so a row's random draws never depend on which thread processes it
// or on how many rows precede it.
#ifndef TF_MLM_CC_CORE_PHILOX_H_
#define TF_MLM_CC_CORE_PHILOX_H_

#include <array>
#include <cmath>
#include <cstdint>

#include "cc/core/cpu.h"

namespace tf_mlm {

// A full 128-bit seed. The TF ops take it as an int64 tensor of shape [2];
// the NumPy module derives it from an int or a numpy Generator.
struct Seed {
  uint64_t s0 = 0;
  uint64_t s1 = 0;
};

// Independent random decisions draw from distinct domains.
enum class Domain : uint64_t {
  kSelection = 1,  // which items of a row are selected
  kValues = 2,     // mask / random / keep for each selected token
};

// SplitMix64 finaliser: a bijective 64-bit mixer used to derive stream ids.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

using PhiloxBlock = std::array<uint32_t, 4>;

// One Philox4x32-10 evaluation.
inline PhiloxBlock Philox4x32(PhiloxBlock ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = {hi1 ^ ctr[1] ^ k0, lo1, hi0 ^ ctr[3] ^ k1, lo0};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

namespace internal {

// Blocks per refill of a RowStream: a stream's first refill computes
// kPhiloxFirstBatch blocks (a short row needs no more) unless its user
// announced how many words it expects to draw (then up to kPhiloxMaxBatch,
// a multiple of 8), later ones kPhiloxBatch, which keeps the multiplier
// busier per block.
constexpr int kPhiloxFirstBatch = 8;
constexpr int kPhiloxBatch = 16;
constexpr int kPhiloxMaxBatch = 32;

// The first refill's size for a stream expected to draw `words` words: the
// blocks that hold them, rounded up to a multiple of 8 (the vector unit),
// within [kPhiloxFirstBatch, kPhiloxMaxBatch].
inline int FirstBatchFor(int64_t words) {
  if (words <= 4 * kPhiloxFirstBatch) return kPhiloxFirstBatch;
  if (words >= 4 * kPhiloxMaxBatch) return kPhiloxMaxBatch;
  return static_cast<int>((words + 31) / 32) * 8;
}

// Blocks counter .. counter + blocks - 1 of stream (lo, hi) under key
// (k0, k1), written block after block: words[4 * i + w] = word w of block i.
// `blocks` is a multiple of 4.
inline void PhiloxBatchScalar(int blocks, uint64_t counter, uint32_t lo, uint32_t hi, uint32_t k0,
                              uint32_t k1, uint32_t* words) {
  // Four independent chains at a time overlap in the pipeline.
  for (int half = 0; half < blocks; half += 4) {
    PhiloxBlock blocks[4];
    for (int i = 0; i < 4; ++i) {
      const uint64_t c = counter + static_cast<uint64_t>(half + i);
      blocks[i] =
          Philox4x32({static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), lo, hi}, k0, k1);
    }
    for (int i = 0; i < 4; ++i) {
      for (int w = 0; w < 4; ++w) words[4 * (half + i) + w] = blocks[i][w];
    }
  }
}

#if TF_MLM_HAVE_AVX2_DISPATCH
// The same blocks, four per vector in AVX2 lanes: each 64-bit lane carries
// one block's 32-bit word in its low half, and _mm256_mul_epu32 gives the
// full 32x32 -> 64-bit products Philox needs. The kVectors vectors
// are independent chains that fill the multiplier's pipeline.
template <int kVectors>
TF_MLM_TARGET_AVX2 inline void PhiloxVectorsAvx2(uint64_t counter, uint32_t lo, uint32_t hi,
                                                 uint32_t k0, uint32_t k1, uint32_t* words) {
  __m256i c0[kVectors], c1[kVectors], c2[kVectors], c3[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    const uint64_t b = counter + 4 * static_cast<uint64_t>(v);
    c0[v] = _mm256_set_epi64x(static_cast<uint32_t>(b + 3), static_cast<uint32_t>(b + 2),
                              static_cast<uint32_t>(b + 1), static_cast<uint32_t>(b));
    c1[v] =
        _mm256_set_epi64x(static_cast<int64_t>((b + 3) >> 32), static_cast<int64_t>((b + 2) >> 32),
                          static_cast<int64_t>((b + 1) >> 32), static_cast<int64_t>(b >> 32));
    c2[v] = _mm256_set1_epi64x(lo);
    c3[v] = _mm256_set1_epi64x(hi);
  }
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u), m1 = _mm256_set1_epi64x(0xCD9E8D57u);
  for (int round = 0; round < 10; ++round) {
    const __m256i ka = _mm256_set1_epi64x(k0), kb = _mm256_set1_epi64x(k1);
    for (int v = 0; v < kVectors; ++v) {
      // The high halves of c1 and c3 (products' high words) are never read
      // as multiplicands: mul_epu32 uses the low halves only.
      const __m256i p0 = _mm256_mul_epu32(c0[v], m0), p1 = _mm256_mul_epu32(c2[v], m1);
      c0[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[v]), ka);
      c2[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[v]), kb);
      c1[v] = p1;
      c3[v] = p0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const __m256i low = _mm256_set1_epi64x(0xFFFFFFFFu);
  for (int v = 0; v < kVectors; ++v) {
    // Per lane (block): words 0|1 and 2|3 packed into 64 bits, then blocks
    // put back in order.
    const __m256i w01 = _mm256_or_si256(_mm256_and_si256(c0[v], low), _mm256_slli_epi64(c1[v], 32));
    const __m256i w23 = _mm256_or_si256(_mm256_and_si256(c2[v], low), _mm256_slli_epi64(c3[v], 32));
    const __m256i even = _mm256_unpacklo_epi64(w01, w23);  // blocks 0 | 2
    const __m256i odd = _mm256_unpackhi_epi64(w01, w23);   // blocks 1 | 3
    uint32_t* out = words + 16 * v;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm256_permute2x128_si256(even, odd, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8),
                        _mm256_permute2x128_si256(even, odd, 0x31));
  }
}

TF_MLM_TARGET_AVX2 inline void PhiloxBatchAvx2(int blocks, uint64_t counter, uint32_t lo,
                                               uint32_t hi, uint32_t k0, uint32_t k1,
                                               uint32_t* words) {
  // 16 blocks (four chains) at a time, then 8 for a remainder.
  int done = 0;
  for (; done + 16 <= blocks; done += 16) {
    PhiloxVectorsAvx2<4>(counter + static_cast<uint64_t>(done), lo, hi, k0, k1, words + 4 * done);
  }
  if (done < blocks) {
    PhiloxVectorsAvx2<2>(counter + static_cast<uint64_t>(done), lo, hi, k0, k1, words + 4 * done);
  }
}
#endif

inline void PhiloxBatch(int blocks, uint64_t counter, uint32_t lo, uint32_t hi, uint32_t k0,
                        uint32_t k1, uint32_t* words) {
#if TF_MLM_HAVE_AVX2_DISPATCH
  if (CpuHasAvx2() && blocks % 8 == 0)
    return PhiloxBatchAvx2(blocks, counter, lo, hi, k0, k1, words);
#endif
  PhiloxBatchScalar(blocks, counter, lo, hi, k0, k1, words);
}

}  // namespace internal

// The random stream of one (seed, domain, row). Cheap to construct; draws are
// sequential. Words 0-1 of the counter count blocks, words 2-3 hold the
// stream id, the key is seed.s0.
class RowStream {
 public:
  RowStream(const Seed& seed, Domain domain, uint64_t row)
      : k0_(static_cast<uint32_t>(seed.s0)), k1_(static_cast<uint32_t>(seed.s0 >> 32)) {
    const uint64_t stream =
        Mix64(Mix64(seed.s1 ^ (static_cast<uint64_t>(domain) * 0xD1B54A32D192ED03ULL)) + row);
    stream_lo_ = static_cast<uint32_t>(stream);
    stream_hi_ = static_cast<uint32_t>(stream >> 32);
  }

  // Sizes the first refill for a caller about to draw about `words` words,
  // so that a row's draws take one refill of the blocks they need. A hint
  // only: the words drawn are the same whatever it is, or if it comes late.
  void ExpectWords(int64_t words) {
    if (filled_ == 0) first_batch_ = internal::FirstBatchFor(words);
  }

  uint32_t NextU32() {
    if (used_ == filled_) Refill();
    return words_[used_++];
  }

  uint64_t NextU64() {
    const uint64_t hi = NextU32();
    return (hi << 32) | NextU32();
  }

  // Advances the stream by `n` 32-bit words, as if NextU32() were called n
  // times, in O(1): the counter names every block directly.
  void Skip(uint64_t n) {
    const uint64_t buffered = static_cast<uint64_t>(filled_ - used_);
    if (n <= buffered) {
      used_ += static_cast<int>(n);
      return;
    }
    n -= buffered;  // words past the buffered ones
    counter_ += n / 4;
    used_ = filled_;
    const int rest = static_cast<int>(n % 4);
    if (rest) {
      Refill();
      used_ = rest;
    }
  }

  // The buffered words not drawn yet (after a refill when there are none),
  // for a caller drawing many words in a tight loop: it reads a prefix of
  // them, then calls Advance with its length. The same words, in the same
  // order, as that many NextU32 calls.
  const uint32_t* Buffered(int* count) {
    if (used_ == filled_) Refill();
    *count = filled_ - used_;
    return words_ + used_;
  }
  void Advance(int count) { used_ += count; }

  // Uniform in [0, 1) with 32 bits of resolution.
  double NextUnit() { return NextU32() * (1.0 / 4294967296.0); }

  // Uniform integer in [0, n), exact (Lemire's multiply-and-reject). n >= 1.
  uint64_t Bounded(uint64_t n) {
    if (n <= 0xFFFFFFFFULL) {
      const uint32_t n32 = static_cast<uint32_t>(n);
      uint64_t m = static_cast<uint64_t>(NextU32()) * n32;
      uint32_t low = static_cast<uint32_t>(m);
      if (low < n32) {
        const uint32_t threshold = static_cast<uint32_t>(-n32) % n32;
        while (low < threshold) {
          m = static_cast<uint64_t>(NextU32()) * n32;
          low = static_cast<uint32_t>(m);
        }
      }
      return m >> 32;
    }
    __uint128_t m = static_cast<__uint128_t>(NextU64()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<__uint128_t>(NextU64()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  // Computes consecutive blocks at once (in vector lanes where the CPU
  // allows): few on the stream's first refill, more on later ones. The word
  // sequence is the same as block-by-block generation whatever the sizes.
  void Refill() {
    const int blocks = filled_ == 0 ? first_batch_ : internal::kPhiloxBatch;
    internal::PhiloxBatch(blocks, counter_, stream_lo_, stream_hi_, k0_, k1_, words_);
    counter_ += static_cast<uint64_t>(blocks);
    used_ = 0;
    filled_ = 4 * blocks;
  }

  uint32_t k0_, k1_;
  int first_batch_ = internal::kPhiloxFirstBatch;
  uint32_t stream_lo_ = 0, stream_hi_ = 0;
  uint64_t counter_ = 0;  // next block to compute
  int used_ = 0;          // words of words_ drawn
  int filled_ = 0;        // words of words_ computed (0 before the first refill)
  uint32_t words_[4 * internal::kPhiloxMaxBatch];  // written before read
};

// The smallest integer x with (u < x  <=>  u * 2^-32 < p) for every 32-bit u:
// comparing a raw draw with x decides exactly like comparing NextUnit() with
// p, without converting every draw to floating point.
inline uint64_t UnitThreshold(double p) {
  if (!(p > 0.0)) return 0;
  if (p >= 1.0) return uint64_t{1} << 32;
  return static_cast<uint64_t>(std::ceil(p * 4294967296.0));
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_PHILOX_H_

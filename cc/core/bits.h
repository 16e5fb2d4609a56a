// Bit and byte tricks shared by the passes: scratch bitmaps, 0/1 flag
// bytes read eight at a time, set-bit and zero-run walks.
#ifndef TF_MLM_CC_CORE_BITS_H_
#define TF_MLM_CC_CORE_BITS_H_

#include <cstdint>
#include <cstring>
#include <vector>

namespace tf_mlm {

namespace internal {

// The 8-bytes-at-a-time reads below take byte j of a word as bits 8j..8j+7.
inline constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Per-thread scratch bitmap, grown on demand and cleared by its user, so the
// per-row selection never allocates.
inline std::vector<uint64_t>& ScratchBits(int64_t num_bits) {
  thread_local std::vector<uint64_t> bits;
  const size_t words = static_cast<size_t>((num_bits + 63) / 64);
  if (bits.size() < words) bits.resize(words, 0);
  return bits;
}

inline bool TestBit(const std::vector<uint64_t>& b, int64_t i) {
  return (b[i >> 6] >> (i & 63)) & 1;
}
inline void SetBit(std::vector<uint64_t>& b, int64_t i) { b[i >> 6] |= uint64_t{1} << (i & 63); }

// kBitsToBytes[x]: byte j is bit j of x (0 or 1).
struct BitsToBytesTable {
  uint64_t v[256];
  constexpr BitsToBytesTable() : v() {
    for (int x = 0; x < 256; ++x) {
      uint64_t bytes = 0;
      for (int j = 0; j < 8; ++j) bytes |= static_cast<uint64_t>((x >> j) & 1) << (8 * j);
      v[x] = bytes;
    }
  }
  constexpr uint64_t operator[](uint64_t x) const { return v[x]; }
};
inline constexpr BitsToBytesTable kBitsToBytes{};

// Calls fn(i) for every i in [begin, end) with flags[i] != 0, in order.
// Eight flags at a time: their nonzero bytes are gathered into an 8-bit mask
// (byte j -> bit j, little-endian) whose set bits are visited, so unchosen
// items (the large majority) cost no branch each.
template <typename Fn>
inline void ForEachFlagged(const uint8_t* flags, int64_t begin, int64_t end, Fn&& fn) {
  int64_t i = begin;
  for (; kLittleEndian && i + 8 <= end; i += 8) {
    uint64_t word;
    std::memcpy(&word, flags + i, 8);
    if (word == 0) continue;
    word |= word >> 4;  // bit 8j: any bit of byte j
    word |= word >> 2;
    word |= word >> 1;
    word &= 0x0101010101010101ULL;
    uint32_t mask = static_cast<uint32_t>((word * 0x0102040810204080ULL) >> 56);
    while (mask != 0) {
      fn(i + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
  for (; i < end; ++i) {
    if (flags[i]) fn(i);
  }
}

// Number of 1 bytes among flags[i..i+8) (flags hold 0/1 bytes): the byte
// sum, gathered into the top byte by one multiplication.
inline int CountFlags8(const uint8_t* flags) {
  uint64_t word;
  std::memcpy(&word, flags, 8);
  return static_cast<int>((word * 0x0101010101010101ULL) >> 56);
}

// Calls on_bit(i) for every set bit i of bits[0 .. (num_bits + 63) / 64), in
// increasing order, clearing the words it reads (so a scratch bitmap is
// ready for its next user).
template <typename F>
inline void TakeSetBits(std::vector<uint64_t>& bits, int64_t num_bits, F&& on_bit) {
  const int64_t words = (num_bits + 63) / 64;
  for (int64_t w = 0; w < words; ++w) {
    uint64_t word = bits[w];
    bits[w] = 0;
    while (word) {
      on_bit(w * 64 + __builtin_ctzll(word));
      word &= word - 1;
    }
  }
}

// Calls on_run(i, count) for each run of zero bytes flags[i, i + count) in
// flags[0, n), in order; 8 bytes at a time while they are all 1.
template <typename F>
inline void ForEachZeroRun(const uint8_t* flags, int64_t n, F&& on_run) {
  constexpr uint64_t kAllOnes = 0x0101010101010101ULL;
  int64_t i = 0;
  while (i < n) {
    uint64_t block;
    while (i + 8 <= n && (std::memcpy(&block, flags + i, 8), block == kAllOnes)) i += 8;
    if (i == n) break;
    if (flags[i] != 0) {
      ++i;
      continue;
    }
    int64_t j = i + 1;
    while (j < n && flags[j] == 0) ++j;
    on_run(i, j - i);
    i = j;
  }
}

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_BITS_H_

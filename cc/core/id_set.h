// The "unselectable" token ids: a constant-time membership test (non-negative
// ids below kMaxBitsetId live in a bitset, anything else, negative or huge
// ids, in a sorted vector), and a scan of a row for the runs of its members
// (vector compares for up to kSmallIdSet ids, the usual special tokens).
#ifndef TF_MLM_CC_CORE_ID_SET_H_
#define TF_MLM_CC_CORE_ID_SET_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cc/core/cpu.h"
#include "cc/core/ragged.h"

namespace tf_mlm {

namespace internal {

// Up to kSmallIdSet ids of type T, padded by repeating the first: the form
// the vector scan compares against.
constexpr int kSmallIdSet = 4;

// Collects indices into maximal runs of consecutive indices and calls
// fn(start, count) for each, in increasing order.
template <typename Fn>
class RunCollector {
 public:
  explicit RunCollector(Fn& fn) : fn_(fn) {}
  void Add(int64_t start, int64_t count) {
    if (count_ > 0 && start_ + count_ == start) {
      count_ += count;
      return;
    }
    Flush();
    start_ = start;
    count_ = count;
  }
  void Flush() {
    if (count_ > 0) fn_(start_, count_);
    count_ = 0;
  }

 private:
  Fn& fn_;
  int64_t start_ = 0, count_ = 0;
};

// Calls fn(start, count) for every maximal run of indices i in [0, len) with
// v[i] one of ids[0..kSmallIdSet), in increasing order. Blocks of 128 bytes
// are tested with vector compares (kVecBytes wide): a block without a member
// (the usual case: members are special tokens) costs a few instructions, a
// block of members only (padding) extends the current run at once, and only
// mixed blocks are walked one by one.
template <int kVecBytes, typename T, typename Fn>
inline __attribute__((always_inline)) void ScanSmallSet(const T* v, int64_t len, const T* ids,
                                                        Fn&& fn) {
  typedef T Vec __attribute__((vector_size(kVecBytes)));
  constexpr int kLanes = kVecBytes / sizeof(T), kBlock = 128 / sizeof(T);
  const T a = ids[0], b = ids[1], c = ids[2], d = ids[3];
  const Vec va = Vec{} + a, vb = Vec{} + b, vc = Vec{} + c, vd = Vec{} + d;
  auto member = [&](T x) { return (x == a) | (x == b) | (x == c) | (x == d); };
  RunCollector<Fn> runs(fn);
  int64_t i = 0;
  for (; i + kBlock <= len; i += kBlock) {
    Vec any = {}, all = (Vec{} == Vec{});  // all lanes set
    for (int k = 0; k < kBlock; k += kLanes) {
      Vec x;
      std::memcpy(&x, v + i + k, sizeof(x));
      const Vec hit = (x == va) | (x == vb) | (x == vc) | (x == vd);
      any |= hit;
      all &= hit;
    }
    constexpr int kWords = kVecBytes / 8;
    uint64_t any_words[kWords], all_words[kWords];
    std::memcpy(any_words, &any, sizeof(any_words));
    std::memcpy(all_words, &all, sizeof(all_words));
    uint64_t any_bits = 0, all_bits = ~uint64_t{0};
    for (int w = 0; w < kWords; ++w) {
      any_bits |= any_words[w];
      all_bits &= all_words[w];
    }
    if (any_bits == 0) continue;
    if (all_bits == ~uint64_t{0}) {
      runs.Add(i, kBlock);
      continue;
    }
    for (int k = 0; k < kBlock; ++k) {
      if (member(v[i + k])) runs.Add(i + k, 1);
    }
  }
  for (; i < len; ++i) {
    if (member(v[i])) runs.Add(i, 1);
  }
  runs.Flush();
}

#if TF_MLM_HAVE_AVX2_DISPATCH
template <typename T, typename Fn>
TF_MLM_TARGET_AVX2 void ScanSmallSetAvx2(const T* v, int64_t len, const T* ids, Fn&& fn) {
  ScanSmallSet<32>(v, len, ids, fn);
}
#endif

template <typename T, typename Fn>
void ScanSmallSetBaseline(const T* v, int64_t len, const T* ids, Fn&& fn) {
  ScanSmallSet<16>(v, len, ids, fn);
}

}  // namespace internal

class IdSet {
 public:
  static constexpr int64_t kMaxBitsetId = int64_t{1} << 24;  // 2 MiB of bits at most

  IdSet() = default;

  template <typename T>
  explicit IdSet(Span<T> ids) {
    int64_t max_small = -1;
    for (int64_t i = 0; i < ids.size; ++i) {
      const int64_t id = static_cast<int64_t>(ids[i]);
      if (id >= 0 && id < kMaxBitsetId) {
        max_small = std::max(max_small, id);
      } else {
        others_.push_back(id);
      }
    }
    if (max_small >= 0) {
      bits_.assign(static_cast<size_t>(max_small / 64 + 1), 0);
      for (int64_t i = 0; i < ids.size; ++i) {
        const int64_t id = static_cast<int64_t>(ids[i]);
        if (id >= 0 && id < kMaxBitsetId) bits_[id >> 6] |= uint64_t{1} << (id & 63);
      }
    }
    bit_limit_ = static_cast<int64_t>(bits_.size()) * 64;
    std::sort(others_.begin(), others_.end());
    others_.erase(std::unique(others_.begin(), others_.end()), others_.end());
    for (int64_t i = 0; i < ids.size; ++i) members_.push_back(static_cast<int64_t>(ids[i]));
    std::sort(members_.begin(), members_.end());
    members_.erase(std::unique(members_.begin(), members_.end()), members_.end());
  }

  bool empty() const { return bits_.empty() && others_.empty(); }

  bool Contains(int64_t id) const {
    if (id >= 0 && id < bit_limit_) return (bits_[id >> 6] >> (id & 63)) & 1;
    if (others_.empty()) return false;
    return std::binary_search(others_.begin(), others_.end(), id);
  }

  // Calls fn(start, count), in increasing order, for every maximal run of
  // indices i in [0, len) with v[i] in the set. Sets of up to
  // internal::kSmallIdSet ids (the usual special tokens) take the vector
  // scan; larger ones a per-token lookup.
  template <typename T, typename Fn>
  void ForEachMemberRun(const T* v, int64_t len, Fn&& fn) const {
    static_assert(std::is_integral<T>::value, "ids are integers");
    T small[internal::kSmallIdSet];
    int num_small = 0;
    bool fits = members_.size() <= static_cast<size_t>(internal::kSmallIdSet);
    for (size_t i = 0; fits && i < members_.size(); ++i) {
      // An id T cannot represent never matches a value of type T.
      if (members_[i] < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          members_[i] > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        continue;
      }
      small[num_small++] = static_cast<T>(members_[i]);
    }
    if (!fits) {
      internal::RunCollector<Fn> runs(fn);
      for (int64_t i = 0; i < len; ++i) {
        if (Contains(static_cast<int64_t>(v[i]))) runs.Add(i, 1);
      }
      runs.Flush();
      return;
    }
    if (num_small == 0) return;
    for (int i = num_small; i < internal::kSmallIdSet; ++i) small[i] = small[0];
#if TF_MLM_HAVE_AVX2_DISPATCH
    if (CpuHasAvx2()) return internal::ScanSmallSetAvx2(v, len, small, fn);
#endif
    internal::ScanSmallSetBaseline(v, len, small, fn);
  }

 private:
  std::vector<uint64_t> bits_;
  int64_t bit_limit_ = 0;
  std::vector<int64_t> others_;
  std::vector<int64_t> members_;  // all ids, sorted and unique
};

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_ID_SET_H_

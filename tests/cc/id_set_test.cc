// IdSet: the bitset for small non-negative ids and the sorted fallback for
// negative and large ones.
#include "cc/core/id_set.h"

#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace tf_mlm {
namespace {

template <typename T>
IdSet Make(const std::vector<T>& ids) {
  return IdSet(Span<T>{ids.data(), static_cast<int64_t>(ids.size())});
}

TEST(IdSet, EmptyContainsNothing) {
  const IdSet empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Contains(0));
  EXPECT_FALSE(empty.Contains(-1));
  EXPECT_FALSE(empty.Contains(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(Make(std::vector<int64_t>{}).empty());
}

TEST(IdSet, SmallIdsExactlyMembers) {
  const std::vector<int64_t> ids = {0, 101, 102, 63, 64, 127, 128};
  const IdSet set = Make(ids);
  EXPECT_FALSE(set.empty());
  const std::set<int64_t> members(ids.begin(), ids.end());
  for (int64_t id = -300; id < 1000; ++id) {
    EXPECT_EQ(set.Contains(id), members.count(id) == 1) << "id " << id;
  }
}

TEST(IdSet, Int32Input) {
  const IdSet set = Make(std::vector<int32_t>{5, -5, std::numeric_limits<int32_t>::max()});
  EXPECT_TRUE(set.Contains(5));
  EXPECT_TRUE(set.Contains(-5));
  EXPECT_TRUE(set.Contains(std::numeric_limits<int32_t>::max()));
  EXPECT_FALSE(set.Contains(4));
  EXPECT_FALSE(set.Contains(-4));
  EXPECT_FALSE(set.Contains(int64_t{std::numeric_limits<int32_t>::max()} + 1));
}

TEST(IdSet, NegativeAndLargeIdsUseTheFallback) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kLimit = IdSet::kMaxBitsetId;
  const IdSet set = Make(std::vector<int64_t>{-1, kMin, kMax, kLimit, kLimit + 5, 3, -1, kLimit});
  for (int64_t id : {int64_t{-1}, kMin, kMax, kLimit, kLimit + 5, int64_t{3}}) {
    EXPECT_TRUE(set.Contains(id)) << id;
  }
  for (int64_t id : {int64_t{-2}, kMin + 1, kMax - 1, kLimit - 1, kLimit + 1, int64_t{0},
                     int64_t{4}, int64_t{64}}) {
    EXPECT_FALSE(set.Contains(id)) << id;
  }
}

TEST(IdSet, OnlyLargeIdsNoBitset) {
  const IdSet set = Make(std::vector<int64_t>{int64_t{1} << 40});
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(set.Contains(int64_t{1} << 40));
  EXPECT_FALSE(set.Contains(0));
  EXPECT_FALSE(set.Contains(63));
}

TEST(IdSet, LargestBitsetId) {
  const int64_t top = IdSet::kMaxBitsetId - 1;
  const IdSet set = Make(std::vector<int64_t>{top, 1});
  EXPECT_TRUE(set.Contains(top));
  EXPECT_TRUE(set.Contains(1));
  EXPECT_FALSE(set.Contains(top - 1));
  EXPECT_FALSE(set.Contains(top + 1));
  EXPECT_FALSE(set.Contains(0));
}

TEST(IdSet, DuplicatesAreHarmless) {
  const IdSet set = Make(std::vector<int64_t>{7, 7, 7, -9, -9});
  EXPECT_TRUE(set.Contains(7));
  EXPECT_TRUE(set.Contains(-9));
  EXPECT_FALSE(set.Contains(8));
}

// ForEachMember must report exactly the indices a Contains() loop finds, in
// order, for every set size (vector scan up to kSmallIdSet ids, lookups
// beyond), both id widths, and members at block edges and in the tail.
template <typename T>
void CheckForEachMember(const std::vector<int64_t>& set_ids, uint64_t seed) {
  const IdSet set = Make(set_ids);
  uint64_t state = seed;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int64_t len : {0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1000}) {
    std::vector<T> v(static_cast<size_t>(len));
    for (T& x : v) {
      const uint64_t r = next();
      // one value in 8 drawn from the set (or its neighbours), the rest plain
      x = (r % 8 == 0 && !set_ids.empty()) ? static_cast<T>(set_ids[r / 8 % set_ids.size()] + (r / 64 % 3) - 1)
                                           : static_cast<T>(1000 + r % 5000);
    }
    std::vector<int64_t> want, got;
    for (int64_t i = 0; i < len; ++i) {
      if (set.Contains(static_cast<int64_t>(v[i]))) want.push_back(i);
    }
    set.ForEachMember(v.data(), len, [&](int64_t i) { got.push_back(i); });
    ASSERT_EQ(got, want) << "len " << len << ", " << set_ids.size() << " ids";
#if TF_MLM_HAVE_AVX2_DISPATCH
    if (CpuHasAvx2() && !set_ids.empty() && set_ids.size() <= internal::kSmallIdSet) {
      std::vector<T> small;
      for (int64_t id : set_ids) small.push_back(static_cast<T>(id));
      while (small.size() < internal::kSmallIdSet) small.push_back(small[0]);
      std::vector<int64_t> base, avx2;
      internal::ScanSmallSetBaseline(v.data(), len, small.data(), [&](int64_t i) { base.push_back(i); });
      internal::ScanSmallSetAvx2(v.data(), len, small.data(), [&](int64_t i) { avx2.push_back(i); });
      ASSERT_EQ(avx2, base) << "len " << len;
    }
#endif
  }
}

TEST(IdSet, ForEachMemberMatchesContains) {
  const std::vector<std::vector<int64_t>> sets = {
      {}, {0}, {101, 102}, {0, 101, 102}, {0, 100, 101, 102}, {0, 1, 2, 101, 102},
      {-7, 3, 40000}, {5, 9, 13, 17, 21, 25, 29}};
  uint64_t seed = 1;
  for (const auto& ids : sets) {
    CheckForEachMember<int64_t>(ids, seed++);
    CheckForEachMember<int32_t>(ids, seed++);
  }
}

TEST(IdSet, ForEachMemberSkipsIdsTheDtypeCannotHold) {
  // 2^32 + 5 is not an int32; as int32 it would wrap to 5.
  const IdSet set = Make(std::vector<int64_t>{(int64_t{1} << 32) + 5, 7});
  const std::vector<int32_t> v = {5, 7, 5, 7};
  std::vector<int64_t> got;
  set.ForEachMember(v.data(), 4, [&](int64_t i) { got.push_back(i); });
  EXPECT_EQ(got, (std::vector<int64_t>{1, 3}));
  const IdSet only_wide = Make(std::vector<int64_t>{(int64_t{1} << 32) + 5});
  got.clear();
  only_wide.ForEachMember(v.data(), 4, [&](int64_t i) { got.push_back(i); });
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace tf_mlm

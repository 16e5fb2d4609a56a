// IdSet: the bitset for small non-negative ids and the sorted fallback for
// negative and large ones.
#include "cc/core/id_set.h"

#include <cstdint>
#include <limits>
#include <set>
#include <utility>
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

// The runs ForEachMemberRun reports, expanded back into indices, checking on
// the way that they come in order and are maximal (never adjacent).
template <typename T>
std::vector<int64_t> MemberIndices(const IdSet& set, const T* v, int64_t len) {
  std::vector<int64_t> out;
  int64_t last_end = -1;
  set.ForEachMemberRun(v, len, [&](int64_t start, int64_t count) {
    EXPECT_GT(count, 0);
    EXPECT_GT(start, last_end) << "runs out of order or not maximal";
    last_end = start + count;
    for (int64_t i = start; i < start + count; ++i) out.push_back(i);
  });
  return out;
}

// ForEachMemberRun must report exactly the indices a Contains() loop finds,
// for every set size (vector scan up to kSmallIdSet ids, lookups beyond),
// both id widths, members at block edges, whole blocks of members (padding)
// and the tail.
template <typename T>
void CheckForEachMemberRun(const std::vector<int64_t>& set_ids, uint64_t seed) {
  const IdSet set = Make(set_ids);
  uint64_t state = seed;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int64_t len : {0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1000}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<T> v(static_cast<size_t>(len));
      for (int64_t i = 0; i < len; ++i) {
        const uint64_t r = next();
        const bool member = !set_ids.empty() && (pattern == 0   ? r % 8 == 0    // scattered
                                                 : pattern == 1 ? i >= len / 3  // a padding tail
                                                                : (i / 37) % 2 == 1);  // long runs
        // members, or their neighbours (non-members unless also in the set)
        v[static_cast<size_t>(i)] = member ? static_cast<T>(set_ids[r / 8 % set_ids.size()] +
                                                            (pattern == 0 ? (r / 64 % 3) - 1 : 0))
                                           : static_cast<T>(1000 + r % 5000);
      }
      std::vector<int64_t> want;
      for (int64_t i = 0; i < len; ++i) {
        if (set.Contains(static_cast<int64_t>(v[static_cast<size_t>(i)]))) want.push_back(i);
      }
      ASSERT_EQ(MemberIndices(set, v.data(), len), want)
          << "len " << len << ", pattern " << pattern << ", " << set_ids.size() << " ids";
#if TF_MLM_HAVE_AVX2_DISPATCH
      if (CpuHasAvx2() && !set_ids.empty() && set_ids.size() <= internal::kSmallIdSet) {
        std::vector<T> small;
        for (int64_t id : set_ids) small.push_back(static_cast<T>(id));
        while (small.size() < internal::kSmallIdSet) small.push_back(small[0]);
        std::vector<std::pair<int64_t, int64_t>> base, avx2;
        internal::ScanSmallSetBaseline(v.data(), len, small.data(),
                                       [&](int64_t i, int64_t n) { base.emplace_back(i, n); });
        internal::ScanSmallSetAvx2(v.data(), len, small.data(),
                                   [&](int64_t i, int64_t n) { avx2.emplace_back(i, n); });
        ASSERT_EQ(avx2, base) << "len " << len;
      }
#endif
    }
  }
}

TEST(IdSet, ForEachMemberRunMatchesContains) {
  const std::vector<std::vector<int64_t>> sets = {{},
                                                  {0},
                                                  {101, 102},
                                                  {0, 101, 102},
                                                  {0, 100, 101, 102},
                                                  {0, 1, 2, 101, 102},
                                                  {-7, 3, 40000},
                                                  {5, 9, 13, 17, 21, 25, 29}};
  uint64_t seed = 1;
  for (const auto& ids : sets) {
    CheckForEachMemberRun<int64_t>(ids, seed++);
    CheckForEachMemberRun<int32_t>(ids, seed++);
  }
}

TEST(IdSet, PaddingTailIsOneRun) {
  std::vector<int64_t> v(300, 0);
  for (int i = 0; i < 131; ++i) v[i] = 1000 + i;
  v[0] = 101;
  std::vector<std::pair<int64_t, int64_t>> runs;
  Make(std::vector<int64_t>{0, 101, 102})
      .ForEachMemberRun(v.data(), 300, [&](int64_t i, int64_t n) { runs.emplace_back(i, n); });
  EXPECT_EQ(runs, (std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {131, 169}}));
}

TEST(IdSet, ForEachMemberRunSkipsIdsTheDtypeCannotHold) {
  // 2^32 + 5 is not an int32; as int32 it would wrap to 5.
  const IdSet set = Make(std::vector<int64_t>{(int64_t{1} << 32) + 5, 7});
  const std::vector<int32_t> v = {5, 7, 5, 7};
  EXPECT_EQ(MemberIndices(set, v.data(), 4), (std::vector<int64_t>{1, 3}));
  const IdSet only_wide = Make(std::vector<int64_t>{(int64_t{1} << 32) + 5});
  EXPECT_TRUE(MemberIndices(only_wide, v.data(), 4).empty());
}

}  // namespace
}  // namespace tf_mlm

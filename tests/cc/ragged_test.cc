// ValidateNestedSplits: every class of malformed row splits is rejected with
// a message naming the argument; well-formed ones pass.
#include "cc/core/ragged.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/cc/test_util.h"

namespace tf_mlm {
namespace {

using testing::InvalidWith;

template <typename S>
Status Validate(const std::vector<std::vector<S>>& levels, int64_t num_values,
                const std::string& name = "row_splits") {
  NestedSplits<S> n;
  for (const std::vector<S>& s : levels)
    n.levels.push_back(Span<S>{s.data(), static_cast<int64_t>(s.size())});
  return ValidateNestedSplits(n, num_values, name);
}

template <typename S>
class ValidateNestedSplitsTest : public ::testing::Test {};
using SplitTypes = ::testing::Types<int32_t, int64_t>;
TYPED_TEST_SUITE(ValidateNestedSplitsTest, SplitTypes);

TYPED_TEST(ValidateNestedSplitsTest, AcceptsWellFormed) {
  using S = TypeParam;
  EXPECT_TRUE(Validate<S>({{0}}, 0).ok());        // no rows
  EXPECT_TRUE(Validate<S>({{0, 0, 0}}, 0).ok());  // empty rows
  EXPECT_TRUE(Validate<S>({{0, 3, 3, 5}}, 5).ok());
  EXPECT_TRUE(Validate<S>({{0, 2, 3}, {0, 2, 2, 5}}, 5).ok());    // ragged rank 2
  EXPECT_TRUE(Validate<S>({{0, 1}, {0, 2}, {0, 1, 4}}, 4).ok());  // ragged rank 3
}

TYPED_TEST(ValidateNestedSplitsTest, NoLevels) {
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({}, 0, "my_splits"), "my_splits must hold at least one"));
}

TYPED_TEST(ValidateNestedSplitsTest, EmptyLevel) {
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{}}, 0), "row_splits[0] must not be empty"));
  // An empty inner level is caught while checking the level above it (which
  // cannot end with its row count); either way the input is rejected.
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 1}, {}}, 0), "row_splits["));
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0}, {}}, 0), "row_splits["));
}

TYPED_TEST(ValidateNestedSplitsTest, DoesNotStartAtZero) {
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({{1, 3}}, 3), "row_splits[0] must start with 0, got 1"));
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{-1, 3}}, 3), "must start with 0, got -1"));
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({{0, 1}, {2, 4}}, 4), "row_splits[1] must start with 0"));
}

TYPED_TEST(ValidateNestedSplitsTest, Decreasing) {
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 4, 2, 5}}, 5),
                          "row_splits[0] must be non-decreasing, but element 2 (2)"));
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 2}, {0, 3, 1}}, 1),
                          "row_splits[1] must be non-decreasing"));
  // A negative split after the leading 0 is a decrease too.
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, -2, 0}}, 0), "non-decreasing"));
}

TYPED_TEST(ValidateNestedSplitsTest, WrongEnd) {
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 2, 4}}, 5),
                          "row_splits[0] must end with the number of values (5), got 4"));
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 2, 6}}, 5), "got 6"));
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({{0}}, 3), "must end with the number of values (3), got 0"));
  // Outer level must end with the number of rows of the level below it.
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({{0, 3}, {0, 1, 2}}, 2),
                  "row_splits[0] must end with the number of rows of row_splits[1] (2), got 3"));
  EXPECT_TRUE(
      InvalidWith(Validate<TypeParam>({{0, 1}, {0, 1, 2}}, 2), "row_splits[0] must end with"));
  EXPECT_TRUE(InvalidWith(Validate<TypeParam>({{0, 2}, {0, 1, 2}}, 3),
                          "row_splits[1] must end with the number of values"));
}

TEST(ValidateRowSplits, RankTwoPartition) {
  const std::vector<int64_t> good = {0, 1, 3}, bad = {0, 3, 1};
  EXPECT_TRUE(ValidateRowSplits(Span<int64_t>{good.data(), 3}, 3, "row_splits").ok());
  EXPECT_TRUE(InvalidWith(ValidateRowSplits(Span<int64_t>{bad.data(), 3}, 1, "positions_splits"),
                          "positions_splits[0] must be non-decreasing"));
  EXPECT_TRUE(
      InvalidWith(ValidateRowSplits(Span<int64_t>{good.data(), 3}, 4, "x"), "x[0] must end with"));
}

TEST(NestedSplits, DescendAndRows) {
  const std::vector<int64_t> outer = {0, 2, 3}, inner = {0, 2, 2, 5};
  NestedSplits<int64_t> n;
  n.levels = {Span<int64_t>{outer.data(), 3}, Span<int64_t>{inner.data(), 4}};
  EXPECT_EQ(n.ragged_rank(), 2);
  EXPECT_EQ(n.num_rows(), 2);
  EXPECT_EQ(n.Descend(1, 0, 1), 2);  // row 1 starts at word 2
  EXPECT_EQ(n.Descend(1, 0, 2), 2);  // ... and at token 2
  EXPECT_EQ(n.Descend(2, 0, 2), 5);
  EXPECT_EQ(n.Descend(2, 1, 2), 2);
  EXPECT_EQ(n.Descend(2, 1, 1), 2);
  EXPECT_EQ(NestedSplits<int64_t>().num_rows(), 0);
}

template <typename T>
class PadRowsTest : public ::testing::Test {};
TYPED_TEST_SUITE(PadRowsTest, SplitTypes);  // ids of either dtype

TYPED_TEST(PadRowsTest, CopiesFillsAndMasks) {
  using T = TypeParam;
  const std::vector<T> a = {5, 6, 7}, c = {8};
  const T* rows[] = {a.data(), nullptr, c.data()};
  const int64_t lengths[] = {3, 0, 1};
  std::vector<T> out(12, -7), mask(12, -7);
  ASSERT_TRUE(PadRows<T>(rows, lengths, 3, 4, T{9}, out.data(), mask.data()).ok());
  EXPECT_EQ(out, (std::vector<T>{5, 6, 7, 9, 9, 9, 9, 9, 8, 9, 9, 9}));
  EXPECT_EQ(mask, (std::vector<T>{1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
  std::vector<T> no_mask(12, -7);
  ASSERT_TRUE(PadRows<T>(rows, lengths, 3, 4, T{0}, no_mask.data(), nullptr).ok());
  EXPECT_EQ(no_mask[3], 0);
}

TEST(PadRows, RejectsRowsLongerThanTheWidthBeforeWriting) {
  const std::vector<int64_t> a = {1, 2}, b = {3, 4, 5};
  const int64_t* rows[] = {a.data(), b.data()};
  const int64_t lengths[] = {2, 3};
  std::vector<int64_t> out(4, -1);
  EXPECT_TRUE(InvalidWith(PadRows<int64_t>(rows, lengths, 2, 2, 0, out.data(), nullptr),
                          "row 1 has 3 values, outside [0, width = 2]"));
  EXPECT_EQ(out, (std::vector<int64_t>(4, -1)));
  const int64_t negative[] = {2, -1};
  EXPECT_TRUE(InvalidWith(PadRows<int64_t>(rows, negative, 2, 2, 0, out.data(), nullptr),
                          "row 1 has -1 values"));
}

}  // namespace
}  // namespace tf_mlm

// Helpers shared by the core's C++ unit tests: ParallelFor variants that
// shard differently from SerialFor, output buffers for the masking passes,
// and small ragged-batch builders.
#ifndef TF_MLM_TESTS_CC_TEST_UTIL_H_
#define TF_MLM_TESTS_CC_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cc/core/masking.h"
#include "gtest/gtest.h"

namespace tf_mlm {
namespace testing {

// EXPECT_TRUE(InvalidWith(status, "fragment")): an error whose message
// contains `fragment` (errors must name the offending argument).
inline ::testing::AssertionResult InvalidWith(const Status& s, const std::string& fragment) {
  if (s.ok())
    return ::testing::AssertionFailure() << "accepted, expected an error with '" << fragment << "'";
  if (s.message().find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message '" << s.message() << "' lacks '" << fragment << "'";
  }
  return ::testing::AssertionSuccess();
}

// One shard per element, visited last to first: any dependence on shard
// boundaries or on the order rows are processed in shows up against SerialFor.
inline void OneElementShardsReversed(int64_t n, int64_t /*cost*/,
                                     const std::function<void(int64_t, int64_t)>& fn) {
  for (int64_t i = n - 1; i >= 0; --i) fn(i, i + 1);
}

// Uneven shards (sizes 1, 2, 3, ...) run on real threads, like the TF
// thread pool does; exercises the per-thread scratch state of the core.
inline void ThreadedShards(int64_t n, int64_t /*cost*/,
                           const std::function<void(int64_t, int64_t)>& fn) {
  std::vector<std::thread> threads;
  int64_t begin = 0;
  for (int64_t size = 1; begin < n; ++size) {
    const int64_t end = begin + size < n ? begin + size : n;
    threads.emplace_back([&fn, begin, end] { fn(begin, end); });
    begin = end;
  }
  for (std::thread& t : threads) t.join();
}

// A ragged tensor as owned components.
template <typename T, typename S>
struct Ragged {
  std::vector<T> values;
  std::vector<std::vector<S>> splits;  // outermost first

  Span<T> values_span() const {
    return Span<T>{values.data(), static_cast<int64_t>(values.size())};
  }
  NestedSplits<S> nested() const {
    NestedSplits<S> n;
    for (const std::vector<S>& s : splits)
      n.levels.push_back(Span<S>{s.data(), static_cast<int64_t>(s.size())});
    return n;
  }
};

// Ragged rank 1 from rows of tokens.
template <typename T, typename S>
Ragged<T, S> FromRows(const std::vector<std::vector<T>>& rows) {
  Ragged<T, S> r;
  r.splits.emplace_back(1, S{0});
  for (const std::vector<T>& row : rows) {
    r.values.insert(r.values.end(), row.begin(), row.end());
    r.splits[0].push_back(static_cast<S>(r.values.size()));
  }
  return r;
}

// Ragged rank 2 from rows of words of wordpieces.
template <typename T, typename S>
Ragged<T, S> FromWords(const std::vector<std::vector<std::vector<T>>>& rows) {
  Ragged<T, S> r;
  r.splits.emplace_back(1, S{0});
  r.splits.emplace_back(1, S{0});
  for (const auto& row : rows) {
    for (const std::vector<T>& word : row) {
      r.values.insert(r.values.end(), word.begin(), word.end());
      r.splits[1].push_back(static_cast<S>(r.values.size()));
    }
    r.splits[0].push_back(static_cast<S>(r.splits[1].size() - 1));
  }
  return r;
}

// Owned outputs of MaskLanguageModel / GatherMasked, with the allocator
// callback the core expects. `dense_rows` >= 0 sizes the weights too.
template <typename T, typename S>
struct Outputs {
  std::vector<T> masked_values;
  std::vector<S> position_splits;
  std::vector<S> positions;
  std::vector<T> masked_ids;
  std::vector<float> weights;
  int64_t allocations = 0;

  AllocateMaskOutputs<T, S> Allocator(int64_t num_values, int64_t rows, bool with_values,
                                      bool dense = false) {
    return [this, num_values, rows, with_values, dense](int64_t total, MaskOutputs<T, S>* out) {
      ++allocations;
      // Sentinels: anything the core forgets to write is visible.
      masked_values.assign(with_values ? num_values : 0, T{-7});
      position_splits.assign(dense ? 0 : rows + 1, S{-7});
      positions.assign(total, S{-7});
      masked_ids.assign(total, T{-7});
      weights.assign(dense ? total : 0, -7.0f);
      out->masked_values = with_values ? masked_values.data() : nullptr;
      out->position_splits = dense ? nullptr : position_splits.data();
      out->positions = positions.data();
      out->masked_ids = masked_ids.data();
      out->weights = dense ? weights.data() : nullptr;
      return Status::Ok();
    };
  }

  bool operator==(const Outputs& o) const {
    return masked_values == o.masked_values && position_splits == o.position_splits &&
           positions == o.positions && masked_ids == o.masked_ids && weights == o.weights;
  }
};

}  // namespace testing
}  // namespace tf_mlm

#endif  // TF_MLM_TESTS_CC_TEST_UTIL_H_

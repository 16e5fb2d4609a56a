// Selectability: an item is selectable iff none of its tokens is an
// unselectable id.
#ifndef TF_MLM_CC_CORE_SELECTABLE_H_
#define TF_MLM_CC_CORE_SELECTABLE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cc/core/id_set.h"
#include "cc/core/parallel.h"
#include "cc/core/ragged.h"

namespace tf_mlm {

// Number of items (elements at level `axis`).
template <typename S>
int64_t NumItems(const NestedSplits<S>& splits, int64_t num_values, int axis) {
  return axis == splits.ragged_rank() ? num_values : splits.levels[axis].size - 1;
}

// selectable[i] = 1 iff no token of item i is in `unselectable` (an item with
// no tokens is selectable, as reduce_all over nothing is true). Row by row:
// every item starts selectable, then the vector scan finds the runs of
// unselectable tokens (usually a few special tokens per row) and each run
// clears the items it falls in, found by binary search up the levels.
template <typename T, typename S>
void ComputeSelectable(Span<T> values, const NestedSplits<S>& splits, int axis,
                       const IdSet& unselectable, uint8_t* selectable,
                       const ParallelFor& parallel_for) {
  const int rank = splits.ragged_rank();
  const int64_t num_items = NumItems(splits, values.size, axis);
  // Guarded: memset on a null pointer (an empty output) is undefined even for 0 bytes.
  if (num_items > 0) std::memset(selectable, 1, static_cast<size_t>(num_items));
  if (unselectable.empty() || num_items == 0) return;
  // The item (element at level `axis`) that holds token t.
  auto item_of = [&](int64_t t) {
    for (int l = rank - 1; l >= axis; --l) {
      const Span<S>& level = splits.levels[l];
      t = (std::upper_bound(level.data, level.data + level.size, static_cast<S>(t)) - level.data) -
          1;
    }
    return t;
  };
  const int64_t rows = splits.num_rows();
  parallel_for(rows, 2 * (values.size / (rows + 1) + 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t t0 = splits.Descend(b, 0, rank), t1 = splits.Descend(b + 1, 0, rank);
      unselectable.ForEachMemberRun(values.data + t0, t1 - t0, [&](int64_t i, int64_t count) {
        const int64_t first = t0 + i, last = first + count;  // tokens [first, last)
        if (axis == rank) {
          std::memset(selectable + first, 0, static_cast<size_t>(count));
          return;
        }
        // Items with tokens in [first, last): from the one holding `first`,
        // forward while they start before `last`; empty items in between
        // hold none of them and stay selectable.
        const int64_t holder = item_of(first);
        int64_t start = splits.Descend(holder, axis, rank);
        for (int64_t item = holder; item < num_items && start < last; ++item) {
          const int64_t next = splits.Descend(item + 1, axis, rank);
          if (next > start) selectable[item] = 0;
          start = next;
        }
      });
    }
  });
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_SELECTABLE_H_

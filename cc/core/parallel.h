// Sharded loops: how the core spreads per-row work over threads.
#ifndef TF_MLM_CC_CORE_PARALLEL_H_
#define TF_MLM_CC_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace tf_mlm {

// Runs fn(begin, end) over [0, n) in shards; `cost_per_unit` is a rough
// number of cycles per unit. The TF adapter maps this onto the intra-op
// thread pool; results never depend on how the range is split.
using ParallelFor = std::function<void(int64_t n, int64_t cost_per_unit,
                                       const std::function<void(int64_t, int64_t)>& fn)>;

inline void SerialFor(int64_t n, int64_t /*cost_per_unit*/,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 0) fn(0, n);
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_PARALLEL_H_

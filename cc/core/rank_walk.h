// The chosen-rank walk: maps ranks among a row's selectable elements to
// the elements, stepping over the unselectable ones.
#ifndef TF_MLM_CC_CORE_RANK_WALK_H_
#define TF_MLM_CC_CORE_RANK_WALK_H_

#include <cstdint>
#include <vector>

#include "cc/core/bits.h"

namespace tf_mlm {

namespace internal {

// Up to this many runs of unselectable elements are kept per row by the
// fused passes (RunsRanks); a row with more falls back to flags (FlagsRanks).
constexpr int64_t kKeptRuns = 8;

// Maps increasing ranks among a row's selectable elements to the elements'
// indices in the row: the rank plus the unselectable elements before it.
// Two ways, by how the unselectable elements are known:
//  - RunsRanks: as a few runs, (first, length) pairs in order: each run at or
//    before the candidate is stepped over once (O(1) per rank);
//  - FlagsRanks: as 0/1 flags[0, n) (many runs): counted 8 flags at a time.
class RunsRanks {
 public:
  RunsRanks(const int64_t* runs, int64_t num_runs) : runs_(runs), num_runs_(num_runs) {}
  int64_t operator()(int64_t r) {
    int64_t i = r + skipped_;
    while (passed_ < num_runs_ && runs_[2 * passed_] <= i) {
      skipped_ += runs_[2 * passed_ + 1];
      i += runs_[2 * passed_ + 1];
      ++passed_;
    }
    return i;
  }

 private:
  const int64_t* runs_;
  int64_t num_runs_, passed_ = 0, skipped_ = 0;
};

class FlagsRanks {
 public:
  FlagsRanks(const uint8_t* flags, int64_t n) : flags_(flags), n_(n) {}
  int64_t operator()(int64_t r) {
    while (i_ + 8 <= n_) {
      const int count = CountFlags8(flags_ + i_);
      if (rank_at_i_ + count > r) break;
      rank_at_i_ += count;
      i_ += 8;
    }
    while (!flags_[i_] || rank_at_i_ != r) {
      rank_at_i_ += flags_[i_];
      ++i_;
    }
    ++rank_at_i_;
    return i_++;
  }

 private:
  const uint8_t* flags_;
  int64_t n_, i_ = 0, rank_at_i_ = 0;  // rank_at_i_: selectable elements in [0, i_)
};

}  // namespace internal

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_RANK_WALK_H_

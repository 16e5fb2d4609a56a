// Views of ragged tensors as their components: flat values plus one
// row_splits vector per ragged level, outermost first. Validation of
// untrusted splits lives here so every binding applies the same checks.
#ifndef TF_MLM_CC_CORE_RAGGED_H_
#define TF_MLM_CC_CORE_RAGGED_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/status.h"

namespace tf_mlm {

template <typename T>
struct Span {
  const T* data = nullptr;
  int64_t size = 0;
  const T& operator[](int64_t i) const { return data[i]; }
};

// Nested row splits of a ragged tensor with `num_values` flat values.
// levels[0] partitions the batch rows; levels.back() partitions the values.
template <typename S>
struct NestedSplits {
  std::vector<Span<S>> levels;

  int ragged_rank() const { return static_cast<int>(levels.size()); }
  int64_t num_rows() const { return levels.empty() ? 0 : levels[0].size - 1; }

  // Maps index `i` at ragged level `from` (0 = batch rows) down to the
  // matching index at level `to` (ragged_rank() = flat values), from <= to.
  int64_t Descend(int64_t i, int from, int to) const {
    for (int l = from; l < to; ++l) i = static_cast<int64_t>(levels[l][i]);
    return i;
  }
};

// Dense [rows, width] outputs (padding to a length) hold at most this many
// elements: far beyond any real batch, and refused with a clear error instead
// of an allocation failure.
constexpr int64_t kMaxDenseElements = int64_t{1} << 31;

inline Status ValidateDenseShape(int64_t rows, int64_t width, const std::string& width_name) {
  if (width < 0) {
    return Status::Invalid(width_name + " must be >= 0, got " + std::to_string(width));
  }
  if (width > 0 && rows > kMaxDenseElements / width) {
    return Status::Invalid("rows * " + width_name + " is too large: " + std::to_string(rows) +
                           " * " + std::to_string(width) + " > " +
                           std::to_string(kMaxDenseElements) + " elements");
  }
  return Status::Ok();
}

// Checks that `splits` describe a valid ragged tensor over `num_values`
// values: every level non-empty, starting at 0, non-decreasing, and ending at
// the length of the level below it. `name` names the argument in errors.
template <typename S>
Status ValidateNestedSplits(const NestedSplits<S>& splits, int64_t num_values,
                            const std::string& name) {
  if (splits.levels.empty()) {
    return Status::Invalid(name + " must hold at least one row_splits vector");
  }
  const int rank = splits.ragged_rank();
  for (int l = 0; l < rank; ++l) {
    const Span<S>& s = splits.levels[l];
    const std::string where = name + "[" + std::to_string(l) + "]";
    if (s.size < 1) {
      return Status::Invalid(where + " must not be empty (it needs at least the leading 0)");
    }
    if (s[0] != 0) {
      return Status::Invalid(where + " must start with 0, got " + std::to_string(s[0]));
    }
    for (int64_t i = 1; i < s.size; ++i) {
      if (s[i] < s[i - 1]) {
        return Status::Invalid(where + " must be non-decreasing, but element " + std::to_string(i) +
                               " (" + std::to_string(s[i]) + ") is smaller than element " +
                               std::to_string(i - 1) + " (" + std::to_string(s[i - 1]) + ")");
      }
    }
    const int64_t below = (l + 1 < rank) ? splits.levels[l + 1].size - 1 : num_values;
    const std::string below_name =
        (l + 1 < rank) ? "the number of rows of " + name + "[" + std::to_string(l + 1) + "]"
                       : "the number of values";
    if (static_cast<int64_t>(s[s.size - 1]) != below) {
      return Status::Invalid(where + " must end with " + below_name + " (" + std::to_string(below) +
                             "), got " + std::to_string(s[s.size - 1]));
    }
  }
  return Status::Ok();
}

// Checks a rank-2 row partition (rows -> items).
template <typename S>
Status ValidateRowSplits(Span<S> splits, int64_t num_values, const std::string& name) {
  NestedSplits<S> n;
  n.levels.push_back(splits);
  return ValidateNestedSplits(n, num_values, name);
}

// Row `dst` of a dense [rows, width] layout: src[0:len], then `fill`; with
// `mask` non-null, mask[0:width] gets 1 on the copied cells and 0 on the
// fill (an attention mask). 0 <= len <= width.
template <typename T>
inline void CopyPadRow(const T* src, int64_t len, int64_t width, T fill, T* dst, T* mask) {
  if (len > 0) std::memcpy(dst, src, static_cast<size_t>(len) * sizeof(T));
  std::fill(dst + len, dst + width, fill);
  if (mask != nullptr) {
    std::fill(mask, mask + len, T{1});
    std::fill(mask + len, mask + width, T{0});
  }
}

// Dense layout of a rank-2 ragged batch: row b of the row-major
// [rows, width] `out` gets values[row_splits[b]:row_splits[b+1]], then
// `fill` (and `mask`, when non-null, the attention mask, see CopyPadRow).
// `row_splits` must be valid for `values`.
template <typename T, typename S>
Status RaggedToDense(Span<T> values, Span<S> row_splits, int64_t width, T fill, T* out,
                     T* mask = nullptr) {
  const int64_t rows = row_splits.size - 1;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t len =
        static_cast<int64_t>(row_splits[b + 1]) - static_cast<int64_t>(row_splits[b]);
    if (len > width) {
      return Status::Invalid("row " + std::to_string(b) + " has " + std::to_string(len) +
                             " values, more than the width " + std::to_string(width));
    }
  }
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t begin = static_cast<int64_t>(row_splits[b]);
    CopyPadRow(values.data + begin, static_cast<int64_t>(row_splits[b + 1]) - begin, width, fill,
               out + b * width, mask == nullptr ? nullptr : mask + b * width);
  }
  return Status::Ok();
}

// Dense layout of a batch whose rows live in separate buffers (e.g. a list
// of NumPy arrays): as RaggedToDense, row b being rows[b][0:lengths[b]].
// Lengths must be in [0, width].
template <typename T>
Status PadRows(const T* const* rows, const int64_t* lengths, int64_t num_rows, int64_t width,
               T fill, T* out, T* mask) {
  for (int64_t b = 0; b < num_rows; ++b) {
    const int64_t len = lengths[b];
    if (len < 0 || len > width) {
      return Status::Invalid("row " + std::to_string(b) + " has " + std::to_string(len) +
                             " values, outside [0, width = " + std::to_string(width) + "]");
    }
  }
  for (int64_t b = 0; b < num_rows; ++b) {
    CopyPadRow(rows[b], lengths[b], width, fill, out + b * width,
               mask == nullptr ? nullptr : mask + b * width);
  }
  return Status::Ok();
}

// Dense [rows, width] `out` filled with `fill`, then out[b, positions[j]] =
// values[j] for j in row_splits[b]..row_splits[b+1] (a ragged batch of
// in-row positions and their values, e.g. masked positions and labels).
// `row_splits` must be valid for `positions`; positions are checked.
template <typename T, typename S, typename P>
Status ScatterToDense(Span<P> positions, Span<S> row_splits, Span<T> values, int64_t width, T fill,
                      T* out) {
  const int64_t rows = row_splits.size - 1;
  if (values.size != positions.size) {
    return Status::Invalid("positions and values must have the same length, got " +
                           std::to_string(positions.size) + " and " + std::to_string(values.size));
  }
  for (int64_t i = 0; i < rows * width; ++i) out[i] = fill;
  for (int64_t b = 0; b < rows; ++b) {
    T* row = out + b * width;
    for (int64_t j = row_splits[b]; j < static_cast<int64_t>(row_splits[b + 1]); ++j) {
      const int64_t p = static_cast<int64_t>(positions[j]);
      if (p < 0 || p >= width) {
        return Status::Invalid("position " + std::to_string(p) + " of row " + std::to_string(b) +
                               " is outside [0, " + std::to_string(width) + ")");
      }
      row[p] = values[j];
    }
  }
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_RAGGED_H_

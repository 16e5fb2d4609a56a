// Argument conversion of the pybind11 module: NumPy arrays to spans of
// the core, dtype and shape checks (a ValueError or TypeError naming the
// argument, never a crash), seeds, row splits, id sets, thread pools.
#ifndef TF_MLM_CC_PY_ARRAYS_H_
#define TF_MLM_CC_PY_ARRAYS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cc/core/masking.h"
#include "cc/core/replacement.h"

namespace tf_mlm {

namespace py = pybind11;

// ---------------------------------------------------------------------------
// Threads. Results never depend on the split (every row has its own random
// stream), so the number of threads is a speed knob only.

inline constexpr int kMaxThreads = 64;

// num_threads <= 0: automatic (serial below a work threshold).
inline ParallelFor ThreadFor(int num_threads) {
  if (num_threads <= 0) {
    num_threads = static_cast<int>(std::min(4u, std::max(1u, std::thread::hardware_concurrency())));
  }
  // Any count gives the same results; more threads than this only cost.
  num_threads = std::min(num_threads, kMaxThreads);
  return [num_threads](int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    const int64_t shards = std::min<int64_t>(num_threads, n);
    // A thread start costs tens of microseconds: small work runs inline.
    if (shards <= 1 || n * std::max<int64_t>(cost, 1) < 2000000) {
      fn(0, n);
      return;
    }
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(shards - 1));
    const int64_t step = (n + shards - 1) / shards;
    for (int64_t begin = step; begin < n; begin += step) {
      // A thread that cannot be started (process thread limit) runs its
      // shard inline: an exception here would destroy joinable threads,
      // which is std::terminate.
      try {
        threads.emplace_back(fn, begin, std::min(n, begin + step));
      } catch (const std::system_error&) {
        fn(begin, std::min(n, begin + step));
      }
    }
    fn(0, std::min(n, step));
    for (std::thread& t : threads) t.join();
  };
}

// ---------------------------------------------------------------------------
// Argument checks.

enum class IntType { kInt32, kInt64 };

// The id / split dtype of `a`, or a TypeError naming `name`.
inline IntType IntDtype(const py::array& a, const std::string& name) {
  if (py::dtype::of<int32_t>().equal(a.dtype())) return IntType::kInt32;
  if (py::dtype::of<int64_t>().equal(a.dtype())) return IntType::kInt64;
  throw py::type_error(name + " must have dtype int32 or int64 (native byte order), got " +
                       std::string(py::str(a.dtype())));
}

inline py::array Vector1D(const py::handle& h, const std::string& name) {
  if (!py::isinstance<py::array>(h)) {
    throw py::type_error(name + " must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(h).attr("__name__"))));
  }
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (a.ndim() != 1) {
    throw py::value_error(name + " must be 1-D, got an array of " + std::to_string(a.ndim()) +
                          " dimensions");
  }
  // Same dtype, C-contiguous (a copy only when the input is strided).
  return py::array::ensure(a, py::array::c_style);
}

inline void Check(const Status& s) {
  if (!s.ok()) throw py::value_error(s.message());
}

template <typename T>
Span<T> AsSpan(const py::array& a) {
  return Span<T>{static_cast<const T*>(a.data()), static_cast<int64_t>(a.size())};
}

// Row splits are copied (they are small next to the values): the checks
// below then hold while the core runs without the GIL, whatever other
// Python threads do to the caller's arrays.
template <typename S>
struct OwnedSplits {
  std::vector<std::vector<S>> storage;
  NestedSplits<S> view;
};

template <typename S>
void CopySplits(const std::vector<py::array>& arrays, OwnedSplits<S>* out) {
  out->storage.resize(arrays.size());
  for (size_t l = 0; l < arrays.size(); ++l) {
    const S* p = static_cast<const S*>(arrays[l].data());
    out->storage[l].assign(p, p + arrays[l].size());
    out->view.levels.push_back(
        Span<S>{out->storage[l].data(), static_cast<int64_t>(out->storage[l].size())});
  }
}

inline SelectionMode ParseMode(const std::string& mode) {
  if (mode == "exact") return SelectionMode::kExactCount;
  if (mode == "bernoulli") return SelectionMode::kBernoulli;
  throw py::value_error("selection_mode must be 'exact' or 'bernoulli', got '" + mode + "'");
}

// The Philox seed pair, each in [0, 2**64).
inline Seed ParseSeed(const py::tuple& seed) {
  if (seed.size() != 2) {
    throw py::value_error("seed must be a pair of integers in [0, 2**64), got " +
                          std::to_string(seed.size()) + " elements");
  }
  Seed out;
  try {
    out.s0 = seed[0].cast<uint64_t>();
    out.s1 = seed[1].cast<uint64_t>();
  } catch (const py::cast_error&) {
    throw py::value_error("seed must be a pair of integers in [0, 2**64)");
  }
  return out;
}

// A list/tuple of 1-D splits arrays of one int dtype (returned).
inline IntType ParseSplitsList(const py::handle& row_splits, std::vector<py::array>* out) {
  if (!py::isinstance<py::list>(row_splits) && !py::isinstance<py::tuple>(row_splits)) {
    throw py::type_error("row_splits must be a list or tuple of 1-D arrays");
  }
  const py::sequence split_seq = py::reinterpret_borrow<py::sequence>(row_splits);
  if (split_seq.size() == 0) throw py::value_error("row_splits must hold at least one array");
  IntType s = IntType::kInt64;
  for (size_t l = 0; l < split_seq.size(); ++l) {
    const std::string name = "row_splits[" + std::to_string(l) + "]";
    out->push_back(Vector1D(split_seq[l], name));
    const IntType sl = IntDtype(out->back(), name);
    if (l == 0) {
      s = sl;
    } else if (sl != s) {
      throw py::type_error("all row_splits must have the same dtype, but " + name +
                           " differs from row_splits[0]");
    }
  }
  return s;
}

// None, or a 1-D int32/int64 array copied as int64.
inline void CopyIds(const py::object& h, const std::string& name, std::vector<int64_t>* out) {
  if (h.is_none()) return;
  const py::array a = Vector1D(h, name);
  if (IntDtype(a, name) == IntType::kInt32) {
    const int32_t* p = static_cast<const int32_t*>(a.data());
    out->assign(p, p + a.size());
  } else {
    const int64_t* p = static_cast<const int64_t*>(a.data());
    out->assign(p, p + a.size());
  }
}

// The replacement law's tables, copied (vocabulary-sized at most) so that
// the checks hold while the core runs without the GIL.
inline void ParseReplacement(const py::object& excluded_ids, const py::object& alias_prob,
                             const py::object& alias_index, ReplacementTables* out) {
  CopyIds(excluded_ids, "excluded_ids", &out->excluded);
  if (alias_prob.is_none() != alias_index.is_none()) {
    throw py::value_error("alias_prob and alias_index must be given together");
  }
  if (alias_prob.is_none()) return;
  const py::array prob = Vector1D(alias_prob, "alias_prob");
  if (!py::dtype::of<float>().equal(prob.dtype())) {
    throw py::type_error("alias_prob must have dtype float32, got " +
                         std::string(py::str(prob.dtype())));
  }
  const float* p = static_cast<const float*>(prob.data());
  out->alias_prob.assign(p, p + prob.size());
  CopyIds(alias_index, "alias_index", &out->alias_index);
}

// Value options (rates, vocabulary, mask id, replacement law), as given: the
// core validates them.
inline ValueOptions ParseValueOptions(int64_t vocab_size, int64_t mask_token,
                                      double mask_token_rate, double random_token_rate,
                                      const ReplacementTables& replacement) {
  ValueOptions o;
  o.vocab_size = vocab_size;
  o.mask_token = mask_token;
  o.mask_token_rate = static_cast<float>(mask_token_rate);
  o.random_token_rate = static_cast<float>(random_token_rate);
  o.replacement = replacement.View();
  return o;
}

inline IdSet ParseIdSet(const py::handle& h, const std::string& name) {
  const py::array ids = Vector1D(h, name);
  if (IntDtype(ids, name) == IntType::kInt32) return IdSet(AsSpan<int32_t>(ids));
  return IdSet(AsSpan<int64_t>(ids));
}

// Calls fn(T{}) with T the C++ type of an int32/int64 dtype.
template <typename Fn>
auto WithIntType(IntType t, Fn&& fn) {
  return t == IntType::kInt32 ? fn(int32_t{}) : fn(int64_t{});
}

template <typename S>
Span<S> CheckedSplits(const py::array& splits, int64_t num_values, std::vector<S>* copy) {
  const S* p = static_cast<const S*>(splits.data());
  copy->assign(p, p + splits.size());
  const Span<S> span{copy->data(), static_cast<int64_t>(copy->size())};
  Check(ValidateRowSplits(span, num_values, "row_splits"));
  return span;
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_PY_ARRAYS_H_

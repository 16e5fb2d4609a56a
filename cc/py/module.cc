// pybind11 module over the framework-free core (no TensorFlow).
//
// A thin adapter, like cc/tf/kernels.cc: it validates every argument (a
// ValueError or TypeError naming it, never a crash), allocates NumPy outputs,
// and calls cc/core with the GIL released. No algorithm lives here.
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
#include "cc/core/spans.h"
#include "cc/core/words.h"

namespace py = pybind11;

namespace tf_mlm {
namespace {

// ---------------------------------------------------------------------------
// Threads. Results never depend on the split (every row has its own random
// stream), so the number of threads is a speed knob only.

constexpr int kMaxThreads = 64;

// num_threads <= 0: automatic (serial below a work threshold).
ParallelFor ThreadFor(int num_threads) {
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
IntType IntDtype(const py::array& a, const std::string& name) {
  if (py::dtype::of<int32_t>().equal(a.dtype())) return IntType::kInt32;
  if (py::dtype::of<int64_t>().equal(a.dtype())) return IntType::kInt64;
  throw py::type_error(name + " must have dtype int32 or int64 (native byte order), got " +
                       std::string(py::str(a.dtype())));
}

py::array Vector1D(const py::handle& h, const std::string& name) {
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

void Check(const Status& s) {
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

SelectionMode ParseMode(const std::string& mode) {
  if (mode == "exact") return SelectionMode::kExactCount;
  if (mode == "bernoulli") return SelectionMode::kBernoulli;
  throw py::value_error("selection_mode must be 'exact' or 'bernoulli', got '" + mode + "'");
}


// The Philox seed pair, each in [0, 2**64).
Seed ParseSeed(const py::tuple& seed) {
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
IntType ParseSplitsList(const py::handle& row_splits, std::vector<py::array>* out) {
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

// The replacement law's tables, copied (vocabulary-sized at most) so that
// the checks hold while the core runs without the GIL.
struct OwnedReplacement {
  std::vector<int64_t> excluded;
  std::vector<float> alias_prob;
  std::vector<int64_t> alias_index;

  ReplacementOptions View() const {
    ReplacementOptions r;
    r.excluded = Span<int64_t>{excluded.data(), static_cast<int64_t>(excluded.size())};
    r.alias_prob = Span<float>{alias_prob.data(), static_cast<int64_t>(alias_prob.size())};
    r.alias_index = Span<int64_t>{alias_index.data(), static_cast<int64_t>(alias_index.size())};
    return r;
  }
};

// None, or a 1-D int32/int64 array copied as int64.
void CopyIds(const py::object& h, const std::string& name, std::vector<int64_t>* out) {
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

void ParseReplacement(const py::object& excluded_ids, const py::object& alias_prob,
                      const py::object& alias_index, OwnedReplacement* out) {
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

// The core's checks of the selection and value options alone, for callers
// that validate arguments before any data arrives (the Keras layer).
void ValidateOptionsPy(double selection_rate, int64_t max_selections, int64_t vocab_size,
                       int64_t mask_token, double mask_token_rate, double random_token_rate) {
  SelectionOptions selection;
  selection.selection_rate = static_cast<float>(selection_rate);
  selection.max_selections = max_selections;
  Check(ValidateSelectionOptions(selection, "max_selections"));
  ValueOptions values;
  values.vocab_size = vocab_size;
  values.mask_token = mask_token;
  values.mask_token_rate = static_cast<float>(mask_token_rate);
  values.random_token_rate = static_cast<float>(random_token_rate);
  Check(ValidateValueOptions(values));
}

// Value options (rates, vocabulary, mask id, replacement law), validated.
ValueOptions ParseValueOptions(int64_t vocab_size, int64_t mask_token, double mask_token_rate,
                               double random_token_rate, const OwnedReplacement& replacement) {
  ValueOptions o;
  o.vocab_size = vocab_size;
  o.mask_token = mask_token;
  o.mask_token_rate = static_cast<float>(mask_token_rate);
  o.random_token_rate = static_cast<float>(random_token_rate);
  o.replacement = replacement.View();
  Check(ValidateValueOptions(o));
  return o;
}

IdSet ParseIdSet(const py::handle& h, const std::string& name) {
  const py::array ids = Vector1D(h, name);
  if (IntDtype(ids, name) == IntType::kInt32) return IdSet(AsSpan<int32_t>(ids));
  return IdSet(AsSpan<int64_t>(ids));
}

// ---------------------------------------------------------------------------
// mask_language_model

struct MaskArgs {
  py::array values;
  std::vector<py::array> splits;
  IdSet unselectable;
  SelectionOptions selection;
  ValueOptions value_opts;
  Seed seed;
  int axis = 1;
  int64_t pad_to = -1;
  int num_threads = 0;
  py::object out_values;  // None, or a C-contiguous writeable array for masked_values
  OwnedReplacement replacement;  // what value_opts.replacement points into
};

template <typename T, typename S>
py::tuple RunMask(const MaskArgs& args) {
  OwnedSplits<S> splits;
  CopySplits(args.splits, &splits);
  const Span<T> values = AsSpan<T>(args.values);
  Check(ValidateNestedSplits(splits.view, values.size, "row_splits"));
  Check(ValidateAxis(args.axis, splits.view.ragged_rank()));
  const int64_t rows = splits.view.num_rows();
  SelectionOptions selection = args.selection;
  if (args.pad_to >= 0) {
    Check(ValidateDenseShape(rows, args.pad_to, "pad_to"));
    // As the dense TF op: no row can record more than pad_to positions.
    selection.max_selections = std::min(selection.max_selections, args.pad_to);
  }

  py::array masked_values = args.out_values.is_none()
                                ? py::array(py::array_t<T>(values.size))
                                : py::reinterpret_borrow<py::array>(args.out_values);
  py::array_t<S> positions, position_splits;
  py::array_t<T> masked_ids;
  py::array_t<float> weights;
  T* out_values = static_cast<T*>(masked_values.mutable_data());
  const bool dense = args.pad_to >= 0;
  // Called once, on this thread, while the GIL is released.
  AllocateMaskOutputs<T, S> allocate = [&](int64_t total, MaskOutputs<T, S>* out) -> Status {
    py::gil_scoped_acquire gil;
    if (dense) {
      const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(rows),
                                           static_cast<py::ssize_t>(args.pad_to)};
      positions = py::array_t<S>(shape);
      masked_ids = py::array_t<T>(shape);
      weights = py::array_t<float>(shape);
      out->weights = weights.mutable_data();
    } else {
      positions = py::array_t<S>(total);
      position_splits = py::array_t<S>(rows + 1);
      masked_ids = py::array_t<T>(total);
      out->position_splits = position_splits.mutable_data();
    }
    out->masked_values = out_values;
    out->positions = positions.mutable_data();
    out->masked_ids = masked_ids.mutable_data();
    return Status::Ok();
  };
  Status status;
  {
    py::gil_scoped_release release;
    status = MaskLanguageModel<T, S>(values, splits.view, args.axis, args.unselectable, selection,
                                     args.value_opts, args.seed, allocate,
                                     ThreadFor(args.num_threads), args.pad_to);
  }
  Check(status);
  return py::make_tuple(masked_values, positions,
                        dense ? py::object(py::none()) : py::object(position_splits), masked_ids,
                        dense ? py::object(weights) : py::object(py::none()));
}

py::tuple MaskLanguageModelPy(const py::handle& values, const py::handle& row_splits,
                              const py::handle& unselectable_ids, int64_t max_selections,
                              double selection_rate, int64_t vocab_size, int64_t mask_token,
                              double mask_token_rate, double random_token_rate,
                              const py::tuple& seed, int axis, const std::string& selection_mode,
                              int64_t pad_to, int num_threads, const py::object& out_values,
                              const py::object& excluded_ids, const py::object& alias_prob,
                              const py::object& alias_index) {
  MaskArgs args;
  args.values = Vector1D(values, "values");
  const IntType t = IntDtype(args.values, "values");
  const IntType s = ParseSplitsList(row_splits, &args.splits);
  args.unselectable = ParseIdSet(unselectable_ids, "unselectable_ids");

  args.selection.max_selections = max_selections;
  args.selection.selection_rate = static_cast<float>(selection_rate);
  args.selection.mode = ParseMode(selection_mode);
  Check(ValidateSelectionOptions(args.selection, "max_selections"));
  ParseReplacement(excluded_ids, alias_prob, alias_index, &args.replacement);
  args.value_opts = ParseValueOptions(vocab_size, mask_token, mask_token_rate, random_token_rate,
                                      args.replacement);
  args.seed = ParseSeed(seed);

  args.axis = axis;
  if (pad_to < -1) throw py::value_error("pad_to must be >= 0 (or -1 for ragged outputs)");
  args.pad_to = pad_to;
  args.num_threads = num_threads;
  if (!out_values.is_none()) {
    if (!py::isinstance<py::array>(out_values)) {
      throw py::type_error("out_values must be None or a numpy.ndarray");
    }
    const py::array out = py::reinterpret_borrow<py::array>(out_values);
    if (!out.dtype().equal(args.values.dtype())) {
      throw py::type_error("out_values must have the dtype of values");
    }
    if (out.ndim() != 1 || out.size() != args.values.size()) {
      throw py::value_error("out_values must be 1-D with as many elements as values (" +
                            std::to_string(args.values.size()) + ")");
    }
    if (!(out.flags() & py::array::c_style) || !out.writeable()) {
      throw py::value_error("out_values must be C-contiguous and writeable");
    }
    // It may be `values` itself (the core reads each value before writing
    // it), but not overlap it otherwise.
    const char* a = static_cast<const char*>(args.values.data());
    const char* b = static_cast<const char*>(out.data());
    const py::ssize_t bytes = args.values.nbytes();
    if (a != b && a < b + bytes && b < a + bytes) {
      throw py::value_error("out_values overlaps values without being the same array");
    }
    args.out_values = out_values;
  } else {
    args.out_values = py::none();
  }

  if (t == IntType::kInt32) {
    return s == IntType::kInt32 ? RunMask<int32_t, int32_t>(args) : RunMask<int32_t, int64_t>(args);
  }
  return s == IntType::kInt32 ? RunMask<int64_t, int32_t>(args) : RunMask<int64_t, int64_t>(args);
}

// ---------------------------------------------------------------------------
// Dense layouts of ragged batches (padding, labels).

// Calls fn(T{}) with T the C++ type of an int32/int64 dtype.
template <typename Fn>
auto WithIntType(IntType t, Fn&& fn) {
  return t == IntType::kInt32 ? fn(int32_t{}) : fn(int64_t{});
}

template <typename T>
T FillValue(int64_t fill) {
  if (fill < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      fill > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    throw py::value_error("fill " + std::to_string(fill) + " does not fit the dtype of values");
  }
  return static_cast<T>(fill);
}

template <typename S>
Span<S> CheckedSplits(const py::array& splits, int64_t num_values, std::vector<S>* copy) {
  const S* p = static_cast<const S*>(splits.data());
  copy->assign(p, p + splits.size());
  const Span<S> span{copy->data(), static_cast<int64_t>(copy->size())};
  Check(ValidateRowSplits(span, num_values, "row_splits"));
  return span;
}

// The caller's [rows, width] output array `out_h` (a batch recycling the
// array of an earlier one): it must be exactly that, C-contiguous, writable,
// dtype T, shape [rows, width], and overlap none of `inputs`. Returns its data.
template <typename T>
T* CheckedOut(const py::object& out_h, int64_t rows, int64_t width,
              const std::vector<const py::array*>& inputs, const std::string& name) {
  if (!py::isinstance<py::array>(out_h)) throw py::type_error(name + " must be a NumPy array");
  py::array given = py::reinterpret_borrow<py::array>(out_h);
  if (!given.dtype().equal(py::dtype::of<T>())) {
    throw py::type_error(name + " must have dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(given.dtype())));
  }
  if (given.ndim() != 2 || given.shape(0) != rows || given.shape(1) != width) {
    throw py::value_error(name + " must have shape (" + std::to_string(rows) + ", " +
                          std::to_string(width) + ")");
  }
  if (!(given.flags() & py::array::c_style) || !given.writeable()) {
    throw py::value_error(name + " must be C-contiguous and writable");
  }
  const char* o0 = static_cast<const char*>(given.data());
  const char* o1 = o0 + given.nbytes();
  for (const py::array* in : inputs) {
    const char* i0 = static_cast<const char*>(in->data());
    const char* i1 = i0 + in->nbytes();
    if (o0 < i1 && i0 < o1) throw py::value_error(name + " must not overlap the inputs");
  }
  return static_cast<T*>(given.mutable_data());
}

// The optional attention-mask output `mask_h` (None: nullptr): checked as
// CheckedOut, and against `out_h` too when that is given.
template <typename T>
T* CheckedMaskOut(const py::object& mask_h, int64_t rows, int64_t width,
                  std::vector<const py::array*> inputs, const py::object& out_h) {
  if (mask_h.is_none()) return nullptr;
  py::array out_array;
  if (!out_h.is_none()) {
    out_array = py::reinterpret_borrow<py::array>(out_h);  // CheckedOut checked it is one
    inputs.push_back(&out_array);
  }
  return CheckedOut<T>(mask_h, rows, width, inputs, "mask_out");
}

// A [rows, width] array of T, written by fn(fill, data, mask) -> Status
// without the GIL: a new one, or `out` when given (see CheckedOut). `mask`
// is the optional attention-mask output `mask_h` (see CheckedMaskOut), or
// nullptr.
template <typename T, typename Fn>
py::array DenseOutput(int64_t rows, int64_t width, int64_t fill, const py::object& out_h,
                      const std::vector<const py::array*>& inputs, Fn&& fn,
                      const py::object& mask_h = py::none()) {
  Check(ValidateDenseShape(rows, width, "width"));
  const T fill_value = FillValue<T>(fill);
  py::array out;
  T* data;
  if (out_h.is_none()) {
    py::array_t<T> fresh({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)});
    data = fresh.mutable_data();
    out = std::move(fresh);
  } else {
    data = CheckedOut<T>(out_h, rows, width, inputs, "out");
    out = py::reinterpret_borrow<py::array>(out_h);
  }
  T* const mask = CheckedMaskOut<T>(mask_h, rows, width, inputs, out_h);
  Status status;
  {
    py::gil_scoped_release release;
    status = fn(fill_value, data, mask);
  }
  Check(status);
  return out;
}

py::array RaggedToDensePy(const py::handle& values_h, const py::handle& splits_h, int64_t width,
                          int64_t fill, const py::object& out, const py::object& mask_out) {
  const py::array values = Vector1D(values_h, "values");
  const py::array splits = Vector1D(splits_h, "row_splits");
  return WithIntType(IntDtype(values, "values"), [&](auto t) -> py::array {
    using T = decltype(t);
    return WithIntType(IntDtype(splits, "row_splits"), [&](auto s) -> py::array {
      using S = decltype(s);
      std::vector<S> copy;
      const Span<S> span = CheckedSplits<S>(splits, values.size(), &copy);
      return DenseOutput<T>(span.size - 1, width, fill, out, {&values, &splits},
                            [&](T fill_value, T* data, T* mask) {
        return RaggedToDense(AsSpan<T>(values), span, width, fill_value, data, mask);
      }, mask_out);
    });
  });
}

py::array ScatterToDensePy(const py::handle& positions_h, const py::handle& splits_h,
                           const py::handle& values_h, int64_t width, int64_t fill,
                           const py::object& out) {
  const py::array positions = Vector1D(positions_h, "positions");
  const py::array splits = Vector1D(splits_h, "row_splits");
  const py::array values = Vector1D(values_h, "values");
  return WithIntType(IntDtype(values, "values"), [&](auto t) -> py::array {
    using T = decltype(t);
    return WithIntType(IntDtype(splits, "row_splits"), [&](auto s) -> py::array {
      using S = decltype(s);
      return WithIntType(IntDtype(positions, "positions"), [&](auto p) -> py::array {
        using P = decltype(p);
        std::vector<S> copy;
        const Span<S> span = CheckedSplits<S>(splits, positions.size(), &copy);
        return DenseOutput<T>(span.size - 1, width, fill, out, {&positions, &splits, &values},
                              [&](T fill_value, T* data, T* /*mask: none here*/) {
          return ScatterToDense(AsSpan<P>(positions), span, AsSpan<T>(values), width, fill_value,
                                data);
        });
      });
    });
  });
}


// ---------------------------------------------------------------------------
// Collation: separate id arrays (a list of examples) straight into a padded
// batch, without first concatenating them.

// The arrays of `sequences` when it is a list or tuple of 1-D C-contiguous
// int32/int64 NumPy arrays (exactly numpy.ndarray) of one dtype, or of
// dicts (exactly dict) holding such an array under "input_ids"; an empty
// vector for anything else, including no sequences (the caller's general
// path then converts and checks the input).
std::vector<py::array> SequenceArrays(const py::handle& sequences) {
  std::vector<py::array> arrays;
  if (!py::isinstance<py::list>(sequences) && !py::isinstance<py::tuple>(sequences)) return arrays;
  const py::sequence items = py::reinterpret_borrow<py::sequence>(sequences);
  const py::object ndarray = py::module_::import("numpy").attr("ndarray");
  arrays.reserve(items.size());
  for (const py::handle item : items) {
    py::handle h = item;
    if (PyDict_CheckExact(h.ptr())) {
      h = PyDict_GetItemString(h.ptr(), "input_ids");  // borrowed; null when missing
      if (!h) return {};
    }
    if (!py::type::of(h).is(ndarray)) return {};
    py::array a = py::reinterpret_borrow<py::array>(h);
    if (a.ndim() != 1 || !(a.flags() & py::array::c_style)) return {};
    if (!arrays.empty() && !a.dtype().equal(arrays.front().dtype())) return {};
    if (arrays.empty() && !py::dtype::of<int32_t>().equal(a.dtype()) &&
        !py::dtype::of<int64_t>().equal(a.dtype())) {
      return {};
    }
    arrays.push_back(std::move(a));
  }
  return arrays;
}

py::object SequenceLengthsPy(const py::handle& sequences) {
  const std::vector<py::array> arrays = SequenceArrays(sequences);
  if (arrays.empty()) return py::none();
  py::array_t<int64_t> lengths(static_cast<py::ssize_t>(arrays.size()));
  int64_t* out = lengths.mutable_data();
  for (size_t b = 0; b < arrays.size(); ++b) out[b] = static_cast<int64_t>(arrays[b].size());
  return py::make_tuple(lengths, arrays.front().dtype());
}

template <typename T>
void PadSequencesTyped(const std::vector<py::array>& arrays, int64_t width, int64_t fill,
                       const py::object& out_h, const py::object& mask_h) {
  const int64_t rows = static_cast<int64_t>(arrays.size());
  Check(ValidateDenseShape(rows, width, "width"));
  const T fill_value = FillValue<T>(fill);
  std::vector<const py::array*> inputs;
  std::vector<const T*> data;
  std::vector<int64_t> lengths;
  for (const py::array& a : arrays) {
    inputs.push_back(&a);
    data.push_back(static_cast<const T*>(a.data()));
    lengths.push_back(static_cast<int64_t>(a.size()));
  }
  T* out = CheckedOut<T>(out_h, rows, width, inputs, "out");
  T* mask = CheckedMaskOut<T>(mask_h, rows, width, inputs, out_h);
  Status status;
  {
    py::gil_scoped_release release;
    status = PadRows(data.data(), lengths.data(), rows, width, fill_value, out, mask);
  }
  Check(status);
}

void PadSequencesPy(const py::handle& sequences, int64_t width, int64_t fill,
                    const py::object& out, const py::object& mask_out) {
  const std::vector<py::array> arrays = SequenceArrays(sequences);
  if (arrays.empty()) {
    throw py::type_error(
        "sequences must be a non-empty list or tuple of 1-D C-contiguous int32 or int64 "
        "numpy.ndarray of one dtype, or of dicts holding one under 'input_ids'");
  }
  WithIntType(IntDtype(arrays.front(), "sequences"), [&](auto t) {
    PadSequencesTyped<decltype(t)>(arrays, width, fill, out, mask_out);
    return 0;
  });
}

// ---------------------------------------------------------------------------
// Strategies: alias tables, word grouping, span masking.

template <typename W>
py::tuple BuildAlias(const py::array& weights) {
  const int64_t n = static_cast<int64_t>(weights.size());
  py::array_t<float> prob(n);
  py::array_t<int64_t> alias(n);
  // With the GIL held: O(n), and nobody can change the weights meanwhile.
  Check(BuildAliasTable(AsSpan<W>(weights), prob.mutable_data(), alias.mutable_data()));
  return py::make_tuple(prob, alias);
}

py::tuple BuildAliasTablePy(const py::handle& weights_h) {
  const py::array weights = Vector1D(weights_h, "weights");
  if (py::dtype::of<float>().equal(weights.dtype())) return BuildAlias<float>(weights);
  if (py::dtype::of<double>().equal(weights.dtype())) return BuildAlias<double>(weights);
  throw py::type_error("weights must have dtype float32 or float64, got " +
                       std::string(py::str(weights.dtype())));
}

template <typename T, typename S>
py::tuple GroupWordsTyped(const py::array& values, const py::array& splits,
                          const py::array& table) {
  std::vector<S> copy;
  const Span<S> row_splits = CheckedSplits<S>(splits, values.size(), &copy);
  const int64_t rows = row_splits.size - 1;
  py::array_t<S> word_row_splits, word_splits;
  // With the GIL held: the core reads the values twice (count, then write),
  // so they must not change in between.
  Check(GroupWords<T, S>(
      AsSpan<T>(values), row_splits, AsSpan<uint8_t>(table),
      [&](int64_t words, S** row_out, S** word_out) -> Status {
        word_row_splits = py::array_t<S>(rows + 1);
        word_splits = py::array_t<S>(words + 1);
        *row_out = word_row_splits.mutable_data();
        *word_out = word_splits.mutable_data();
        return Status::Ok();
      }));
  return py::make_tuple(word_row_splits, word_splits);
}

py::tuple GroupWordsPy(const py::handle& values_h, const py::handle& splits_h,
                       const py::handle& table_h) {
  const py::array values = Vector1D(values_h, "values");
  const py::array splits = Vector1D(splits_h, "row_splits");
  const py::array table = Vector1D(table_h, "continues_word");
  if (!py::dtype::of<bool>().equal(table.dtype())) {
    throw py::type_error("continues_word must have dtype bool, got " +
                         std::string(py::str(table.dtype())));
  }
  return WithIntType(IntDtype(values, "values"), [&](auto t) -> py::tuple {
    using T = decltype(t);
    return WithIntType(IntDtype(splits, "row_splits"), [&](auto s) -> py::tuple {
      return GroupWordsTyped<T, decltype(s)>(values, splits, table);
    });
  });
}

struct SpanArgs {
  py::array values;
  std::vector<py::array> splits;
  IdSet unselectable;
  SpanOptions spans;
  OwnedReplacement replacement;
  ValueOptions value_opts;
  Seed seed;
  int axis = 1;
  int num_threads = 0;
};

// The composed path of tf_mlm.mask_language_model with a SpanItemSelector,
// core step by core step: Selectable, SelectSpans (selection stream),
// GatherMasked, ChooseValues (values stream), ScatterMasked.
template <typename T, typename S>
py::tuple RunSpans(const SpanArgs& args) {
  OwnedSplits<S> owned;
  CopySplits(args.splits, &owned);
  const NestedSplits<S>& splits = owned.view;
  const Span<T> values = AsSpan<T>(args.values);
  Check(ValidateNestedSplits(splits, values.size, "row_splits"));
  Check(ValidateAxis(args.axis, splits.ragged_rank()));
  Check(ValidateValuesFitIds<T>(args.value_opts));
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  const int64_t items = NumItems(splits, values.size, args.axis);
  // Rows -> items at level `axis`, and each item's token count (none when
  // items are tokens), as the TF selector computes them.
  std::vector<S> item_splits(static_cast<size_t>(rows + 1));
  for (int64_t b = 0; b <= rows; ++b) item_splits[b] = static_cast<S>(splits.Descend(b, 0, args.axis));
  std::vector<int64_t> token_counts;
  if (args.axis < rank) {
    token_counts.resize(static_cast<size_t>(items));
    for (int64_t i = 0; i < items; ++i) {
      token_counts[i] = splits.Descend(i + 1, args.axis, rank) - splits.Descend(i, args.axis, rank);
    }
  }
  std::vector<uint8_t> selectable(static_cast<size_t>(items) + 1), chosen(selectable.size());

  py::array_t<T> masked_values(values.size);
  py::array_t<S> positions, position_splits;
  py::array_t<T> masked_ids;
  AllocateMaskOutputs<T, S> allocate = [&](int64_t total, MaskOutputs<T, S>* out) -> Status {
    py::gil_scoped_acquire gil;
    positions = py::array_t<S>(total);
    position_splits = py::array_t<S>(rows + 1);
    masked_ids = py::array_t<T>(total);
    out->positions = positions.mutable_data();
    out->position_splits = position_splits.mutable_data();
    out->masked_ids = masked_ids.mutable_data();
    return Status::Ok();
  };
  T* out_values = masked_values.mutable_data();
  const ParallelFor parallel_for = ThreadFor(args.num_threads);
  Status status;
  {
    py::gil_scoped_release release;
    ComputeSelectable(values, splits, args.axis, args.unselectable, selectable.data(),
                      parallel_for);
    status = SelectSpans(
        Span<S>{item_splits.data(), rows + 1}, selectable.data(),
        Span<int64_t>{token_counts.data(), static_cast<int64_t>(token_counts.size())},
        chosen.data(), args.spans, args.seed, parallel_for);
    if (status.ok()) {
      status = GatherMasked<T, S>(values, splits, args.axis, chosen.data(), allocate,
                                  parallel_for);
    }
    if (status.ok()) {
      // Only this call holds the new arrays: no other thread can see them yet.
      const Span<T> ids{masked_ids.data(), static_cast<int64_t>(masked_ids.size())};
      const Span<S> pos{positions.data(), static_cast<int64_t>(positions.size())};
      const Span<S> pos_splits{position_splits.data(), rows + 1};
      std::vector<T> new_ids(static_cast<size_t>(ids.size) + 1);
      ChooseValues(ids, pos_splits, args.value_opts, args.seed, new_ids.data(), parallel_for);
      status = ScatterMasked<T, S, S>(values, splits, pos, pos_splits,
                                      Span<T>{new_ids.data(), ids.size}, out_values);
    }
  }
  Check(status);
  return py::make_tuple(masked_values, positions, position_splits, masked_ids);
}

py::tuple MaskSpansPy(const py::handle& values, const py::handle& row_splits,
                      const py::handle& unselectable_ids, int64_t max_selections,
                      double selection_rate, double p, int64_t max_span_length,
                      int64_t vocab_size, int64_t mask_token, double mask_token_rate,
                      double random_token_rate, const py::tuple& seed, int axis, int num_threads,
                      const py::object& excluded_ids, const py::object& alias_prob,
                      const py::object& alias_index) {
  SpanArgs args;
  args.values = Vector1D(values, "values");
  const IntType t = IntDtype(args.values, "values");
  const IntType s = ParseSplitsList(row_splits, &args.splits);
  args.unselectable = ParseIdSet(unselectable_ids, "unselectable_ids");
  args.spans.budget.max_selections = max_selections;
  args.spans.budget.selection_rate = static_cast<float>(selection_rate);
  // float32, as the TF op's `p` input: the same span lengths bit for bit.
  args.spans.p = static_cast<float>(p);
  args.spans.max_length = max_span_length;
  Check(ValidateSpanOptions(args.spans));
  ParseReplacement(excluded_ids, alias_prob, alias_index, &args.replacement);
  args.value_opts = ParseValueOptions(vocab_size, mask_token, mask_token_rate, random_token_rate,
                                      args.replacement);
  args.seed = ParseSeed(seed);
  args.axis = axis;
  args.num_threads = num_threads;
  if (t == IntType::kInt32) {
    return s == IntType::kInt32 ? RunSpans<int32_t, int32_t>(args) : RunSpans<int32_t, int64_t>(args);
  }
  return s == IntType::kInt32 ? RunSpans<int64_t, int32_t>(args) : RunSpans<int64_t, int64_t>(args);
}

}  // namespace
}  // namespace tf_mlm

PYBIND11_MODULE(_core, m) {
  m.doc() = "tf_mlm's C++ masking core for NumPy data (no TensorFlow).";
  m.def("mask_language_model", &tf_mlm::MaskLanguageModelPy, py::arg("values"),
        py::arg("row_splits"), py::arg("unselectable_ids"), py::arg("max_selections"),
        py::arg("selection_rate"), py::arg("vocab_size"), py::arg("mask_token"),
        py::arg("mask_token_rate"), py::arg("random_token_rate"), py::arg("seed"),
        py::arg("axis") = 1, py::arg("selection_mode") = "exact", py::arg("pad_to") = -1,
        py::arg("num_threads") = 0, py::arg("out_values") = py::none(),
        py::arg("excluded_ids") = py::none(), py::arg("alias_prob") = py::none(),
        py::arg("alias_index") = py::none(),
        R"doc(The fused masking pass of cc/core on NumPy arrays (no TensorFlow).

values: 1-D int32/int64 ids; row_splits: list of 1-D int32/int64 arrays
(nested splits, outermost first, one dtype); unselectable_ids: 1-D
int32/int64; seed: (s0, s1), integers in [0, 2**64) (the TF ops' int64 seed
pair, reinterpreted as unsigned); pad_to: -1 for ragged outputs, else the
dense length; num_threads: <= 0 automatic; out_values: None, or a 1-D
C-contiguous writeable array (values' dtype and size, may be values itself)
that receives the masked values; excluded_ids: None or 1-D int32/int64,
sorted, unique, in [0, vocab_size), never drawn as random replacements;
alias_prob (float32) / alias_index (int32/int64): None, or vocab_size-long
alias tables (build_alias_table) from which random replacements are drawn.

Returns (masked_values, positions, position_splits or None, masked_ids,
weights or None). Raises ValueError / TypeError on invalid arguments.)doc");
  m.def("ragged_to_dense", &tf_mlm::RaggedToDensePy, py::arg("values"), py::arg("row_splits"),
        py::arg("width"), py::arg("fill"), py::arg("out") = py::none(),
        py::arg("mask_out") = py::none(),
        R"doc(Rows of a rank-2 ragged batch as a dense [rows, width] array padded with
fill (dtype of values). Raises ValueError if a row is longer than width.
out: None, or a C-contiguous writable [rows, width] array of that dtype,
overlapping no input, to write into (returned). mask_out: None, or an array
like out (overlapping neither the inputs nor out) that gets 1 on the copied
cells and 0 on the padding (an attention mask).)doc");
  m.def("scatter_to_dense", &tf_mlm::ScatterToDensePy, py::arg("positions"),
        py::arg("row_splits"), py::arg("values"), py::arg("width"), py::arg("fill"),
        py::arg("out") = py::none(),
        R"doc(A dense [rows, width] array of fill with out[b, positions[j]] = values[j]
for the j of row b (ragged positions / values sharing row_splits). out: as
for ragged_to_dense.)doc");
  m.def("sequence_lengths", &tf_mlm::SequenceLengthsPy, py::arg("sequences"),
        R"doc((lengths int64, dtype) of a list or tuple of 1-D C-contiguous int32/int64
numpy.ndarray of one dtype (or of dicts holding one under "input_ids"): the
input pad_sequences takes. None for anything else, or no sequences.)doc");
  m.def("pad_sequences", &tf_mlm::PadSequencesPy, py::arg("sequences"), py::arg("width"),
        py::arg("fill"), py::arg("out"), py::arg("mask_out") = py::none(),
        R"doc(Writes the sequences (as for sequence_lengths, else TypeError) into the rows
of out, a C-contiguous writable [len(sequences), width] array of their dtype,
padded with fill; mask_out (None or like out) gets 1 on the copied cells and
0 on the padding. Raises ValueError if a sequence is longer than width or the
outputs overlap an input or each other.)doc");
  m.def("validate_options", &tf_mlm::ValidateOptionsPy, py::arg("selection_rate"),
        py::arg("max_selections"), py::arg("vocab_size"), py::arg("mask_token"),
        py::arg("mask_token_rate"), py::arg("random_token_rate"),
        R"doc(The core's checks of the masking options (rates, cap, vocabulary), without
data: raises ValueError with the core's message.)doc");
  m.def("build_alias_table", &tf_mlm::BuildAliasTablePy, py::arg("weights"),
        R"doc(Walker/Vose alias tables of 1-D float32/float64 weights (finite, >= 0,
positive sum): (prob float32, alias int64), for drawing i with probability
weights[i] / sum(weights) in O(1).)doc");
  m.def("group_words", &tf_mlm::GroupWordsPy, py::arg("values"), py::arg("row_splits"),
        py::arg("continues_word"),
        R"doc(Groups a rank-2 batch of wordpieces into words: a piece starts a word if
it is first in its row or continues_word[id] is False (ids outside the
table start words). values: 1-D int32/int64; row_splits: 1-D int32/int64;
continues_word: 1-D bool. Returns (word_row_splits, word_splits), the
nested splits of [rows, (words), (pieces)], dtype of row_splits.)doc");
  m.def("mask_spans", &tf_mlm::MaskSpansPy, py::arg("values"), py::arg("row_splits"),
        py::arg("unselectable_ids"), py::arg("max_selections"), py::arg("selection_rate"),
        py::arg("p"), py::arg("max_span_length"), py::arg("vocab_size"), py::arg("mask_token"),
        py::arg("mask_token_rate"), py::arg("random_token_rate"), py::arg("seed"),
        py::arg("axis") = 1, py::arg("num_threads") = 0, py::arg("excluded_ids") = py::none(),
        py::arg("alias_prob") = py::none(), py::arg("alias_index") = py::none(),
        R"doc(SpanBERT span masking by the core's composed steps (Selectable,
SelectSpans, GatherMasked, ChooseValues, ScatterMasked): the same masks as
tf_mlm.mask_language_model with a SpanItemSelector and a MaskValuesChooser
for the same seed. Arguments as mask_language_model, plus p (geometric
parameter, in (0, 1], used as float32) and max_span_length (>= 1); the
budget max_selections / selection_rate counts tokens.

Returns (masked_values, positions, position_splits, masked_ids).)doc");
}

// The collation bindings of tf_mlm._core: ragged rows to dense arrays,
// sequence lengths and padding, for MLMCollator.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/ragged.h"
#include "cc/py/arrays.h"
#include "cc/py/bindings.h"

namespace tf_mlm {
namespace {

// ---------------------------------------------------------------------------
// Dense layouts of ragged batches (padding, labels).

template <typename T>
T FillValue(int64_t fill) {
  if (fill < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      fill > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    throw py::value_error("fill " + std::to_string(fill) + " does not fit the dtype of values");
  }
  return static_cast<T>(fill);
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
      return DenseOutput<T>(
          span.size - 1, width, fill, out, {&values, &splits},
          [&](T fill_value, T* data, T* mask) {
            return RaggedToDense(AsSpan<T>(values), span, width, fill_value, data, mask);
          },
          mask_out);
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
                                return ScatterToDense(AsSpan<P>(positions), span, AsSpan<T>(values),
                                                      width, fill_value, data);
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

void PadSequencesPy(const py::handle& sequences, int64_t width, int64_t fill, const py::object& out,
                    const py::object& mask_out) {
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

}  // namespace

void BindCollation(py::module_& m) {
  m.def("ragged_to_dense", &tf_mlm::RaggedToDensePy, py::arg("values"), py::arg("row_splits"),
        py::arg("width"), py::arg("fill"), py::arg("out") = py::none(),
        py::arg("mask_out") = py::none(),
        R"doc(Rows of a rank-2 ragged batch as a dense [rows, width] array padded with
fill (dtype of values). Raises ValueError if a row is longer than width.
out: None, or a C-contiguous writable [rows, width] array of that dtype,
overlapping no input, to write into (returned). mask_out: None, or an array
like out (overlapping neither the inputs nor out) that gets 1 on the copied
cells and 0 on the padding (an attention mask).)doc");
  m.def("scatter_to_dense", &tf_mlm::ScatterToDensePy, py::arg("positions"), py::arg("row_splits"),
        py::arg("values"), py::arg("width"), py::arg("fill"), py::arg("out") = py::none(),
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
}

}  // namespace tf_mlm

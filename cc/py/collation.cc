// The collation bindings of tf_mlm._core: ragged rows to dense arrays,
// sequence lengths and padding, for tf_mlm._batching (MLMCollator and
// tf_mlm.hf).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
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
// of `dtype`, shape [rows, width], and overlap none of `inputs`. Returns it.
py::array CheckedOutput(const py::object& out_h, const py::dtype& dtype, int64_t rows,
                        int64_t width, const std::vector<const py::array*>& inputs,
                        const std::string& name) {
  if (!py::isinstance<py::array>(out_h)) throw py::type_error(name + " must be a NumPy array");
  py::array given = py::reinterpret_borrow<py::array>(out_h);
  if (!given.dtype().equal(dtype)) {
    throw py::type_error(name + " must have dtype " + std::string(py::str(dtype)) + ", got " +
                         std::string(py::str(given.dtype())));
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
  return given;
}

template <typename T>
T* CheckedOut(const py::object& out_h, int64_t rows, int64_t width,
              const std::vector<const py::array*>& inputs, const std::string& name) {
  return static_cast<T*>(
      CheckedOutput(out_h, py::dtype::of<T>(), rows, width, inputs, name).mutable_data());
}

// The optional attention-mask output `mask_h` (None: nullptr): checked as
// CheckedOutput, and against `out_h` too when that is given.
void* CheckedMaskOutput(const py::object& mask_h, const py::dtype& dtype, int64_t rows,
                        int64_t width, std::vector<const py::array*> inputs,
                        const py::object& out_h) {
  if (mask_h.is_none()) return nullptr;
  py::array out_array;
  if (!out_h.is_none()) {
    out_array = py::reinterpret_borrow<py::array>(out_h);  // CheckedOutput checked it is one
    inputs.push_back(&out_array);
  }
  return CheckedOutput(mask_h, dtype, rows, width, inputs, "mask_out").mutable_data();
}

template <typename T>
T* CheckedMaskOut(const py::object& mask_h, int64_t rows, int64_t width,
                  std::vector<const py::array*> inputs, const py::object& out_h) {
  return static_cast<T*>(
      CheckedMaskOutput(mask_h, py::dtype::of<T>(), rows, width, std::move(inputs), out_h));
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

// ---------------------------------------------------------------------------
// Padding: rows of ids (arrays, lists, tensors, dicts of them) into one
// [rows, width] array of any bool / integer / floating dtype, on either side.
// Elements are copied as bit patterns, so one loop per element size serves
// every dtype of that size.

// The bit patterns of fill, 1 and 0 as elements of `dtype` (U of its size);
// ValueError when fill does not fit (NumPy's conversion of a Python int
// decides).
template <typename U>
std::array<U, 3> FillOneZeroBits(const py::module_& numpy, int64_t fill, const py::dtype& dtype) {
  // Integer dtypes: checked here, whatever NumPy's version does with an
  // out-of-range Python int (NumPy 1 wraps it around, NumPy 2 raises).
  const int size_bits = 8 * static_cast<int>(dtype.itemsize());
  const char kind = dtype.kind();
  const int64_t half = size_bits >= 64 ? 0 : int64_t{1} << (size_bits - 1);
  const bool fits = (kind == 'i' && (size_bits >= 64 || (fill >= -half && fill < half))) ||
                    (kind == 'u' && fill >= 0 && (size_bits >= 64 || fill / 2 < half)) ||
                    (kind != 'i' && kind != 'u');
  if (!fits) {
    throw py::value_error("fill " + std::to_string(fill) + " does not fit the dtype " +
                          std::string(py::str(dtype)));
  }
  py::object elements;
  try {
    elements = numpy.attr("array")(py::make_tuple(fill, 1, 0), dtype);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_OverflowError)) throw;
    throw py::value_error("fill " + std::to_string(fill) + " does not fit the dtype " +
                          std::string(py::str(dtype)));
  }
  std::array<U, 3> bits;
  std::memcpy(bits.data(), py::reinterpret_borrow<py::array>(elements).data(), sizeof(bits));
  return bits;
}

// Row b (lengths[b] <= width elements) at the start (right padding) or the
// end (left padding) of row b of the [rows.size(), width] `out`, the rest
// `fill`; `mask`, when non-null, gets `one` on the copied cells, else `zero`.
template <typename U>
void PadRowsOnSide(const std::vector<const void*>& rows, const std::vector<int64_t>& lengths,
                   int64_t width, bool left, U fill, U one, U zero, U* out, U* mask) {
  for (size_t b = 0; b < rows.size(); ++b) {
    const int64_t len = lengths[b];
    const int64_t begin = left ? width - len : 0;
    U* row = out + static_cast<int64_t>(b) * width;
    std::fill(row, row + begin, fill);
    if (len > 0) std::memcpy(row + begin, rows[b], static_cast<size_t>(len) * sizeof(U));
    std::fill(row + begin + len, row + width, fill);
    if (mask == nullptr) continue;
    U* m = mask + static_cast<int64_t>(b) * width;
    std::fill(m, m + begin, zero);
    std::fill(m + begin, m + begin + len, one);
    std::fill(m + begin + len, m + width, zero);
  }
}

bool IsIntegerKind(char kind) { return kind == 'b' || kind == 'i' || kind == 'u'; }

// The rows of a padded batch as pointers to their elements (of the output's
// dtype) and lengths, with what holds those elements: the caller's arrays
// (read in place when they already are C-contiguous and of that dtype),
// NumPy conversions, or buffers of ints read straight from Python lists.
struct PaddingRows {
  std::vector<const void*> data;
  std::vector<int64_t> lengths;
  std::vector<py::array> arrays;
  std::vector<std::vector<char>> buffers;
};

// The items of a list or tuple, when every one is a Python int (bools
// included) within int64, as T in `out`; false otherwise (NumPy then
// converts the row, with its own rules and errors). An int64 outside T's
// range is an OverflowError, as NumPy 2 has it (NumPy 1 would wrap it around).
template <typename T>
bool IntsOfList(const py::handle& seq, std::vector<char>* out) {
  PyObject* const* items = PySequence_Fast_ITEMS(seq.ptr());
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.ptr());
  out->resize(static_cast<size_t>(n) * sizeof(T));
  T* dst = reinterpret_cast<T*>(out->data());
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyLong_Check(items[i])) return false;
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(items[i], &overflow);
    if (overflow != 0) return false;  // beyond int64: NumPy's rules and errors
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      throw std::overflow_error("Python integer " + std::string(py::str(items[i])) +
                                " out of bounds for int" + std::to_string(8 * sizeof(T)));
    }
    dst[i] = static_cast<T>(v);
  }
  return true;
}

// Adds row `b` of the sequences to `rows`, as elements of `dtype`: a dict
// (exactly dict) gives its "input_ids"; Python ints of a list or tuple are
// read directly into int32/int64; anything else is converted by NumPy,
// as numpy.asarray(row, dtype) (integers_only: numpy.asarray(row), which
// must hold bools or integers, then cast), and must be 1-D.
void AddPaddingRow(const py::module_& numpy, const py::handle& ndarray, py::handle row, size_t b,
                   const py::dtype& dtype, bool integers_only, PaddingRows* rows) {
  const auto name = [b] { return "sequences[" + std::to_string(b) + "]"; };
  if (PyDict_CheckExact(row.ptr())) {
    row = PyDict_GetItemString(row.ptr(), "input_ids");  // borrowed; null when missing
    if (!row) throw py::type_error(name() + " is a dict without an 'input_ids' key");
  }
  if (py::type::of(row).is(ndarray)) {
    const py::array a = py::reinterpret_borrow<py::array>(row);
    if (a.ndim() == 1 && (a.flags() & py::array::c_style) && a.dtype().equal(dtype) &&
        (!integers_only || IsIntegerKind(dtype.kind()))) {
      rows->data.push_back(a.data());
      rows->lengths.push_back(static_cast<int64_t>(a.size()));
      rows->arrays.push_back(a);
      return;
    }
  }
  if (PyList_Check(row.ptr()) || PyTuple_Check(row.ptr())) {
    std::vector<char> buffer;
    const bool read = py::dtype::of<int64_t>().equal(dtype)   ? IntsOfList<int64_t>(row, &buffer)
                      : py::dtype::of<int32_t>().equal(dtype) ? IntsOfList<int32_t>(row, &buffer)
                                                              : false;
    if (read) {
      rows->lengths.push_back(static_cast<int64_t>(PySequence_Fast_GET_SIZE(row.ptr())));
      rows->buffers.push_back(std::move(buffer));
      rows->data.push_back(rows->buffers.back().data());
      return;
    }
  }
  py::array a;
  if (integers_only) {
    a = numpy.attr("asarray")(row);
    if (!IsIntegerKind(a.dtype().kind())) {
      throw py::type_error(name() + " must hold integers, got dtype " +
                           std::string(py::str(a.dtype())));
    }
  }
  a = numpy.attr("asarray")(integers_only ? a : py::reinterpret_borrow<py::object>(row), dtype,
                            py::arg("order") = "C");
  if (a.ndim() != 1) {
    throw py::value_error(name() + " must be 1-D, got " + std::to_string(a.ndim()) + " dimensions");
  }
  rows->data.push_back(a.data());
  rows->lengths.push_back(static_cast<int64_t>(a.size()));
  rows->arrays.push_back(std::move(a));
}

template <typename U>
void PadRowsOf(const py::module_& numpy, const PaddingRows& rows, int64_t width, bool left,
               int64_t fill, const py::dtype& dtype, void* out, void* mask) {
  const std::array<U, 3> bits = FillOneZeroBits<U>(numpy, fill, dtype);
  py::gil_scoped_release release;
  PadRowsOnSide<U>(rows.data, rows.lengths, width, left, bits[0], bits[1], bits[2],
                   static_cast<U*>(out), static_cast<U*>(mask));
}

void PadSequencesPy(const py::handle& sequences, int64_t width, int64_t fill,
                    const py::object& out_h, const py::object& mask_h,
                    const std::string& padding_side, bool integers_only) {
  if (!py::isinstance<py::list>(sequences) && !py::isinstance<py::tuple>(sequences)) {
    throw py::type_error("sequences must be a list or tuple of rows, got " +
                         std::string(py::str(py::type::of(sequences).attr("__name__"))));
  }
  if (padding_side != "right" && padding_side != "left") {
    throw py::value_error("padding_side must be 'right' or 'left', got '" + padding_side + "'");
  }
  if (!py::isinstance<py::array>(out_h)) throw py::type_error("out must be a NumPy array");
  const py::dtype dtype = py::reinterpret_borrow<py::array>(out_h).dtype();
  const char kind = dtype.kind();
  const py::ssize_t size = dtype.itemsize();
  if ((!IsIntegerKind(kind) && kind != 'f') || (size != 1 && size != 2 && size != 4 && size != 8) ||
      !dtype.attr("isnative").cast<bool>()) {
    throw py::type_error(
        "out must have a bool, integer or floating dtype in native byte order, got " +
        std::string(py::str(dtype)));
  }
  const py::sequence items = py::reinterpret_borrow<py::sequence>(sequences);
  const int64_t num_rows = static_cast<int64_t>(items.size());
  Check(ValidateDenseShape(num_rows, width, "width"));
  const py::module_ numpy = py::module_::import("numpy");
  const py::object ndarray = numpy.attr("ndarray");
  PaddingRows rows;
  for (size_t b = 0; b < items.size(); ++b) {
    AddPaddingRow(numpy, ndarray, items[b], b, dtype, integers_only, &rows);
  }
  for (int64_t b = 0; b < num_rows; ++b) {
    if (rows.lengths[b] > width) {
      throw py::value_error("row " + std::to_string(b) + " has " + std::to_string(rows.lengths[b]) +
                            " values, more than the width " + std::to_string(width));
    }
  }
  std::vector<const py::array*> inputs;
  for (const py::array& a : rows.arrays) inputs.push_back(&a);
  void* out = CheckedOutput(out_h, dtype, num_rows, width, inputs, "out").mutable_data();
  void* mask = CheckedMaskOutput(mask_h, dtype, num_rows, width, inputs, out_h);
  const bool left = padding_side == "left";
  switch (size) {
    case 1:
      return PadRowsOf<uint8_t>(numpy, rows, width, left, fill, dtype, out, mask);
    case 2:
      return PadRowsOf<uint16_t>(numpy, rows, width, left, fill, dtype, out, mask);
    case 4:
      return PadRowsOf<uint32_t>(numpy, rows, width, left, fill, dtype, out, mask);
    default:
      return PadRowsOf<uint64_t>(numpy, rows, width, left, fill, dtype, out, mask);
  }
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
input pad_sequences pads without converting it. None for anything else, or
no sequences.)doc");
  m.def("pad_sequences", &tf_mlm::PadSequencesPy, py::arg("sequences"), py::arg("width"),
        py::arg("fill"), py::arg("out"), py::arg("mask_out") = py::none(), py::kw_only(),
        py::arg("padding_side") = "right", py::arg("integers_only") = false,
        R"doc(Writes the rows of sequences (a list or tuple, possibly empty) into the rows
of out, a C-contiguous writable [len(sequences), width] NumPy array of a bool,
integer or floating dtype (native byte order), at the start of each row
(padding_side="right") or at its end ("left"), the rest fill (ValueError if
it does not fit out's dtype); mask_out (None or like out) gets 1 on the
copied cells and 0 on the padding (an attention mask).

A row is a 1-D array, list, tuple or tensor, or a dict holding one under
"input_ids"; it is converted to out's dtype as numpy.asarray(row, dtype)
converts it (NumPy arrays of that dtype and lists of Python ints are read
directly). integers_only: a row numpy.asarray reads as anything but bools or
integers is a TypeError (floats are not truncated). Raises ValueError if a
row is not 1-D or longer than width, or the outputs overlap an input or
each other.)doc");
}

}  // namespace tf_mlm

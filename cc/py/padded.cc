// The padded-batch binding of tf_mlm._core: mask_padded_batch, masking a
// [rows, width] batch in place with per-position special tokens and whole
// words from offsets (cc/core/padded_batch.h), for tf_mlm.hf.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/padded_batch.h"
#include "cc/py/arrays.h"
#include "cc/py/bindings.h"

namespace tf_mlm {
namespace {

// `h` as a C-contiguous array of `ndim` dimensions whose leading two are
// [rows, width]; TypeError / ValueError naming it otherwise.
py::array BatchShaped(const py::handle& h, const std::string& name, int ndim, int64_t rows,
                      int64_t width) {
  if (!py::isinstance<py::array>(h)) throw py::type_error(name + " must be a numpy.ndarray");
  py::array a = py::array::ensure(h, py::array::c_style);
  if (a.ndim() != ndim || a.shape(0) != rows || a.shape(1) != width ||
      (ndim == 3 && a.shape(2) != 2)) {
    throw py::value_error(name + " must have shape (" + std::to_string(rows) + ", " +
                          std::to_string(width) + (ndim == 3 ? ", 2)" : ")"));
  }
  return a;
}

// `special` and `offsets` may be null (not given).
template <typename T, typename O>
py::tuple RunPadded(py::array& input_ids, const py::array* special, const IdSet& special_ids,
                    const py::array* offsets, const SelectionOptions& selection,
                    const ValueOptions& value_opts, const Seed& seed, int64_t pad_to,
                    int num_threads, int64_t label_fill) {
  PaddedBatch<T, O> batch;
  batch.values = static_cast<T*>(input_ids.mutable_data());
  batch.rows = input_ids.shape(0);
  batch.width = input_ids.shape(1);
  batch.special = special ? static_cast<const uint8_t*>(special->data()) : nullptr;
  batch.special_ids = &special_ids;
  batch.offsets = offsets ? static_cast<const O*>(offsets->data()) : nullptr;
  if (label_fill < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      label_fill > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    throw py::value_error("label_fill does not fit the dtype of input_ids");
  }
  Check(ValidateDenseShape(batch.rows, batch.width, "width"));
  py::array_t<T> labels({batch.rows, batch.width});
  py::object positions = py::none(), ids = py::none(), weights = py::none();
  DenseMasked<T> dense;
  if (pad_to >= 0) {
    Check(ValidateDenseShape(batch.rows, pad_to, "pad_to"));
    py::array_t<int64_t> p({batch.rows, pad_to});
    py::array_t<T> i({batch.rows, pad_to});
    py::array_t<float> w({batch.rows, pad_to});
    dense = DenseMasked<T>{pad_to, p.mutable_data(), i.mutable_data(), w.mutable_data()};
    positions = p;
    ids = i;
    weights = w;
  }
  T* const out = labels.mutable_data();
  Status status;
  {
    py::gil_scoped_release release;
    status = MaskPaddedBatch(batch, selection, value_opts, seed, ThreadFor(num_threads), out,
                             static_cast<T>(label_fill), pad_to >= 0 ? &dense : nullptr);
  }
  Check(status);
  return py::make_tuple(labels, positions, ids, weights);
}

py::tuple MaskPaddedBatchPy(const py::handle& input_ids_h, const py::object& special_h,
                            const py::handle& unselectable_ids, const py::object& offsets_h,
                            int64_t max_selections, double selection_rate, int64_t vocab_size,
                            int64_t mask_token, double mask_token_rate, double random_token_rate,
                            const py::tuple& seed, const std::string& selection_mode,
                            int64_t pad_to, int num_threads, int64_t label_fill,
                            const py::object& excluded_ids, const py::object& alias_prob,
                            const py::object& alias_index) {
  if (!py::isinstance<py::array>(input_ids_h)) {
    throw py::type_error("input_ids must be a numpy.ndarray");
  }
  py::array input_ids = py::reinterpret_borrow<py::array>(input_ids_h);
  if (input_ids.ndim() != 2) throw py::value_error("input_ids must be 2-D");
  if (!(input_ids.flags() & py::array::c_style) || !input_ids.writeable()) {
    throw py::value_error("input_ids must be C-contiguous and writeable");
  }
  const IntType t = IntDtype(input_ids, "input_ids");
  const int64_t rows = input_ids.shape(0), width = input_ids.shape(1);
  py::array special, offsets;
  if (!special_h.is_none()) {
    special = BatchShaped(special_h, "special_tokens_mask", 2, rows, width);
    if (!py::dtype::of<uint8_t>().equal(special.dtype()) &&
        !py::dtype::of<bool>().equal(special.dtype())) {
      throw py::type_error("special_tokens_mask must have dtype bool or uint8");
    }
  }
  IntType o = IntType::kInt64;
  if (!offsets_h.is_none()) {
    offsets = BatchShaped(offsets_h, "offset_mapping", 3, rows, width);
    o = IntDtype(offsets, "offset_mapping");
  }
  const IdSet special_ids = ParseIdSet(unselectable_ids, "unselectable_ids");
  SelectionOptions selection;
  selection.max_selections = max_selections;
  selection.selection_rate = static_cast<float>(selection_rate);
  selection.mode = ParseMode(selection_mode);
  selection.cap_name = "max_selections";
  if (pad_to < -1) throw py::value_error("pad_to must be >= 0 (or -1 for no dense outputs)");
  ReplacementTables replacement;
  ParseReplacement(excluded_ids, alias_prob, alias_index, &replacement);
  const ValueOptions value_opts =
      ParseValueOptions(vocab_size, mask_token, mask_token_rate, random_token_rate, replacement);
  const Seed s = ParseSeed(seed);
  return WithIntType(t, [&](auto tt) {
    using T = decltype(tt);
    return WithIntType(o, [&](auto oo) {
      using O = decltype(oo);
      return RunPadded<T, O>(input_ids, special_h.is_none() ? nullptr : &special, special_ids,
                             offsets_h.is_none() ? nullptr : &offsets, selection, value_opts, s,
                             pad_to, num_threads, label_fill);
    });
  });
}

}  // namespace

void BindPadded(py::module_& m) {
  m.def("mask_padded_batch", &tf_mlm::MaskPaddedBatchPy, py::arg("input_ids"),
        py::arg("special_tokens_mask"), py::arg("unselectable_ids"), py::arg("offset_mapping"),
        py::arg("max_selections"), py::arg("selection_rate"), py::arg("vocab_size"),
        py::arg("mask_token"), py::arg("mask_token_rate"), py::arg("random_token_rate"),
        py::arg("seed"), py::arg("selection_mode") = "bernoulli", py::arg("pad_to") = -1,
        py::arg("num_threads") = 0, py::arg("label_fill") = -100,
        py::arg("excluded_ids") = py::none(), py::arg("alias_prob") = py::none(),
        py::arg("alias_index") = py::none(),
        R"doc(Masks a padded batch in place (HuggingFace's collator layout).

input_ids: C-contiguous writeable [rows, width] int32/int64, masked in
place. special_tokens_mask: None or bool/uint8 [rows, width], nonzero for
tokens never selected; unselectable_ids: 1-D ids also never selected.
offset_mapping: None (items are tokens) or int32/int64 [rows, width, 2]
character (start, end) per token: whole words, a token continuing the
previous one when it starts where that one ends (neither being special).
Other arguments as mask_language_model; selection counts items (words).
Returns (labels [rows, width]: the original id at masked tokens, label_fill
elsewhere; then, with pad_to >= 0, int64 positions, ids and float32
weights [rows, pad_to] of each row's first pad_to masked tokens, else
None, None, None).)doc");
}

}  // namespace tf_mlm

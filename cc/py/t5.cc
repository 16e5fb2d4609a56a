// The span-corruption bindings of tf_mlm._core: span_corruption,
// noise_spans_to_sentinels and stateless_split (cc/core/span_corruption.h,
// cc/core/tf_random.h), T5's objective for NumPy data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/span_corruption.h"
#include "cc/core/tf_random.h"
#include "cc/py/arrays.h"
#include "cc/py/bindings.h"

namespace tf_mlm {
namespace {

// `h` as a C-contiguous int64 array of shape `shape` (-1: any size).
py::array Int64Shaped(const py::handle& h, const std::string& name, std::vector<int64_t> shape) {
  if (!py::isinstance<py::array>(h)) throw py::type_error(name + " must be a numpy.ndarray");
  py::array a = py::array::ensure(h, py::array::c_style);
  if (!py::dtype::of<int64_t>().equal(a.dtype())) {
    throw py::type_error(name + " must have dtype int64, got " + std::string(py::str(a.dtype())));
  }
  bool ok = a.ndim() == static_cast<int>(shape.size());
  for (size_t d = 0; ok && d < shape.size(); ++d) {
    ok = shape[d] < 0 || a.shape(d) == shape[d];
  }
  if (!ok) {
    std::string want = "(";
    for (size_t d = 0; d < shape.size(); ++d) {
      want += (d ? ", " : "") + (shape[d] < 0 ? std::string("n") : std::to_string(shape[d]));
    }
    throw py::value_error(name + " must have shape " + want + (shape.size() == 1 ? ",)" : ")"));
  }
  return a;
}

template <typename T, typename S>
py::dict SentinelsTyped(const py::array& values, const py::array& splits, const uint8_t* mask,
                        int64_t first_sentinel, int num_threads, const NoiseOptions* noise,
                        const NoiseSeeds* seeds, py::array_t<bool>* mask_out) {
  std::vector<S> splits_copy;
  const Span<S> split_span = CheckedSplits<S>(splits, values.size(), &splits_copy);
  const int64_t rows = split_span.size - 1;
  py::array_t<T> inputs, targets;
  py::array_t<S> inputs_splits({rows + 1}), targets_splits({rows + 1});
  const AllocateSentinelOutputs<T, S> allocate = [&](int64_t num_in, int64_t num_out,
                                                     SentinelOutputs<T, S>* out) {
    py::gil_scoped_acquire gil;
    inputs = py::array_t<T>({num_in});
    targets = py::array_t<T>({num_out});
    *out = SentinelOutputs<T, S>{inputs.mutable_data(), inputs_splits.mutable_data(),
                                 targets.mutable_data(), targets_splits.mutable_data()};
    return Status::Ok();
  };
  Status s;
  {
    py::gil_scoped_release release;
    if (noise != nullptr) {
      s = SpanCorruption<T, S>(AsSpan<T>(values), split_span, seeds, *noise, first_sentinel,
                               reinterpret_cast<uint8_t*>(mask_out->mutable_data()), allocate,
                               ThreadFor(num_threads));
    } else {
      s = NoiseSpansToSentinels<T, S>(AsSpan<T>(values), split_span, mask, first_sentinel, allocate,
                                      ThreadFor(num_threads));
    }
  }
  Check(s);
  py::dict out;
  if (mask_out != nullptr) out["noise_mask"] = *mask_out;
  out["inputs"] = inputs;
  out["inputs_row_splits"] = inputs_splits;
  out["targets"] = targets;
  out["targets_row_splits"] = targets_splits;
  return out;
}

py::dict Dispatch(const py::array& values, const py::array& splits, const uint8_t* mask,
                  int64_t first_sentinel, int num_threads, const NoiseOptions* noise,
                  const NoiseSeeds* seeds, py::array_t<bool>* mask_out) {
  return WithIntType(IntDtype(values, "values"), [&](auto t) -> py::dict {
    return WithIntType(IntDtype(splits, "row_splits"), [&](auto s) -> py::dict {
      return SentinelsTyped<decltype(t), decltype(s)>(values, splits, mask, first_sentinel,
                                                      num_threads, noise, seeds, mask_out);
    });
  });
}

py::dict SpanCorruptionPy(const py::handle& values_h, const py::handle& splits_h,
                          const py::handle& seeds_h, double noise_density,
                          double mean_noise_span_length, bool random_roll, int64_t first_sentinel,
                          int num_threads) {
  const py::array values = Vector1D(values_h, "values");
  const py::array splits = Vector1D(splits_h, "row_splits");
  const int64_t rows = splits.size() - 1;
  const py::array seeds = Int64Shaped(seeds_h, "seeds", {std::max<int64_t>(rows, 0), 2, 2});
  std::vector<NoiseSeeds> row_seeds(static_cast<size_t>(std::max<int64_t>(rows, 0)));
  const int64_t* s = static_cast<const int64_t*>(seeds.data());
  for (int64_t r = 0; r < rows; ++r) {
    row_seeds[r] = NoiseSeeds{{s[4 * r], s[4 * r + 1]}, {s[4 * r + 2], s[4 * r + 3]}};
  }
  // float32, as the TF op's inputs (and t5's arithmetic).
  const NoiseOptions o{static_cast<float>(noise_density),
                       static_cast<float>(mean_noise_span_length), random_roll};
  py::array_t<bool> mask({static_cast<int64_t>(values.size())});
  return Dispatch(values, splits, nullptr, first_sentinel, num_threads, &o, row_seeds.data(),
                  &mask);
}

py::dict NoiseSpansToSentinelsPy(const py::handle& values_h, const py::handle& splits_h,
                                 const py::handle& mask_h, int64_t first_sentinel,
                                 int num_threads) {
  const py::array values = Vector1D(values_h, "values");
  const py::array splits = Vector1D(splits_h, "row_splits");
  const py::array mask = Vector1D(mask_h, "noise_mask");
  if (!py::dtype::of<bool>().equal(mask.dtype())) {
    throw py::type_error("noise_mask must have dtype bool, got " +
                         std::string(py::str(mask.dtype())));
  }
  if (mask.size() != values.size()) {
    throw py::value_error(
        "noise_mask must have one flag per value: " + std::to_string(mask.size()) + " flags, " +
        std::to_string(values.size()) + " values");
  }
  // Copied: the flags must hold while the core runs without the GIL.
  const uint8_t* m = static_cast<const uint8_t*>(mask.data());
  const std::vector<uint8_t> flags(m, m + mask.size());
  return Dispatch(values, splits, flags.data(), first_sentinel, num_threads, nullptr, nullptr,
                  nullptr);
}

py::array_t<int64_t> StatelessSplitPy(const py::handle& seeds_h, int64_t num) {
  const py::array seeds = Int64Shaped(seeds_h, "seeds", {-1, 2});
  if (num < 0 || num > kMaxSplit) {
    throw py::value_error("num must be in [0, 2**24], got " + std::to_string(num));
  }
  const int64_t rows = seeds.shape(0);
  Check(ValidateDenseShape(rows, 2 * num, "2 * num"));
  py::array_t<int64_t> out({rows, num, int64_t{2}});
  const int64_t* s = static_cast<const int64_t*>(seeds.data());
  int64_t* o = out.mutable_data();
  for (int64_t r = 0; r < rows; ++r) TfStatelessSplit(s[2 * r], s[2 * r + 1], num, o + 2 * num * r);
  return out;
}

}  // namespace

void BindT5(py::module_& m) {
  m.def("span_corruption", &tf_mlm::SpanCorruptionPy, py::arg("values"), py::arg("row_splits"),
        py::arg("seeds"), py::arg("noise_density"), py::arg("mean_noise_span_length"),
        py::arg("random_roll"), py::arg("first_sentinel"), py::arg("num_threads") = 0,
        R"doc(T5's span corruption of each row of a ragged batch, as t5.data.preprocessors
computes it for the same seeds. values: 1-D int32/int64; row_splits: 1-D
int32/int64; seeds: int64 (rows, 2, 2), per row the two seeds of
random_spans_noise_mask. Returns a dict: noise_mask (bool, like values),
inputs and inputs_row_splits (noise spans -> sentinels), targets and
targets_row_splits (non-noise spans -> sentinels); the k-th span of a row
becomes first_sentinel - k.)doc");
  m.def("noise_spans_to_sentinels", &tf_mlm::NoiseSpansToSentinelsPy, py::arg("values"),
        py::arg("row_splits"), py::arg("noise_mask"), py::arg("first_sentinel"),
        py::arg("num_threads") = 0,
        R"doc(The inputs and targets of span corruption for a given noise mask (bool, one
flag per value). Returns a dict: inputs, inputs_row_splits, targets,
targets_row_splits.)doc");
  m.def("stateless_split", &tf_mlm::StatelessSplitPy, py::arg("seeds"), py::arg("num"),
        R"doc(tf.random.experimental.stateless_split(seed, num) of each int64 seed of
seeds (n, 2): an int64 array (n, num, 2).)doc");
}

}  // namespace tf_mlm

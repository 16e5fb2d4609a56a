// The masking bindings of tf_mlm._core: the fused and span passes, whole-word
// grouping, alias tables and option checks, each a thin call of cc/core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cc/core/masking.h"
#include "cc/core/replacement.h"
#include "cc/core/words.h"
#include "cc/py/arrays.h"
#include "cc/py/bindings.h"

namespace tf_mlm {
namespace {

// The core's checks of the selection and value options alone, for callers
// that validate arguments before any data arrives (the Keras layer).
void ValidateOptionsPy(double selection_rate, int64_t max_selections, int64_t vocab_size,
                       int64_t mask_token, double mask_token_rate, double random_token_rate) {
  SelectionOptions selection;
  selection.selection_rate = static_cast<float>(selection_rate);
  selection.max_selections = max_selections;
  selection.cap_name = "max_selections";
  Check(ValidateSelectionOptions(selection));
  ValueOptions values;
  values.vocab_size = vocab_size;
  values.mask_token = mask_token;
  values.mask_token_rate = static_cast<float>(mask_token_rate);
  values.random_token_rate = static_cast<float>(random_token_rate);
  Check(ValidateValueOptions(values));
}

// ---------------------------------------------------------------------------
// mask_language_model

struct MaskArgs {
  py::array values;
  std::vector<py::array> splits;
  IdSet unselectable;
  SelectionOptions selection;
  ValueOptions value_opts;  // its replacement view is made from `replacement` when used
  ReplacementTables replacement;
  Seed seed;
  int axis = 1;
  int64_t pad_to = -1;
  int num_threads = 0;
  py::object out_values;  // None, or a C-contiguous writeable array for masked_values
  bool spans = false;     // span masking (span_opts, with `selection` as its budget)
  SpanOptions span_opts;
};

// Fills args->value_opts and args->replacement (the core validates them);
// value_opts keeps no view into the tables (ValueOptionsOf).
template <typename Args>
void ParseValueArgs(int64_t vocab_size, int64_t mask_token, double mask_token_rate,
                    double random_token_rate, const py::object& excluded_ids,
                    const py::object& alias_prob, const py::object& alias_index, Args* args) {
  ParseReplacement(excluded_ids, alias_prob, alias_index, &args->replacement);
  args->value_opts = ParseValueOptions(vocab_size, mask_token, mask_token_rate, random_token_rate,
                                       args->replacement);
  args->value_opts.replacement = ReplacementOptions{};
}

// The value options with their replacement view, into the args' tables.
template <typename Args>
ValueOptions ValueOptionsOf(const Args& args) {
  ValueOptions o = args.value_opts;
  o.replacement = args.replacement.View();
  return o;
}

template <typename T, typename S>
py::tuple RunMask(const MaskArgs& args) {
  OwnedSplits<S> splits;
  CopySplits(args.splits, &splits);
  const Span<T> values = AsSpan<T>(args.values);
  Check(ValidateNestedSplits(splits.view, values.size, "row_splits"));
  const int64_t rows = splits.view.num_rows();
  if (args.pad_to >= 0) Check(ValidateDenseShape(rows, args.pad_to, "pad_to"));

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
    if (args.spans) {
      SpanOptions spans = args.span_opts;
      spans.budget = args.selection;
      status = MaskSpans<T, S>(values, splits.view, args.axis, args.unselectable, spans,
                               ValueOptionsOf(args), args.seed, allocate,
                               ThreadFor(args.num_threads), args.pad_to);
    } else {
      status = MaskLanguageModel<T, S>(
          values, splits.view, args.axis, args.unselectable, args.selection, ValueOptionsOf(args),
          args.seed, allocate, ThreadFor(args.num_threads), args.pad_to, DenseFit::kCapSelection);
    }
  }
  Check(status);
  return py::make_tuple(masked_values, positions,
                        dense ? py::object(py::none()) : py::object(position_splits), masked_ids,
                        dense ? py::object(weights) : py::object(py::none()));
}

// out_values as given (None, or an array that receives masked_values),
// checked against `values`.
py::object CheckedOutValues(const py::object& out_values, const py::array& values) {
  if (out_values.is_none()) return py::none();
  if (!py::isinstance<py::array>(out_values)) {
    throw py::type_error("out_values must be None or a numpy.ndarray");
  }
  const py::array out = py::reinterpret_borrow<py::array>(out_values);
  if (!out.dtype().equal(values.dtype())) {
    throw py::type_error("out_values must have the dtype of values");
  }
  if (out.ndim() != 1 || out.size() != values.size()) {
    throw py::value_error("out_values must be 1-D with as many elements as values (" +
                          std::to_string(values.size()) + ")");
  }
  if (!(out.flags() & py::array::c_style) || !out.writeable()) {
    throw py::value_error("out_values must be C-contiguous and writeable");
  }
  // It may be `values` itself (the core reads each value before writing
  // it), but not overlap it otherwise.
  const char* a = static_cast<const char*>(values.data());
  const char* b = static_cast<const char*>(out.data());
  const py::ssize_t bytes = values.nbytes();
  if (a != b && a < b + bytes && b < a + bytes) {
    throw py::value_error("out_values overlaps values without being the same array");
  }
  return out_values;
}

// Dispatches on the ids' and splits' integer types.
py::tuple RunMaskTyped(const MaskArgs& args, IntType t, IntType s) {
  if (t == IntType::kInt32) {
    return s == IntType::kInt32 ? RunMask<int32_t, int32_t>(args) : RunMask<int32_t, int64_t>(args);
  }
  return s == IntType::kInt32 ? RunMask<int64_t, int32_t>(args) : RunMask<int64_t, int64_t>(args);
}

// The data arguments both bindings take: ids, nested splits, unselectable
// ids. Returns the ids' and the splits' integer types.
std::pair<IntType, IntType> ParseData(const py::handle& values, const py::handle& row_splits,
                                      const py::handle& unselectable_ids, MaskArgs* args) {
  args->values = Vector1D(values, "values");
  const IntType t = IntDtype(args->values, "values");
  const IntType s = ParseSplitsList(row_splits, &args->splits);
  args->unselectable = ParseIdSet(unselectable_ids, "unselectable_ids");
  return {t, s};
}

// The run arguments both bindings take: seed, axis, dense length, threads.
void ParseRun(const py::tuple& seed, int axis, int64_t pad_to, int num_threads, MaskArgs* args) {
  args->seed = ParseSeed(seed);
  args->axis = axis;
  if (pad_to < -1) throw py::value_error("pad_to must be >= 0 (or -1 for ragged outputs)");
  args->pad_to = pad_to;
  args->num_threads = num_threads;
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
  const auto [t, s] = ParseData(values, row_splits, unselectable_ids, &args);
  args.selection.max_selections = max_selections;
  args.selection.selection_rate = static_cast<float>(selection_rate);
  args.selection.mode = ParseMode(selection_mode);
  args.selection.cap_name = "max_selections";
  ParseValueArgs(vocab_size, mask_token, mask_token_rate, random_token_rate, excluded_ids,
                 alias_prob, alias_index, &args);
  ParseRun(seed, axis, pad_to, num_threads, &args);
  args.out_values = CheckedOutValues(out_values, args.values);
  return RunMaskTyped(args, t, s);
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

template <typename T>
py::array_t<T> ToArray(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

// replacement_tables: ids of any shape (int32/int64) and weights of any
// shape (numbers, as float32), flattened; the core normalises and checks.
py::tuple ReplacementTablesPy(int64_t vocab_size, const py::object& excluded_ids,
                              const py::object& frequencies) {
  using Ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
  using Weights = py::array_t<float, py::array::c_style | py::array::forcecast>;
  Ids ids = excluded_ids.is_none() ? Ids(0) : Ids::ensure(excluded_ids);
  if (!ids) throw py::type_error("excluded_ids must be an integer array");
  Weights weights;
  Span<float> weight_span;
  if (!frequencies.is_none()) {
    weights = Weights::ensure(frequencies);
    if (!weights) throw py::type_error("replacement_frequencies must be numbers");
    weight_span = Span<float>{weights.data(), static_cast<int64_t>(weights.size())};
  }
  ReplacementTables t;
  Check(BuildReplacementTables(
      vocab_size, Span<int64_t>{ids.data(), static_cast<int64_t>(ids.size())},
      frequencies.is_none() ? nullptr : &weight_span, SizeChecks::kNow, &t));
  if (frequencies.is_none()) return py::make_tuple(ToArray(t.excluded), py::none(), py::none());
  return py::make_tuple(ToArray(t.excluded), ToArray(t.alias_prob), ToArray(t.alias_index));
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
  Check(GroupWords<T, S>(AsSpan<T>(values), row_splits, AsSpan<uint8_t>(table),
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

py::tuple MaskSpansPy(const py::handle& values, const py::handle& row_splits,
                      const py::handle& unselectable_ids, int64_t max_selections,
                      double selection_rate, double p, int64_t max_span_length, int64_t vocab_size,
                      int64_t mask_token, double mask_token_rate, double random_token_rate,
                      const py::tuple& seed, int axis, int64_t pad_to, int num_threads,
                      const py::object& excluded_ids, const py::object& alias_prob,
                      const py::object& alias_index) {
  MaskArgs args;
  const auto [t, s] = ParseData(values, row_splits, unselectable_ids, &args);
  args.spans = true;
  args.selection.max_selections = max_selections;
  args.selection.selection_rate = static_cast<float>(selection_rate);
  args.selection.cap_name = "max_selections";
  // float32, as the TF op's `p` input: the same span lengths bit for bit.
  args.span_opts.p = static_cast<float>(p);
  args.span_opts.max_length = max_span_length;
  ParseValueArgs(vocab_size, mask_token, mask_token_rate, random_token_rate, excluded_ids,
                 alias_prob, alias_index, &args);
  ParseRun(seed, axis, pad_to, num_threads, &args);
  args.out_values = py::none();
  return RunMaskTyped(args, t, s);
}

}  // namespace

void BindMasking(py::module_& m) {
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
  m.def("validate_options", &tf_mlm::ValidateOptionsPy, py::arg("selection_rate"),
        py::arg("max_selections"), py::arg("vocab_size"), py::arg("mask_token"),
        py::arg("mask_token_rate"), py::arg("random_token_rate"),
        R"doc(The core's checks of the masking options (rates, cap, vocabulary), without
data: raises ValueError with the core's message.)doc");
  m.def("build_alias_table", &tf_mlm::BuildAliasTablePy, py::arg("weights"),
        R"doc(Walker/Vose alias tables of 1-D float32/float64 weights (finite, >= 0,
positive sum): (prob float32, alias int64), for drawing i with probability
weights[i] / sum(weights) in O(1).)doc");
  m.def("replacement_tables", &tf_mlm::ReplacementTablesPy, py::arg("vocab_size"),
        py::arg("excluded_ids") = py::none(), py::arg("replacement_frequencies") = py::none(),
        R"doc(The replacement law, normalised (as tf_mlm.replacement_tables): excluded_ids
(int32/int64, any shape) filtered to [0, vocab_size), sorted and unique;
with replacement_frequencies (vocab_size numbers, as float32) the excluded
ids weighted 0 and Walker/Vose alias tables built. Returns (excluded_ids
int64, alias_prob float32 or None, alias_index int64 or None; excluded_ids
then empty). Raises ValueError naming the arguments.)doc");
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
        py::arg("axis") = 1, py::arg("pad_to") = -1, py::arg("num_threads") = 0,
        py::arg("excluded_ids") = py::none(), py::arg("alias_prob") = py::none(),
        py::arg("alias_index") = py::none(),
        R"doc(SpanBERT span masking by the core's span pass: the same masks as
tf_mlm.mask_language_model with a SpanItemSelector and a MaskValuesChooser
for the same seed. Arguments as mask_language_model, plus p (geometric
parameter, in (0, 1], used as float32) and max_span_length (>= 1); the
budget max_selections / selection_rate counts tokens, and with pad_to >= 0
it is at most pad_to (no span is cut).

Returns (masked_values, positions, position_splits or None, masked_ids,
weights or None), as mask_language_model.)doc");
}

}  // namespace tf_mlm

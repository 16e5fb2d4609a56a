// Registrations of tf_mlm's TensorFlow ops, with their shape functions.
// Every op is a pure function of its inputs (randomness comes in as an
// explicit `seed` input; the Python layer draws it from TensorFlow's stateful
// RNG when the user asks for stateful behaviour), so none is marked stateful.
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tf_mlm {
namespace {

using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

absl::Status RequireVector(InferenceContext* c, int input) {
  ShapeHandle unused;
  return c->WithRank(c->input(input), 1, &unused);
}

absl::Status RequireScalar(InferenceContext* c, int input) {
  ShapeHandle unused;
  return c->WithRank(c->input(input), 0, &unused);
}

absl::Status RequireSeed(InferenceContext* c, int input) {
  ShapeHandle seed;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(input), 1, &seed));
  DimensionHandle unused;
  return c->WithValue(c->Dim(seed, 0), 2, &unused);
}

// Inputs 0 (values) and 1..ragged_rank (row_splits) of a ragged tensor.
absl::Status CheckRagged(InferenceContext* c, int* ragged_rank) {
  TF_RETURN_IF_ERROR(c->GetAttr("RAGGED_RANK", ragged_rank));
  for (int i = 0; i <= *ragged_rank; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
  return absl::OkStatus();
}

// Rows of the outermost row_splits (input 1), i.e. its length minus one.
ShapeHandle RowSplitsShape(InferenceContext* c) { return c->Vector(c->Dim(c->input(1), 0)); }

}  // namespace

// Inputs and attrs shared by the fused ops (ragged and dense outputs, item
// selection and spans), spliced into REGISTER_OP's builder chain.
#define TF_MLM_MASK_INPUTS                        \
  .Input("values: T")                             \
      .Input("row_splits: RAGGED_RANK * Tsplits") \
      .Input("unselectable_ids: T")               \
      .Input("max_selections_per_row: int64")     \
      .Input("selection_rate: float")             \
      .Input("vocab_size: int64")                 \
      .Input("mask_token: int64")                 \
      .Input("mask_token_rate: float")            \
      .Input("random_token_rate: float")          \
      .Input("seed: int64")                       \
      .Input("excluded_ids: int64")               \
      .Input("alias_prob: float")                 \
      .Input("alias_index: int64")                \
      .Attr("axis: int = 1")                      \
      .Attr("T: {int32, int64}")                  \
      .Attr("Tsplits: {int32, int64} = DT_INT64") \
      .Attr("RAGGED_RANK: int >= 1")

// The item-selection ops' own attr, and the span ops' own inputs (after the
// shared ones: input indices rank + 12 and rank + 13).
#define TF_MLM_FUSED_INPUTS \
  TF_MLM_MASK_INPUTS.Attr("selection_mode: {'exact', 'bernoulli'} = 'exact'")
#define TF_MLM_SPAN_INPUTS TF_MLM_MASK_INPUTS.Input("p: float").Input("max_span_length: int64")

// The outputs of the ragged and of the dense variants.
#define TF_MLM_RAGGED_OUTPUTS                         \
  .Output("masked_values: T")                         \
      .Output("masked_positions: Tsplits")            \
      .Output("masked_positions_row_splits: Tsplits") \
      .Output("masked_ids: T")
#define TF_MLM_DENSE_OUTPUTS               \
  .Output("masked_values: T")              \
      .Output("masked_positions: Tsplits") \
      .Output("masked_ids: T")             \
      .Output("masked_weights: float")     \
      .Attr("output_length: int >= 0")

namespace {

absl::Status CheckFusedInputs(InferenceContext* c, int* rank) {
  TF_RETURN_IF_ERROR(CheckRagged(c, rank));
  TF_RETURN_IF_ERROR(RequireVector(c, *rank + 1));
  for (int i = *rank + 2; i < *rank + 8; ++i) TF_RETURN_IF_ERROR(RequireScalar(c, i));
  TF_RETURN_IF_ERROR(RequireSeed(c, *rank + 8));
  for (int i = *rank + 9; i < *rank + 12; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
  return absl::OkStatus();
}

// Outputs of the dense variants: masked values like the input values,
// positions / ids / weights [rows, output_length].
absl::Status DenseOutputs(InferenceContext* c) {
  int length;
  TF_RETURN_IF_ERROR(c->GetAttr("output_length", &length));
  DimensionHandle rows;
  TF_RETURN_IF_ERROR(c->Subtract(c->Dim(c->input(1), 0), 1, &rows));
  const ShapeHandle dense = c->Matrix(rows, length);
  c->set_output(0, c->input(0));
  for (int i = 1; i < 4; ++i) c->set_output(i, dense);
  return absl::OkStatus();
}

// Outputs of the ragged variants: masked values like the input values,
// positions and ids [(masked)], their row splits [rows + 1].
void RaggedOutputs(InferenceContext* c) {
  c->set_output(0, c->input(0));
  c->set_output(1, c->Vector(InferenceContext::kUnknownDim));
  c->set_output(2, RowSplitsShape(c));
  c->set_output(3, c->Vector(InferenceContext::kUnknownDim));
}

// The shape function of the four fused ops: item selection or spans
// (kSpans: two more scalar inputs), ragged or dense outputs.
template <bool kSpans, bool kDense>
absl::Status FusedShape(InferenceContext* c) {
  int rank;
  TF_RETURN_IF_ERROR(CheckFusedInputs(c, &rank));
  if (kSpans) {
    TF_RETURN_IF_ERROR(RequireScalar(c, rank + 12));
    TF_RETURN_IF_ERROR(RequireScalar(c, rank + 13));
  }
  if (kDense) return DenseOutputs(c);
  RaggedOutputs(c);
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("TFMLM>MaskLanguageModel")
TF_MLM_FUSED_INPUTS TF_MLM_RAGGED_OUTPUTS.SetShapeFn(FusedShape<false, false>).Doc(R"doc(
Fused BERT masking of a ragged batch: selects items per row, records the
positions and original ids of their tokens and writes the new values.
)doc");

REGISTER_OP("TFMLM>MaskLanguageModelDense")
TF_MLM_FUSED_INPUTS TF_MLM_DENSE_OUTPUTS.SetShapeFn(FusedShape<false, true>).Doc(R"doc(
The fused masking pass with dense outputs: positions, ids and weights of the
masked tokens padded (0, 0, 0.0) to [batch, output_length] in the kernel.
At most output_length tokens per row are masked.
)doc");

REGISTER_OP("TFMLM>MaskSpans")
TF_MLM_SPAN_INPUTS TF_MLM_RAGGED_OUTPUTS.SetShapeFn(FusedShape<true, false>).Doc(R"doc(
SpanBERT span masking of a ragged batch in one kernel: spans of the items at
level `axis` (geometric lengths with parameter p, clipped to max_span_length)
until each row's token budget is spent, then the values of their tokens.
)doc");

REGISTER_OP("TFMLM>MaskSpansDense")
TF_MLM_SPAN_INPUTS TF_MLM_DENSE_OUTPUTS.SetShapeFn(FusedShape<true, true>).Doc(R"doc(
Span masking with dense outputs [batch, output_length] (padding 0, 0, 0.0);
the token budget is at most output_length, so no span is cut.
)doc");

REGISTER_OP("TFMLM>Selectable")
    .Input("values: T")
    .Input("row_splits: RAGGED_RANK * Tsplits")
    .Input("unselectable_ids: T")
    .Output("selectable: bool")
    .Attr("axis: int = 1")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      int rank;
      TF_RETURN_IF_ERROR(CheckRagged(c, &rank));
      TF_RETURN_IF_ERROR(RequireVector(c, rank + 1));
      int axis;
      TF_RETURN_IF_ERROR(c->GetAttr("axis", &axis));
      if (axis == rank) {
        c->set_output(0, c->input(0));
      } else if (axis >= 1 && axis < rank) {
        DimensionHandle n;
        TF_RETURN_IF_ERROR(c->Subtract(c->Dim(c->input(1 + axis), 0), 1, &n));
        c->set_output(0, c->Vector(n));
      } else {
        c->set_output(0, c->Vector(InferenceContext::kUnknownDim));
      }
      return absl::OkStatus();
    })
    .Doc("Per item: true iff none of its tokens is in unselectable_ids.");

REGISTER_OP("TFMLM>SelectItems")
    .Input("selectable: bool")
    .Input("row_splits: Tsplits")
    .Input("max_selections_per_row: int64")
    .Input("selection_rate: float")
    .Input("seed: int64")
    .Output("selected: bool")
    .Attr("selection_mode: {'exact', 'bernoulli'} = 'exact'")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(RequireVector(c, 0));
      TF_RETURN_IF_ERROR(RequireVector(c, 1));
      TF_RETURN_IF_ERROR(RequireScalar(c, 2));
      TF_RETURN_IF_ERROR(RequireScalar(c, 3));
      TF_RETURN_IF_ERROR(RequireSeed(c, 4));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("Random selection among the selectable items of each row.");

REGISTER_OP("TFMLM>SelectFirstN")
    .Input("selectable: bool")
    .Input("row_splits: Tsplits")
    .Input("num_to_select: int64")
    .Output("selected: bool")
    .Attr("reverse: bool = false")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(RequireVector(c, 0));
      TF_RETURN_IF_ERROR(RequireVector(c, 1));
      ShapeHandle unused;
      TF_RETURN_IF_ERROR(c->WithRankAtMost(c->input(2), 1, &unused));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc(
        "The first (last, with reverse) n selectable items of each row; n is one count "
        "for every row or one per row.");

REGISTER_OP("TFMLM>ChooseMaskValues")
    .Input("ids: T")
    .Input("row_splits: Tsplits")
    .Input("vocab_size: int64")
    .Input("mask_token: int64")
    .Input("mask_token_rate: float")
    .Input("random_token_rate: float")
    .Input("seed: int64")
    .Input("excluded_ids: int64")
    .Input("alias_prob: float")
    .Input("alias_index: int64")
    .Output("values: T")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(RequireVector(c, 0));
      TF_RETURN_IF_ERROR(RequireVector(c, 1));
      for (int i = 2; i < 6; ++i) TF_RETURN_IF_ERROR(RequireScalar(c, i));
      TF_RETURN_IF_ERROR(RequireSeed(c, 6));
      for (int i = 7; i < 10; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("Mask token, random id or unchanged, for each id of a rank-2 ragged batch.");

REGISTER_OP("TFMLM>GatherMasked")
    .Input("values: T")
    .Input("row_splits: RAGGED_RANK * Tsplits")
    .Input("selected: bool")
    .Output("masked_positions: Tsplits")
    .Output("masked_positions_row_splits: Tsplits")
    .Output("masked_ids: T")
    .Attr("mask_level: int = 1")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      int rank;
      TF_RETURN_IF_ERROR(CheckRagged(c, &rank));
      TF_RETURN_IF_ERROR(RequireVector(c, rank + 1));
      c->set_output(0, c->Vector(InferenceContext::kUnknownDim));
      c->set_output(1, RowSplitsShape(c));
      c->set_output(2, c->Vector(InferenceContext::kUnknownDim));
      return absl::OkStatus();
    })
    .Doc("Row positions and ids of the tokens of the selected items.");

REGISTER_OP("TFMLM>ScatterMasked")
    .Input("values: T")
    .Input("row_splits: RAGGED_RANK * Tsplits")
    .Input("masked_positions: Tpositions")
    .Input("masked_positions_row_splits: Tsplits")
    .Input("new_ids: T")
    .Output("masked_values: T")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("Tpositions: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      int rank;
      TF_RETURN_IF_ERROR(CheckRagged(c, &rank));
      for (int i = rank + 1; i < rank + 4; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("values with the tokens at the given row positions replaced by new_ids.");

REGISTER_OP("TFMLM>BuildAliasTable")
    .Input("weights: float")
    .Output("alias_prob: float")
    .Output("alias_index: int64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(RequireVector(c, 0));
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(0));
      return absl::OkStatus();
    })
    .Doc("Alias tables for drawing ids with probability proportional to weights.");

REGISTER_OP("TFMLM>GroupWords")
    .Input("values: T")
    .Input("row_splits: Tsplits")
    .Input("continues_word: bool")
    .Output("word_row_splits: Tsplits")
    .Output("word_splits: Tsplits")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      for (int i = 0; i < 3; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
      c->set_output(0, c->input(1));
      c->set_output(1, c->Vector(InferenceContext::kUnknownDim));
      return absl::OkStatus();
    })
    .Doc("Groups wordpieces into words: [batch, (pieces)] -> [batch, (words), (pieces)].");

REGISTER_OP("TFMLM>SelectSpans")
    .Input("selectable: bool")
    .Input("row_splits: Tsplits")
    .Input("item_token_counts: int64")
    .Input("max_selections_per_row: int64")
    .Input("selection_rate: float")
    .Input("p: float")
    .Input("max_span_length: int64")
    .Input("seed: int64")
    .Output("selected: bool")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      for (int i = 0; i < 3; ++i) TF_RETURN_IF_ERROR(RequireVector(c, i));
      for (int i = 3; i < 7; ++i) TF_RETURN_IF_ERROR(RequireScalar(c, i));
      TF_RETURN_IF_ERROR(RequireSeed(c, 7));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("SpanBERT span selection: geometric span lengths until the token budget is spent.");

}  // namespace tf_mlm

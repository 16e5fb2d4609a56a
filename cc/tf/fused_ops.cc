// The fused masking ops: MaskLanguageModel[Dense] (item selection) and
// MaskSpans[Dense] (SpanBERT spans), each a single kernel calling the core's
// entry points (cc/core/masking.h), which validate the options.
//
// Every op of this library is a pure function of its inputs (randomness
// comes in as an explicit `seed` input; the Python layer draws it from
// TensorFlow's stateful RNG when the user asks for stateful behaviour), so
// none is marked stateful.
#include <cstdint>
#include <string>

#include "cc/core/masking.h"
#include "cc/tf/adapter.h"

// The inputs of every fused op, then the span ops' own.
#define TF_MLM_MASK_INPUTS(X)                     \
  X(values, "T", kVector)                         \
  X(row_splits, "RAGGED_RANK * Tsplits", kVector) \
  X(unselectable_ids, "T", kVector)               \
  X(max_selections_per_row, "int64", kScalar)     \
  X(selection_rate, "float", kScalar)             \
  TF_MLM_VALUE_INPUTS(X)
#define TF_MLM_SPAN_INPUTS(X) X(p, "float", kScalar) X(max_span_length, "int64", kScalar)

#define TF_MLM_MASK_ATTRS                         \
  .Attr("axis: int = 1")                          \
      .Attr("T: {int32, int64}")                  \
      .Attr("Tsplits: {int32, int64} = DT_INT64") \
      .Attr("RAGGED_RANK: int >= 1")

// The item-selection ops' inputs and attrs, and the span ops'.
#define TF_MLM_FUSED_INPUTS                \
  TF_MLM_MASK_INPUTS(TF_MLM_DECLARE_INPUT) \
  TF_MLM_MASK_ATTRS.Attr("selection_mode: {'exact', 'bernoulli'} = 'exact'")
#define TF_MLM_SPAN_OP_INPUTS              \
  TF_MLM_MASK_INPUTS(TF_MLM_DECLARE_INPUT) \
  TF_MLM_SPAN_INPUTS(TF_MLM_DECLARE_INPUT) TF_MLM_MASK_ATTRS

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

namespace tf_mlm {
namespace tf_adapter {
namespace {

// The shape function of the four fused ops: item selection or spans,
// ragged or dense outputs. Masked values are shaped like the values; dense
// positions / ids / weights are [rows, output_length].
template <bool kSpans, bool kDense>
absl::Status FusedShape(InferenceContext* c) {
  TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_MASK_INPUTS(TF_MLM_INPUT_SPEC)}));
  if (kSpans) TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SPAN_INPUTS(TF_MLM_INPUT_SPEC)}));
  ShapeHandle values, splits;
  TF_RETURN_IF_ERROR(InputShapeOf(c, "values", &values));
  TF_RETURN_IF_ERROR(SetOutputs(c, {"masked_values"}, values));
  if (!kDense) return RaggedMaskOutputs(c);
  int length;
  TF_RETURN_IF_ERROR(c->GetAttr("output_length", &length));
  TF_RETURN_IF_ERROR(InputShapeOf(c, "row_splits", &splits));
  DimensionHandle rows;
  TF_RETURN_IF_ERROR(c->Subtract(c->Dim(splits, 0), 1, &rows));
  return SetOutputs(c, {"masked_positions", "masked_ids", "masked_weights"},
                    c->Matrix(rows, length));
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
TF_MLM_SPAN_OP_INPUTS TF_MLM_RAGGED_OUTPUTS.SetShapeFn(FusedShape<true, false>).Doc(R"doc(
SpanBERT span masking of a ragged batch in one kernel: spans of the items at
level `axis` (geometric lengths with parameter p, clipped to max_span_length)
until each row's token budget is spent, then the values of their tokens.
)doc");

REGISTER_OP("TFMLM>MaskSpansDense")
TF_MLM_SPAN_OP_INPUTS TF_MLM_DENSE_OUTPUTS.SetShapeFn(FusedShape<true, true>).Doc(R"doc(
Span masking with dense outputs [batch, output_length] (padding 0, 0, 0.0);
the token budget is at most output_length, so no span is cut.
)doc");

namespace {

// The fused ops' kernel: item selection (MaskLanguageModel[Dense]) or spans
// (MaskSpans[Dense]), with ragged or dense (output_length) outputs.
template <typename T, typename S, bool kSpans>
class FusedMaskOp : public OpKernel {
 public:
  explicit FusedMaskOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", &axis_));
    if (!kSpans) OP_REQUIRES_OK(ctx, ctx->GetAttr("selection_mode", &mode_));
    if (ctx->HasAttr("output_length")) {
      OP_REQUIRES_OK(ctx, ctx->GetAttr("output_length", &length_));
    }
  }

  void Compute(OpKernelContext* ctx) override {
    Span<T> values;
    NestedSplits<S> splits;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &values, &splits));
    IdSet unselectable;
    OP_REQUIRES_OK(ctx, UnselectableInput(ctx, &unselectable));
    SelectionOptions selection;
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, mode_, &selection));
    ValueOptions value_opts;
    OP_REQUIRES_OK(ctx, ValueInput(ctx, &value_opts));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    const int64_t rows = splits.num_rows();
    if (length_ >= 0) {
      OP_REQUIRES_OK(ctx, ToTf(ValidateDenseShape(rows, length_, "output_length")));
    }
    const AllocateMaskOutputs<T, S> allocate =
        Allocator<T, S>(ctx, rows, length_, /*with_values=*/true);
    Status s;
    if constexpr (kSpans) {
      SpanOptions spans;
      spans.budget = selection;
      float p;
      OP_REQUIRES_OK(ctx, ScalarInput(ctx, "p", &p));
      spans.p = p;
      OP_REQUIRES_OK(ctx, ScalarInput(ctx, "max_span_length", &spans.max_length));
      s = MaskSpans<T, S>(values, splits, axis_, unselectable, spans, value_opts, seed, allocate,
                          ThreadPoolFor(ctx), length_);
    } else {
      s = MaskLanguageModel<T, S>(values, splits, axis_, unselectable, selection, value_opts, seed,
                                  allocate, ThreadPoolFor(ctx), length_, DenseFit::kCapSelection);
    }
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(s));
  }

 private:
  int axis_;
  std::string mode_ = "exact";
  int64_t length_ = -1;  // output_length of the dense variants
};

template <typename T, typename S>
using MaskLanguageModelOp = FusedMaskOp<T, S, /*kSpans=*/false>;
template <typename T, typename S>
using MaskSpansOp = FusedMaskOp<T, S, /*kSpans=*/true>;

TF_MLM_REGISTER_KERNELS_T_S("TFMLM>MaskLanguageModel", MaskLanguageModelOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>MaskLanguageModelDense", MaskLanguageModelOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>MaskSpans", MaskSpansOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>MaskSpansDense", MaskSpansOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

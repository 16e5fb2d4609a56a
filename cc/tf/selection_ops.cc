// The selection ops of the composed path: Selectable (which items may be
// chosen), SelectItems (random selection) and SelectFirstN, each a kernel
// calling the core (cc/core/selectable.h, cc/core/selection.h).
#include <cstdint>
#include <string>

#include "cc/core/selectable.h"
#include "cc/core/selection.h"
#include "cc/tf/adapter.h"

// Each op's inputs, in order: X(name, type, shape) (see adapter.h).
#define TF_MLM_SELECTABLE_INPUTS(X)               \
  X(values, "T", kVector)                         \
  X(row_splits, "RAGGED_RANK * Tsplits", kVector) \
  X(unselectable_ids, "T", kVector)
#define TF_MLM_SELECT_ITEMS_INPUTS(X)         \
  X(selectable, "bool", kVector)              \
  X(row_splits, "Tsplits", kVector)           \
  X(max_selections_per_row, "int64", kScalar) \
  X(selection_rate, "float", kScalar)         \
  X(seed, "int64", kSeed)
#define TF_MLM_SELECT_FIRST_N_INPUTS(X) \
  X(selectable, "bool", kVector)        \
  X(row_splits, "Tsplits", kVector)     \
  X(num_to_select, "int64", kScalarOrVector)

namespace tf_mlm {
namespace tf_adapter {
namespace {

// Selectable's output: one flag per item at level `axis`, i.e. like the
// values (axis == ragged rank) or like row_splits[axis] but one shorter.
absl::Status SelectableShape(InferenceContext* c) {
  TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SELECTABLE_INPUTS(TF_MLM_INPUT_SPEC)}));
  int rank, axis;
  TF_RETURN_IF_ERROR(c->GetAttr("RAGGED_RANK", &rank));
  TF_RETURN_IF_ERROR(c->GetAttr("axis", &axis));
  ShapeHandle out = c->Vector(InferenceContext::kUnknownDim);
  if (axis == rank) {
    TF_RETURN_IF_ERROR(InputShapeOf(c, "values", &out));
  } else if (axis >= 1 && axis < rank) {
    ShapeHandle splits;
    TF_RETURN_IF_ERROR(InputShapeOf(c, "row_splits", &splits, axis));
    DimensionHandle n;
    TF_RETURN_IF_ERROR(c->Subtract(c->Dim(splits, 0), 1, &n));
    out = c->Vector(n);
  }
  return SetOutputs(c, {"selectable"}, out);
}

}  // namespace

REGISTER_OP("TFMLM>Selectable")
TF_MLM_SELECTABLE_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("selectable: bool")
    .Attr("axis: int = 1")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn(SelectableShape)
    .Doc("Per item: true iff none of its tokens is in unselectable_ids.");

REGISTER_OP("TFMLM>SelectItems")
TF_MLM_SELECT_ITEMS_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("selected: bool")
    .Attr("selection_mode: {'exact', 'bernoulli'} = 'exact'")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SELECT_ITEMS_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputsLike(c, "selectable", {"selected"});
    })
    .Doc("Random selection among the selectable items of each row.");

REGISTER_OP("TFMLM>SelectFirstN")
TF_MLM_SELECT_FIRST_N_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("selected: bool")
    .Attr("reverse: bool = false")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SELECT_FIRST_N_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputsLike(c, "selectable", {"selected"});
    })
    .Doc(
        "The first (last, with reverse) n selectable items of each row; n is one count "
        "for every row or one per row.");

namespace {

template <typename T, typename S>
class SelectableOp : public OpKernel {
 public:
  explicit SelectableOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", &axis_));
  }

  void Compute(OpKernelContext* ctx) override {
    Span<T> values;
    NestedSplits<S> splits;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &values, &splits));
    // The axis sizes the output: checked (by the core's rule) before it.
    OP_REQUIRES_OK(ctx, ToTf(ValidateAxis(axis_, splits.ragged_rank())));
    IdSet unselectable;
    OP_REQUIRES_OK(ctx, UnselectableInput(ctx, &unselectable));
    const int64_t n = NumItems(splits, values.size, axis_);
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("selectable", TensorShape({n}), &out));
    ComputeSelectable(values, splits, axis_, unselectable, MutableFlags(out), ThreadPoolFor(ctx));
  }

 private:
  int axis_;
};

template <typename S>
class SelectItemsOp : public OpKernel {
 public:
  explicit SelectItemsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("selection_mode", &mode_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor* selectable;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "selectable", &selectable, &splits));
    SelectionOptions selection;
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, mode_, &selection));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("selected", selectable->shape(), &out));
    OP_REQUIRES_OK(ctx, ToTf(SelectItems(splits, AsFlags(*selectable).data, MutableFlags(out),
                                         selection, seed, ThreadPoolFor(ctx))));
  }

 private:
  std::string mode_;
};

template <typename S>
class SelectFirstNOp : public OpKernel {
 public:
  explicit SelectFirstNOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("reverse", &reverse_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor* selectable;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "selectable", &selectable, &splits));
    const Tensor* num_to_select;
    OP_REQUIRES_OK(ctx, ctx->input("num_to_select", &num_to_select));
    OP_REQUIRES(
        ctx, num_to_select->dims() <= 1,
        absl::InvalidArgumentError("num_to_select must be a scalar or a vector, got shape " +
                                   num_to_select->shape().DebugString()));
    const Span<int64_t> counts = AsSpan<int64_t>(*num_to_select);
    OP_REQUIRES_OK(ctx, ToTf(ValidateFirstNCounts(splits, counts)));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("selected", selectable->shape(), &out));
    SelectFirstN(splits, AsFlags(*selectable).data, MutableFlags(out), counts, reverse_);
  }

 private:
  bool reverse_;
};

TF_MLM_REGISTER_KERNELS_T_S("TFMLM>Selectable", SelectableOp);
TF_MLM_REGISTER_KERNELS_S("TFMLM>SelectItems", SelectItemsOp);
TF_MLM_REGISTER_KERNELS_S("TFMLM>SelectFirstN", SelectFirstNOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

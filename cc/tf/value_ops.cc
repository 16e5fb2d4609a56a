// The value ops of the composed path: ChooseMaskValues (what each selected
// token becomes), GatherMasked and ScatterMasked (selected tokens out of a
// batch and new values into it), and BuildReplacementTables (the replacement
// law's tables), each a kernel calling the core (cc/core/values.h,
// cc/core/composed.h, cc/core/replacement.h).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/composed.h"
#include "cc/core/replacement.h"
#include "cc/core/values.h"
#include "cc/tf/adapter.h"

// Each op's inputs, in order: X(name, type, shape) (see adapter.h).
#define TF_MLM_CHOOSE_INPUTS(X)     \
  X(ids, "T", kVector)              \
  X(row_splits, "Tsplits", kVector) \
  TF_MLM_VALUE_INPUTS(X)
#define TF_MLM_GATHER_INPUTS(X)                   \
  X(values, "T", kVector)                         \
  X(row_splits, "RAGGED_RANK * Tsplits", kVector) \
  X(selected, "bool", kVector)
#define TF_MLM_SCATTER_INPUTS(X)                     \
  X(values, "T", kVector)                            \
  X(row_splits, "RAGGED_RANK * Tsplits", kVector)    \
  X(masked_positions, "Tpositions", kVector)         \
  X(masked_positions_row_splits, "Tsplits", kVector) \
  X(new_ids, "T", kVector)
#define TF_MLM_REPLACEMENT_INPUTS(X) \
  X(vocab_size, "int64", kScalar)    \
  X(ids, "int64", kAny)              \
  X(weights, "float", kAny)

namespace tf_mlm {
namespace tf_adapter {

REGISTER_OP("TFMLM>ChooseMaskValues")
TF_MLM_CHOOSE_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("values: T")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_CHOOSE_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputsLike(c, "ids", {"values"});
    })
    .Doc("Mask token, random id or unchanged, for each id of a rank-2 ragged batch.");

REGISTER_OP("TFMLM>GatherMasked")
TF_MLM_GATHER_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("masked_positions: Tsplits")
    .Output("masked_positions_row_splits: Tsplits")
    .Output("masked_ids: T")
    .Attr("mask_level: int = 1")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_GATHER_INPUTS(TF_MLM_INPUT_SPEC)}));
      return RaggedMaskOutputs(c);
    })
    .Doc("Row positions and ids of the tokens of the selected items.");

REGISTER_OP("TFMLM>ScatterMasked")
TF_MLM_SCATTER_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("masked_values: T")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .Attr("Tpositions: {int32, int64} = DT_INT64")
    .Attr("RAGGED_RANK: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SCATTER_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputsLike(c, "values", {"masked_values"});
    })
    .Doc("values with the tokens at the given row positions replaced by new_ids.");

REGISTER_OP("TFMLM>BuildReplacementTables")
TF_MLM_REPLACEMENT_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("excluded_ids: int64")
    .Output("alias_prob: float")
    .Output("alias_index: int64")
    .Attr("weighted: bool = false")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_REPLACEMENT_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputs(c, {"excluded_ids", "alias_prob", "alias_index"},
                        c->Vector(c->UnknownDim()));
    })
    .Doc(
        "The replacement law's kernel inputs: the excluded ids (any values and shape) "
        "within [0, vocab_size), sorted and unique, or, if weighted, alias tables of the "
        "weights (any shape) with the excluded ids weighted 0 and no excluded ids.");

namespace {

template <typename T, typename S>
class ChooseMaskValuesOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor* ids;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "ids", &ids, &splits));
    ValueOptions value_opts;
    OP_REQUIRES_OK(ctx, ValueInput(ctx, &value_opts));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("values", ids->shape(), &out));
    OP_REQUIRES_OK(ctx, ToTf(ChooseValues(AsSpan<T>(*ids), splits, value_opts, seed,
                                          out->flat<T>().data(), ThreadPoolFor(ctx))));
  }
};

template <typename T, typename S>
class GatherMaskedOp : public OpKernel {
 public:
  explicit GatherMaskedOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("mask_level", &level_));
  }

  void Compute(OpKernelContext* ctx) override {
    Span<T> values;
    NestedSplits<S> splits;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &values, &splits));
    const Tensor* selected;
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "selected", &selected));
    const Status s = GatherMasked<T, S>(
        values, splits, level_, AsFlags(*selected),
        Allocator<T, S>(ctx, splits.num_rows(), /*length=*/-1, /*with_values=*/false),
        ThreadPoolFor(ctx));
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(s));
  }

 private:
  int level_;
};

// Positions of either dtype (the Tpositions attr), dispatched here.
template <typename T, typename S>
class ScatterMaskedOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    Span<T> values;
    NestedSplits<S> splits;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &values, &splits));
    const Tensor *positions, *position_splits, *new_ids;
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "masked_positions", &positions));
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "masked_positions_row_splits", &position_splits));
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "new_ids", &new_ids));
    OP_REQUIRES_OK(ctx,
                   ToTf(ValidateRowSplits(AsSpan<S>(*position_splits), positions->NumElements(),
                                          "masked_positions_row_splits")));
    const Tensor* values_tensor;
    OP_REQUIRES_OK(ctx, ctx->input("values", &values_tensor));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("masked_values", values_tensor->shape(), &out));
    const auto scatter = [&](auto p) {
      using P = decltype(p);
      return ScatterMasked<T, S, P>(values, splits, AsSpan<P>(*positions),
                                    AsSpan<S>(*position_splits), AsSpan<T>(*new_ids),
                                    out->flat<T>().data());
    };
    OP_REQUIRES_OK(ctx, ToTf(positions->dtype() == tensorflow::DT_INT32 ? scatter(int32_t{})
                                                                        : scatter(int64_t{})));
  }
};

// Sizes are checked against vocab_size when masking (SizeChecks::kWhenMasking).
class BuildReplacementTablesOp : public OpKernel {
 public:
  explicit BuildReplacementTablesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("weighted", &weighted_));
  }

  void Compute(OpKernelContext* ctx) override {
    int64_t vocab_size;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "vocab_size", &vocab_size));
    const Tensor *ids, *weights;
    OP_REQUIRES_OK(ctx, ctx->input("ids", &ids));
    OP_REQUIRES_OK(ctx, ctx->input("weights", &weights));
    OP_REQUIRES(ctx, weighted_ || weights->NumElements() == 0,
                absl::InvalidArgumentError("weights must be empty unless weighted, got " +
                                           std::to_string(weights->NumElements())));
    const Span<float> w = AsSpan<float>(*weights);
    ReplacementTables t;
    OP_REQUIRES_OK(
        ctx, ToTf(BuildReplacementTables(vocab_size, AsSpan<int64_t>(*ids),
                                         weighted_ ? &w : nullptr, SizeChecks::kWhenMasking, &t)));
    Output(ctx, "excluded_ids", t.excluded);
    Output(ctx, "alias_prob", t.alias_prob);
    Output(ctx, "alias_index", t.alias_index);
  }

 private:
  template <typename T>
  static void Output(OpKernelContext* ctx, const char* name, const std::vector<T>& v) {
    if (!ctx->status().ok()) return;  // an earlier output failed
    Tensor* out;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(name, TensorShape({static_cast<int64_t>(v.size())}), &out));
    std::copy(v.begin(), v.end(), out->flat<T>().data());
  }

  bool weighted_;
};

TF_MLM_REGISTER_KERNELS_T_S("TFMLM>ChooseMaskValues", ChooseMaskValuesOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>GatherMasked", GatherMaskedOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>ScatterMasked", ScatterMaskedOp);
REGISTER_KERNEL_BUILDER(Name("TFMLM>BuildReplacementTables").Device(::tensorflow::DEVICE_CPU),
                        BuildReplacementTablesOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

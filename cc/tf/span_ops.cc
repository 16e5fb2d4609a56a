// The span op of the composed path: SelectSpans, SpanBERT span selection
// (geometric span lengths until each row's token budget is spent) by the
// core (cc/core/spans.h), which validates the options.
#include <cstdint>

#include "cc/core/spans.h"
#include "cc/tf/adapter.h"

#define TF_MLM_SELECT_SPANS_INPUTS(X)         \
  X(selectable, "bool", kVector)              \
  X(row_splits, "Tsplits", kVector)           \
  X(item_token_counts, "int64", kVector)      \
  X(max_selections_per_row, "int64", kScalar) \
  X(selection_rate, "float", kScalar)         \
  X(p, "float", kScalar)                      \
  X(max_span_length, "int64", kScalar)        \
  X(seed, "int64", kSeed)

namespace tf_mlm {
namespace tf_adapter {

REGISTER_OP("TFMLM>SelectSpans")
TF_MLM_SELECT_SPANS_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("selected: bool")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SELECT_SPANS_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SetOutputsLike(c, "selectable", {"selected"});
    })
    .Doc("SpanBERT span selection: geometric span lengths until the token budget is spent.");

namespace {

template <typename S>
class SelectSpansOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor* selectable;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "selectable", &selectable, &splits));
    const Tensor* counts;
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "item_token_counts", &counts));
    SpanOptions o;
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, "exact", &o.budget));
    float p;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "p", &p));
    o.p = p;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "max_span_length", &o.max_length));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("selected", selectable->shape(), &out));
    OP_REQUIRES_OK(ctx,
                   ToTf(SelectSpans(splits, AsFlags(*selectable).data, AsSpan<int64_t>(*counts),
                                    MutableFlags(out), o, seed, ThreadPoolFor(ctx))));
  }
};

TF_MLM_REGISTER_KERNELS_S("TFMLM>SelectSpans", SelectSpansOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

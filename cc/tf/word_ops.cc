// The word op: GroupWords, wordpieces grouped into whole words
// ([batch, (pieces)] -> [batch, (words), (pieces)]) by the core
// (cc/core/words.h).
#include <cstdint>
#include <string>

#include "cc/core/words.h"
#include "cc/tf/adapter.h"

#define TF_MLM_GROUP_WORDS_INPUTS(X) \
  X(values, "T", kVector)            \
  X(row_splits, "Tsplits", kVector)  \
  X(continues_word, "bool", kVector)

namespace tf_mlm {
namespace tf_adapter {

REGISTER_OP("TFMLM>GroupWords")
TF_MLM_GROUP_WORDS_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("word_row_splits: Tsplits")
    .Output("word_splits: Tsplits")
    .Attr("T: {int32, int64}")
    .Attr("Tsplits: {int32, int64} = DT_INT64")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_GROUP_WORDS_INPUTS(TF_MLM_INPUT_SPEC)}));
      TF_RETURN_IF_ERROR(SetOutputsLike(c, "row_splits", {"word_row_splits"}));
      return SetOutputs(c, {"word_splits"}, c->Vector(InferenceContext::kUnknownDim));
    })
    .Doc("Groups wordpieces into words: [batch, (pieces)] -> [batch, (words), (pieces)].");

namespace {

template <typename T, typename S>
class GroupWordsOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor* values;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "values", &values, &splits));
    const Tensor* table;
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "continues_word", &table));
    const int64_t rows = splits.size - 1;
    const Status s = GroupWords<T, S>(
        AsSpan<T>(*values), splits, AsFlags(*table),
        [&](int64_t words, S** row_out, S** word_out) -> Status {
          Tensor *a, *b;
          absl::Status st = ctx->allocate_output("word_row_splits", TensorShape({rows + 1}), &a);
          if (st.ok()) st = ctx->allocate_output("word_splits", TensorShape({words + 1}), &b);
          if (!st.ok()) return Status::Invalid(std::string(st.message()));
          *row_out = a->flat<S>().data();
          *word_out = b->flat<S>().data();
          return Status::Ok();
        });
    OP_REQUIRES_OK(ctx, ToTf(s));
  }
};

TF_MLM_REGISTER_KERNELS_T_S("TFMLM>GroupWords", GroupWordsOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

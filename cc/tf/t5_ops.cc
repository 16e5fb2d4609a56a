// T5's span corruption ops: SpanCorruption (noise mask, inputs and targets
// in one kernel), NoiseSpansToSentinels (inputs and targets for a given
// mask) and StatelessSplit (TensorFlow's stateless_split, batched), over the
// core (cc/core/span_corruption.h, cc/core/tf_random.h), which validates the
// options.
#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/span_corruption.h"
#include "cc/core/tf_random.h"
#include "cc/tf/adapter.h"

#define TF_MLM_SPAN_CORRUPTION_INPUTS(X)      \
  X(values, "T", kVector)                     \
  X(row_splits, "Tsplits", kVector)           \
  X(seeds, "int64", kAny)                     \
  X(noise_density, "float", kScalar)          \
  X(mean_noise_span_length, "float", kScalar) \
  X(random_roll, "bool", kScalar)             \
  X(first_sentinel, "int64", kScalar)

#define TF_MLM_SENTINEL_INPUTS(X)   \
  X(values, "T", kVector)           \
  X(row_splits, "Tsplits", kVector) \
  X(noise_mask, "bool", kVector)    \
  X(first_sentinel, "int64", kScalar)

#define TF_MLM_SENTINEL_OUTPUTS              \
  .Output("inputs: T")                       \
      .Output("inputs_row_splits: Tsplits")  \
      .Output("targets: T")                  \
      .Output("targets_row_splits: Tsplits") \
      .Attr("T: {int32, int64}")             \
      .Attr("Tsplits: {int32, int64} = DT_INT64")

namespace tf_mlm {
namespace tf_adapter {
namespace {

// inputs / targets: [?]; their row splits: like row_splits.
absl::Status SentinelShapes(InferenceContext* c) {
  TF_RETURN_IF_ERROR(SetOutputs(c, {"inputs", "targets"}, c->Vector(c->UnknownDim())));
  ShapeHandle splits;
  TF_RETURN_IF_ERROR(InputShapeOf(c, "row_splits", &splits));
  return SetOutputs(c, {"inputs_row_splits", "targets_row_splits"}, splits);
}

}  // namespace

REGISTER_OP("TFMLM>SpanCorruption")
TF_MLM_SPAN_CORRUPTION_INPUTS(TF_MLM_DECLARE_INPUT)
    .Output("noise_mask: bool") TF_MLM_SENTINEL_OUTPUTS
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SPAN_CORRUPTION_INPUTS(TF_MLM_INPUT_SPEC)}));
      ShapeHandle seeds, unused;
      TF_RETURN_IF_ERROR(InputShapeOf(c, "seeds", &seeds));
      TF_RETURN_IF_ERROR(c->WithRank(seeds, 3, &seeds));
      DimensionHandle two;
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(seeds, 1), 2, &two));
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(seeds, 2), 2, &two));
      TF_RETURN_IF_ERROR(SetOutputsLike(c, "values", {"noise_mask"}));
      return SentinelShapes(c);
    })
    .Doc(R"doc(
T5's span corruption of a ragged batch, as t5.data.preprocessors computes it
for the same seeds: each row's noise mask (random_spans_noise_mask with the
row's two seeds, seeds[row]), its inputs (noise spans -> sentinels) and
targets (non-noise spans -> sentinels); the k-th span of a row becomes
first_sentinel - k.
)doc");

REGISTER_OP("TFMLM>NoiseSpansToSentinels")
TF_MLM_SENTINEL_INPUTS(TF_MLM_DECLARE_INPUT)
TF_MLM_SENTINEL_OUTPUTS
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, {TF_MLM_SENTINEL_INPUTS(TF_MLM_INPUT_SPEC)}));
      return SentinelShapes(c);
    })
    .Doc(R"doc(
The inputs (noise spans -> sentinels) and targets (non-noise spans ->
sentinels) of each row for a given noise mask, one flag per value.
)doc");

REGISTER_OP("TFMLM>StatelessSplit")
    .Input("seeds: int64")
    .Output("split: int64")
    .Attr("num: int >= 0")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle seeds;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &seeds));
      DimensionHandle two;
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(seeds, 1), 2, &two));
      int num;
      TF_RETURN_IF_ERROR(c->GetAttr("num", &num));
      c->set_output(0, c->MakeShape({c->Dim(seeds, 0), num, 2}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
tf.random.experimental.stateless_split(seed, num) of each int64 seed of
seeds [n, 2]: [n, num, 2].
)doc");

namespace {

// Allocates the four sentinel outputs once their sizes are known.
template <typename T, typename S>
AllocateSentinelOutputs<T, S> SentinelAllocator(OpKernelContext* ctx, int64_t rows) {
  return [ctx, rows](int64_t num_in, int64_t num_out, SentinelOutputs<T, S>* out) -> Status {
    Tensor *inputs, *in_splits, *targets, *out_splits;
    const auto failed = [](const absl::Status& s) {
      return Status::Invalid("cannot allocate the outputs: " + std::string(s.message()));
    };
    absl::Status s = ctx->allocate_output("inputs", TensorShape({num_in}), &inputs);
    if (s.ok()) s = ctx->allocate_output("inputs_row_splits", TensorShape({rows + 1}), &in_splits);
    if (s.ok()) s = ctx->allocate_output("targets", TensorShape({num_out}), &targets);
    if (s.ok())
      s = ctx->allocate_output("targets_row_splits", TensorShape({rows + 1}), &out_splits);
    if (!s.ok()) return failed(s);
    *out = SentinelOutputs<T, S>{inputs->flat<T>().data(), in_splits->flat<S>().data(),
                                 targets->flat<T>().data(), out_splits->flat<S>().data()};
    return Status::Ok();
  };
}

template <typename T, typename S>
class SpanCorruptionOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor* values;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "values", &values, &splits));
    const int64_t rows = splits.size - 1;
    const Tensor* seeds;
    OP_REQUIRES_OK(ctx, ctx->input("seeds", &seeds));
    OP_REQUIRES(
        ctx,
        seeds->dims() == 3 && seeds->dim_size(0) == rows && seeds->dim_size(1) == 2 &&
            seeds->dim_size(2) == 2,
        absl::InvalidArgumentError("seeds must have shape [rows, 2, 2] = [" + std::to_string(rows) +
                                   ", 2, 2], got " + seeds->shape().DebugString()));
    NoiseOptions o;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "noise_density", &o.noise_density));
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "mean_noise_span_length", &o.mean_noise_span_length));
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "random_roll", &o.random_roll));
    int64_t first_sentinel;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "first_sentinel", &first_sentinel));
    const int64_t* s = seeds->flat<int64_t>().data();
    std::vector<NoiseSeeds> row_seeds(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      row_seeds[r] = NoiseSeeds{{s[4 * r], s[4 * r + 1]}, {s[4 * r + 2], s[4 * r + 3]}};
    }
    Tensor* mask;
    OP_REQUIRES_OK(ctx, ctx->allocate_output("noise_mask", values->shape(), &mask));
    const Status status = SpanCorruption<T, S>(
        AsSpan<T>(*values), splits, row_seeds.data(), o, first_sentinel, MutableFlags(mask),
        SentinelAllocator<T, S>(ctx, rows), ThreadPoolFor(ctx));
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(status));
  }
};

template <typename T, typename S>
class NoiseSpansToSentinelsOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor* values;
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, "values", &values, &splits));
    const Tensor* mask;
    OP_REQUIRES_OK(ctx, VectorInput(ctx, "noise_mask", &mask));
    OP_REQUIRES(ctx, mask->NumElements() == values->NumElements(),
                absl::InvalidArgumentError("noise_mask must have one flag per value: " +
                                           std::to_string(mask->NumElements()) + " flags, " +
                                           std::to_string(values->NumElements()) + " values"));
    int64_t first_sentinel;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "first_sentinel", &first_sentinel));
    const int64_t rows = splits.size - 1;
    const Status status =
        NoiseSpansToSentinels<T, S>(AsSpan<T>(*values), splits, AsFlags(*mask).data, first_sentinel,
                                    SentinelAllocator<T, S>(ctx, rows), ThreadPoolFor(ctx));
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(status));
  }
};

class StatelessSplitOp : public OpKernel {
 public:
  explicit StatelessSplitOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num", &num_));
    OP_REQUIRES(
        ctx, num_ <= kMaxSplit,
        absl::InvalidArgumentError("num must be at most 2**24, got " + std::to_string(num_)));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& seeds = ctx->input(0);
    OP_REQUIRES(ctx, seeds.dims() == 2 && seeds.dim_size(1) == 2,
                absl::InvalidArgumentError("seeds must have shape [n, 2], got " +
                                           seeds.shape().DebugString()));
    const int64_t rows = seeds.dim_size(0);
    OP_REQUIRES_OK(ctx, ToTf(ValidateDenseShape(rows, 2 * num_, "2 * num")));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({rows, num_, 2}), &out));
    const int64_t* s = seeds.flat<int64_t>().data();
    int64_t* o = out->flat<int64_t>().data();
    for (int64_t r = 0; r < rows; ++r) {
      TfStatelessSplit(s[2 * r], s[2 * r + 1], num_, o + 2 * num_ * r);
    }
  }

 private:
  int64_t num_ = 0;
};

TF_MLM_REGISTER_KERNELS_T_S("TFMLM>SpanCorruption", SpanCorruptionOp);
TF_MLM_REGISTER_KERNELS_T_S("TFMLM>NoiseSpansToSentinels", NoiseSpansToSentinelsOp);
REGISTER_KERNEL_BUILDER(Name("TFMLM>StatelessSplit").Device(::tensorflow::DEVICE_CPU),
                        StatelessSplitOp);

}  // namespace
}  // namespace tf_adapter
}  // namespace tf_mlm

// The TensorFlow adapter's shared pieces, used by every op family
// (selection_ops.cc, value_ops.cc, fused_ops.cc, word_ops.cc, span_ops.cc):
// input tables (each input named once, for the registration and the shape
// function), reading and checking the tensors a kernel owns (dtypes, shapes,
// sizes; the options' values are the core's to validate), output allocation
// by name, the thread pool, and the kernel registration for every dtype.
#ifndef TF_MLM_CC_TF_ADAPTER_H_
#define TF_MLM_CC_TF_ADAPTER_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "cc/core/emit.h"
#include "cc/core/id_set.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/status.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tf_mlm {
namespace tf_adapter {

using ::tensorflow::OpInputList;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::TensorShapeUtils;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

// ---------------------------------------------------------------------------
// Inputs, named once. An op lists its inputs in order as X(name, type, shape)
// in one X-macro, spliced into REGISTER_OP's builder chain
// (TF_MLM_DECLARE_INPUT) and into the table its shape function checks
// (TF_MLM_INPUT_SPEC, CheckInputs); kernels read them by name.

// kAny: any shape, read flat.
enum class InputShape { kVector, kScalar, kSeed, kScalarOrVector, kAny };

struct InputSpec {
  const char* name;
  InputShape shape;
};

#define TF_MLM_DECLARE_INPUT(name, type, shape) .Input(#name ": " type)
#define TF_MLM_INPUT_SPEC(name, type, shape) \
  ::tf_mlm::tf_adapter::InputSpec{#name, ::tf_mlm::tf_adapter::InputShape::shape},

// The value inputs (ChooseMaskValues, and the fused ops after their
// selection inputs), the seed among them.
#define TF_MLM_VALUE_INPUTS(X)           \
  X(vocab_size, "int64", kScalar)        \
  X(mask_token, "int64", kScalar)        \
  X(mask_token_rate, "float", kScalar)   \
  X(random_token_rate, "float", kScalar) \
  X(seed, "int64", kSeed)                \
  X(excluded_ids, "int64", kVector)      \
  X(alias_prob, "float", kVector)        \
  X(alias_index, "int64", kVector)

// Every tensor of each input in `inputs` (all of a list input's) has the
// input's shape.
inline absl::Status CheckInputs(InferenceContext* c, std::initializer_list<InputSpec> inputs) {
  for (const InputSpec& input : inputs) {
    std::vector<ShapeHandle> shapes;
    TF_RETURN_IF_ERROR(c->input(input.name, &shapes));
    for (const ShapeHandle& shape : shapes) {
      ShapeHandle unused;
      switch (input.shape) {
        case InputShape::kVector:
          TF_RETURN_IF_ERROR(c->WithRank(shape, 1, &unused));
          break;
        case InputShape::kScalar:
          TF_RETURN_IF_ERROR(c->WithRank(shape, 0, &unused));
          break;
        case InputShape::kScalarOrVector:
          TF_RETURN_IF_ERROR(c->WithRankAtMost(shape, 1, &unused));
          break;
        case InputShape::kAny:
          break;
        case InputShape::kSeed: {
          TF_RETURN_IF_ERROR(c->WithRank(shape, 1, &unused));
          DimensionHandle two;
          TF_RETURN_IF_ERROR(c->WithValue(c->Dim(shape, 0), 2, &two));
          break;
        }
      }
    }
  }
  return absl::OkStatus();
}

// The shape of input `name` (the `index`th tensor of a list input).
inline absl::Status InputShapeOf(InferenceContext* c, const char* name, ShapeHandle* shape,
                                 int index = 0) {
  std::vector<ShapeHandle> shapes;
  TF_RETURN_IF_ERROR(c->input(name, &shapes));
  *shape = shapes.at(static_cast<size_t>(index));
  return absl::OkStatus();
}

// Sets each named output to `shape`.
inline absl::Status SetOutputs(InferenceContext* c, std::initializer_list<const char*> names,
                               ShapeHandle shape) {
  for (const char* name : names) TF_RETURN_IF_ERROR(c->set_output(name, {shape}));
  return absl::OkStatus();
}

// Sets each named output to the shape of input `input`.
inline absl::Status SetOutputsLike(InferenceContext* c, const char* input,
                                   std::initializer_list<const char*> outputs) {
  ShapeHandle shape;
  TF_RETURN_IF_ERROR(InputShapeOf(c, input, &shape));
  return SetOutputs(c, outputs, shape);
}

// The outputs of a ragged masking op: masked_positions and masked_ids
// [(masked)], masked_positions_row_splits [rows + 1], like the outer
// row_splits.
inline absl::Status RaggedMaskOutputs(InferenceContext* c) {
  ShapeHandle splits;
  TF_RETURN_IF_ERROR(InputShapeOf(c, "row_splits", &splits));
  TF_RETURN_IF_ERROR(SetOutputs(c, {"masked_positions_row_splits"}, c->Vector(c->Dim(splits, 0))));
  return SetOutputs(c, {"masked_positions", "masked_ids"},
                    c->Vector(InferenceContext::kUnknownDim));
}

// ---------------------------------------------------------------------------
// Kernel inputs: each kernel checks the tensors it reads (shapes, sizes);
// the options' values go to the core, which validates them.

inline absl::Status ToTf(const Status& s) {
  return s.ok() ? absl::OkStatus() : absl::InvalidArgumentError(s.message());
}

// Units of the cores' cost_per_unit (about cycles): ~4M is ~1M tokens in the
// fused pass's first sweep.
constexpr int64_t kInlineCost = 4000000;

inline ParallelFor ThreadPoolFor(OpKernelContext* ctx) {
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  return [pool](int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    // Batches below about a million tokens run inline: waking the pool's
    // threads and waiting for them costs more than it saves there (measured
    // on a 2-core machine: the reference batch of 84k tokens took 0.82 ms
    // per call on one thread, 0.97 ms sharded over two).
    if (n * cost < kInlineCost) {
      fn(0, n);
      return;
    }
    pool->ParallelFor(n, cost, fn);
  };
}

inline absl::Status Vector(const Tensor& t, const std::string& name) {
  if (!TensorShapeUtils::IsVector(t.shape())) {
    return absl::InvalidArgumentError(name + " must be a vector (rank 1), got shape " +
                                      t.shape().DebugString());
  }
  return absl::OkStatus();
}

// Input `name`, which must be a vector.
inline absl::Status VectorInput(OpKernelContext* ctx, const char* name, const Tensor** t) {
  TF_RETURN_IF_ERROR(ctx->input(name, t));
  return Vector(**t, name);
}

template <typename T>
absl::Status ScalarInput(OpKernelContext* ctx, const char* name, T* out) {
  const Tensor* t;
  TF_RETURN_IF_ERROR(ctx->input(name, &t));
  if (!TensorShapeUtils::IsScalar(t->shape())) {
    return absl::InvalidArgumentError(std::string(name) + " must be a scalar, got shape " +
                                      t->shape().DebugString());
  }
  *out = t->scalar<T>()();
  return absl::OkStatus();
}

inline absl::Status SeedInput(OpKernelContext* ctx, Seed* seed) {
  const Tensor* t;
  TF_RETURN_IF_ERROR(ctx->input("seed", &t));
  if (!TensorShapeUtils::IsVector(t->shape()) || t->NumElements() != 2) {
    return absl::InvalidArgumentError("seed must have shape [2], got " + t->shape().DebugString());
  }
  const auto v = t->vec<int64_t>();
  seed->s0 = static_cast<uint64_t>(v(0));
  seed->s1 = static_cast<uint64_t>(v(1));
  return absl::OkStatus();
}

template <typename T>
Span<T> AsSpan(const Tensor& t) {
  return Span<T>{t.flat<T>().data(), t.NumElements()};
}

// A bool tensor as the core's 0/1 bytes (what bool tensors hold).
inline Span<uint8_t> AsFlags(const Tensor& t) {
  return Span<uint8_t>{reinterpret_cast<const uint8_t*>(t.flat<bool>().data()), t.NumElements()};
}
inline uint8_t* MutableFlags(Tensor* t) {
  return reinterpret_cast<uint8_t*>(t->flat<bool>().data());
}

// Reads the "values" vector and the "row_splits" list and validates them.
template <typename T, typename S>
absl::Status RaggedInput(OpKernelContext* ctx, Span<T>* values, NestedSplits<S>* splits) {
  const Tensor* v;
  TF_RETURN_IF_ERROR(VectorInput(ctx, "values", &v));
  *values = AsSpan<T>(*v);
  OpInputList list;
  TF_RETURN_IF_ERROR(ctx->input_list("row_splits", &list));
  for (int i = 0; i < list.size(); ++i) {
    TF_RETURN_IF_ERROR(Vector(list[i], "row_splits[" + std::to_string(i) + "]"));
    splits->levels.push_back(AsSpan<S>(list[i]));
  }
  return ToTf(ValidateNestedSplits(*splits, values->size, "row_splits"));
}

// A rank-2 partition (the "row_splits" vector) over the vector input `items`.
template <typename S>
absl::Status ItemPartition(OpKernelContext* ctx, const char* items, const Tensor** t,
                           Span<S>* splits) {
  TF_RETURN_IF_ERROR(VectorInput(ctx, items, t));
  const Tensor* s;
  TF_RETURN_IF_ERROR(VectorInput(ctx, "row_splits", &s));
  *splits = AsSpan<S>(*s);
  return ToTf(ValidateRowSplits(*splits, (*t)->NumElements(), "row_splits"));
}

inline absl::Status UnselectableInput(OpKernelContext* ctx, IdSet* set) {
  const Tensor* t;
  TF_RETURN_IF_ERROR(VectorInput(ctx, "unselectable_ids", &t));
  if (t->dtype() == tensorflow::DT_INT32) {
    *set = IdSet(AsSpan<int32_t>(*t));
  } else {
    *set = IdSet(AsSpan<int64_t>(*t));
  }
  return absl::OkStatus();
}

// The selection inputs (max_selections_per_row, selection_rate) and the
// selection_mode attr, as the core's options.
inline absl::Status SelectionInput(OpKernelContext* ctx, const std::string& mode,
                                   SelectionOptions* o) {
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "max_selections_per_row", &o->max_selections));
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "selection_rate", &o->selection_rate));
  o->mode = mode == "bernoulli" ? SelectionMode::kBernoulli : SelectionMode::kExactCount;
  o->cap_name = "max_selections_per_row";
  return absl::OkStatus();
}

// TF_MLM_VALUE_INPUTS but the seed, as the core's options.
inline absl::Status ValueInput(OpKernelContext* ctx, ValueOptions* o) {
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "vocab_size", &o->vocab_size));
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "mask_token", &o->mask_token));
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "mask_token_rate", &o->mask_token_rate));
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "random_token_rate", &o->random_token_rate));
  const Tensor *excluded, *prob, *index;
  TF_RETURN_IF_ERROR(ctx->input("excluded_ids", &excluded));
  TF_RETURN_IF_ERROR(ctx->input("alias_prob", &prob));
  TF_RETURN_IF_ERROR(ctx->input("alias_index", &index));
  TF_RETURN_IF_ERROR(Vector(*excluded, "excluded_ids"));
  TF_RETURN_IF_ERROR(Vector(*prob, "alias_prob"));
  TF_RETURN_IF_ERROR(Vector(*index, "alias_index"));
  o->replacement.excluded = AsSpan<int64_t>(*excluded);
  o->replacement.alias_prob = AsSpan<float>(*prob);
  o->replacement.alias_index = AsSpan<int64_t>(*index);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Kernel outputs, by name.

// The masking ops' outputs, allocated once the core knows how many tokens
// it masks: masked_values (with_values; shaped like the "values" input,
// whose buffer it reuses when TF may hand it over: no allocation and no copy,
// the core reads each token before it writes it), masked_positions and
// masked_ids, ragged ([masked], with masked_positions_row_splits
// [rows + 1]) or dense ([rows, length], with masked_weights) when
// length >= 0. On failure the context's status is set.
template <typename T, typename S>
AllocateMaskOutputs<T, S> Allocator(OpKernelContext* ctx, int64_t rows, int64_t length,
                                    bool with_values) {
  return [=](int64_t total, MaskOutputs<T, S>* out) -> Status {
    Tensor* t = nullptr;
    auto failed = [&](const absl::Status& s) {
      if (!s.ok()) ctx->CtxFailure(__FILE__, __LINE__, s);
      return !s.ok();
    };
    auto alloc = [&](const char* name, const TensorShape& shape) {
      return failed(ctx->allocate_output(name, shape, &t));
    };
    const Status failure = Status::Invalid("allocation failed");
    if (with_values) {
      const Tensor* values;
      if (failed(ctx->input("values", &values)) ||
          failed(ctx->forward_input_or_allocate_output({"values"}, "masked_values", values->shape(),
                                                       &t))) {
        return failure;
      }
      out->masked_values = t->flat<T>().data();
    }
    const bool dense = length >= 0;
    const TensorShape shape = dense ? TensorShape({rows, length}) : TensorShape({total});
    if (alloc("masked_positions", shape)) return failure;
    out->positions = t->flat<S>().data();
    if (!dense) {
      if (alloc("masked_positions_row_splits", TensorShape({rows + 1}))) return failure;
      out->position_splits = t->flat<S>().data();
    }
    if (alloc("masked_ids", shape)) return failure;
    out->masked_ids = t->flat<T>().data();
    if (dense) {
      if (alloc("masked_weights", shape)) return failure;
      out->weights = t->flat<float>().data();
    }
    return Status::Ok();
  };
}

// ---------------------------------------------------------------------------
// Kernel registration for every dtype: Kernel<T, S> for each ids dtype T
// ("T") and row-splits dtype S ("Tsplits") in {int32, int64}, or Kernel<S>.

#define TF_MLM_KERNEL_T_S(op, Kernel, T, S)                     \
  REGISTER_KERNEL_BUILDER(Name(op)                              \
                              .Device(::tensorflow::DEVICE_CPU) \
                              .TypeConstraint<T>("T")           \
                              .TypeConstraint<S>("Tsplits"),    \
                          Kernel<T, S>)
#define TF_MLM_REGISTER_KERNELS_T_S(op, Kernel)    \
  TF_MLM_KERNEL_T_S(op, Kernel, int32_t, int32_t); \
  TF_MLM_KERNEL_T_S(op, Kernel, int32_t, int64_t); \
  TF_MLM_KERNEL_T_S(op, Kernel, int64_t, int32_t); \
  TF_MLM_KERNEL_T_S(op, Kernel, int64_t, int64_t)

#define TF_MLM_KERNEL_S(op, Kernel, S)                                                            \
  REGISTER_KERNEL_BUILDER(Name(op).Device(::tensorflow::DEVICE_CPU).TypeConstraint<S>("Tsplits"), \
                          Kernel<S>)
#define TF_MLM_REGISTER_KERNELS_S(op, Kernel) \
  TF_MLM_KERNEL_S(op, Kernel, int32_t);       \
  TF_MLM_KERNEL_S(op, Kernel, int64_t)

}  // namespace tf_adapter
}  // namespace tf_mlm

#endif  // TF_MLM_CC_TF_ADAPTER_H_

// CPU kernels of tf_mlm's ops: validate every input, allocate the outputs,
// and call the framework-free core in cc/core. No algorithm lives here.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cc/core/masking.h"
#include "cc/core/replacement.h"
#include "cc/core/words.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tf_mlm {
namespace {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpInputList;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::TensorShapeUtils;

absl::Status ToTf(const Status& s) {
  return s.ok() ? absl::OkStatus() : absl::InvalidArgumentError(s.message());
}

// Units of the cores' cost_per_unit (about cycles): ~4M is ~1M tokens in the
// fused pass's first sweep.
constexpr int64_t kInlineCost = 4000000;

ParallelFor ThreadPoolFor(OpKernelContext* ctx) {
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

absl::Status Vector(const Tensor& t, const std::string& name) {
  if (!TensorShapeUtils::IsVector(t.shape())) {
    return absl::InvalidArgumentError(name + " must be a vector (rank 1), got shape " +
                                      t.shape().DebugString());
  }
  return absl::OkStatus();
}

absl::Status Scalar(const Tensor& t, const std::string& name) {
  if (!TensorShapeUtils::IsScalar(t.shape())) {
    return absl::InvalidArgumentError(name + " must be a scalar, got shape " +
                                      t.shape().DebugString());
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ScalarInput(OpKernelContext* ctx, const char* name, T* out) {
  const Tensor* t;
  TF_RETURN_IF_ERROR(ctx->input(name, &t));
  TF_RETURN_IF_ERROR(Scalar(*t, name));
  *out = t->scalar<T>()();
  return absl::OkStatus();
}

absl::Status SeedInput(OpKernelContext* ctx, Seed* seed) {
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

// Reads the "values" vector and the "row_splits" list and validates them.
template <typename T, typename S>
absl::Status RaggedInput(OpKernelContext* ctx, Span<T>* values, NestedSplits<S>* splits) {
  const Tensor* v;
  TF_RETURN_IF_ERROR(ctx->input("values", &v));
  TF_RETURN_IF_ERROR(Vector(*v, "values"));
  *values = AsSpan<T>(*v);
  OpInputList list;
  TF_RETURN_IF_ERROR(ctx->input_list("row_splits", &list));
  for (int i = 0; i < list.size(); ++i) {
    TF_RETURN_IF_ERROR(Vector(list[i], "row_splits[" + std::to_string(i) + "]"));
    splits->levels.push_back(AsSpan<S>(list[i]));
  }
  return ToTf(ValidateNestedSplits(*splits, values->size, "row_splits"));
}

absl::Status UnselectableInput(OpKernelContext* ctx, IdSet* set) {
  const Tensor* t;
  TF_RETURN_IF_ERROR(ctx->input("unselectable_ids", &t));
  TF_RETURN_IF_ERROR(Vector(*t, "unselectable_ids"));
  if (t->dtype() == tensorflow::DT_INT32) {
    *set = IdSet(AsSpan<int32_t>(*t));
  } else {
    *set = IdSet(AsSpan<int64_t>(*t));
  }
  return absl::OkStatus();
}

absl::Status SelectionInput(OpKernelContext* ctx, const std::string& mode, SelectionOptions* o) {
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "max_selections_per_row", &o->max_selections));
  TF_RETURN_IF_ERROR(ScalarInput(ctx, "selection_rate", &o->selection_rate));
  o->mode = mode == "bernoulli" ? SelectionMode::kBernoulli : SelectionMode::kExactCount;
  o->cap_name = "max_selections_per_row";
  return absl::OkStatus();
}

absl::Status ValueInput(OpKernelContext* ctx, ValueOptions* o) {
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

// A rank-2 partition ("row_splits" input) over a vector input `items`.
template <typename S>
absl::Status ItemPartition(OpKernelContext* ctx, const Tensor& items, const std::string& items_name,
                           Span<S>* splits) {
  TF_RETURN_IF_ERROR(Vector(items, items_name));
  const Tensor* t;
  TF_RETURN_IF_ERROR(ctx->input("row_splits", &t));
  TF_RETURN_IF_ERROR(Vector(*t, "row_splits"));
  *splits = AsSpan<S>(*t);
  return ToTf(ValidateRowSplits(*splits, items.NumElements(), "row_splits"));
}

// The masked-values output (shaped like input 0, the values). It reuses the
// input's buffer when TF may hand it over (nothing else holds it): no
// allocation and no copy; the core reads each token before it writes it.
// On failure the context's status is set.
bool MaskedValuesOutput(OpKernelContext* ctx, int index, Tensor** t) {
  const absl::Status s =
      ctx->forward_input_or_allocate_output({0}, index, ctx->input(0).shape(), t);
  if (!s.ok()) ctx->CtxFailure(__FILE__, __LINE__, s);
  return s.ok();
}

// Allocates the positions / ids outputs at the given output indices, and the
// masked values (when values_index >= 0) shaped like the input values.
template <typename T, typename S>
AllocateMaskOutputs<T, S> Allocator(OpKernelContext* ctx, int64_t rows, int values_index,
                                    int positions_index) {
  return [=](int64_t total, MaskOutputs<T, S>* out) -> Status {
    Tensor* t = nullptr;
    auto alloc = [&](int index, const TensorShape& shape) -> bool {
      const absl::Status s = ctx->allocate_output(index, shape, &t);
      if (!s.ok()) ctx->CtxFailure(__FILE__, __LINE__, s);
      return s.ok();
    };
    if (values_index >= 0) {
      if (!MaskedValuesOutput(ctx, values_index, &t)) return Status::Invalid("allocation failed");
      out->masked_values = t->flat<T>().data();
    }
    if (!alloc(positions_index, TensorShape({total}))) return Status::Invalid("allocation failed");
    out->positions = t->flat<S>().data();
    if (!alloc(positions_index + 1, TensorShape({rows + 1})))
      return Status::Invalid("allocation failed");
    out->position_splits = t->flat<S>().data();
    if (!alloc(positions_index + 2, TensorShape({total})))
      return Status::Invalid("allocation failed");
    out->masked_ids = t->flat<T>().data();
    return Status::Ok();
  };
}

// Dense outputs [rows, length]: positions, ids, weights (float).
template <typename T, typename S>
AllocateMaskOutputs<T, S> DenseAllocator(OpKernelContext* ctx, int64_t rows, int64_t length) {
  return [=](int64_t /*total*/, MaskOutputs<T, S>* out) -> Status {
    Tensor* t = nullptr;
    auto alloc = [&](int index, const TensorShape& shape) -> bool {
      const absl::Status s = ctx->allocate_output(index, shape, &t);
      if (!s.ok()) ctx->CtxFailure(__FILE__, __LINE__, s);
      return s.ok();
    };
    if (!MaskedValuesOutput(ctx, 0, &t)) return Status::Invalid("allocation failed");
    out->masked_values = t->flat<T>().data();
    if (!alloc(1, TensorShape({rows, length}))) return Status::Invalid("allocation failed");
    out->positions = t->flat<S>().data();
    if (!alloc(2, TensorShape({rows, length}))) return Status::Invalid("allocation failed");
    out->masked_ids = t->flat<T>().data();
    if (!alloc(3, TensorShape({rows, length}))) return Status::Invalid("allocation failed");
    out->weights = t->flat<float>().data();
    return Status::Ok();
  };
}

// The fused ops' shared inputs (TF_MLM_MASK_INPUTS in ops.cc), validated.
template <typename T, typename S>
struct MaskInputs {
  Span<T> values;
  NestedSplits<S> splits;
  IdSet unselectable;
  SelectionOptions selection;
  ValueOptions value_opts;
  Seed seed;
};

// The fused ops: item selection (MaskLanguageModel[Dense]) or spans
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
    MaskInputs<T, S> in;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &in.values, &in.splits));
    OP_REQUIRES_OK(ctx, UnselectableInput(ctx, &in.unselectable));
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, mode_, &in.selection));
    OP_REQUIRES_OK(ctx, ValueInput(ctx, &in.value_opts));
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &in.seed));
    const int64_t rows = in.splits.num_rows();
    if (length_ >= 0) {
      OP_REQUIRES_OK(ctx, ToTf(ValidateDenseShape(rows, length_, "output_length")));
    }
    const AllocateMaskOutputs<T, S> allocate =
        length_ >= 0 ? DenseAllocator<T, S>(ctx, rows, length_) : Allocator<T, S>(ctx, rows, 0, 1);
    Status s;
    if constexpr (kSpans) {
      SpanOptions spans;
      spans.budget = in.selection;
      float p;
      OP_REQUIRES_OK(ctx, ScalarInput(ctx, "p", &p));
      spans.p = p;
      OP_REQUIRES_OK(ctx, ScalarInput(ctx, "max_span_length", &spans.max_length));
      s = MaskSpans<T, S>(in.values, in.splits, axis_, in.unselectable, spans, in.value_opts,
                          in.seed, allocate, ThreadPoolFor(ctx), length_);
    } else {
      s = MaskLanguageModel<T, S>(in.values, in.splits, axis_, in.unselectable, in.selection,
                                  in.value_opts, in.seed, allocate, ThreadPoolFor(ctx), length_,
                                  DenseFit::kCapSelection);
    }
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(s));
  }

 private:
  int axis_;
  std::string mode_ = "exact";
  int64_t length_ = -1;  // output_length of the dense variants
};

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
    OP_REQUIRES_OK(ctx, ToTf(ValidateAxis(axis_, splits.ragged_rank())));
    IdSet unselectable;
    OP_REQUIRES_OK(ctx, UnselectableInput(ctx, &unselectable));
    const int64_t n = NumItems(splits, values.size, axis_);
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n}), &out));
    ComputeSelectable(values, splits, axis_, unselectable,
                      reinterpret_cast<uint8_t*>(out->flat<bool>().data()), ThreadPoolFor(ctx));
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
    const Tensor& selectable = ctx->input(0);
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, selectable, "selectable", &splits));
    SelectionOptions selection;
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, mode_, &selection));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, selectable.shape(), &out));
    // bool tensors hold 0/1 bytes, which is what the core reads and writes.
    OP_REQUIRES_OK(
        ctx,
        ToTf(SelectItems(splits, reinterpret_cast<const uint8_t*>(selectable.flat<bool>().data()),
                         reinterpret_cast<uint8_t*>(out->flat<bool>().data()), selection, seed,
                         ThreadPoolFor(ctx))));
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
    const Tensor& selectable = ctx->input(0);
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, selectable, "selectable", &splits));
    const Tensor& num_to_select = ctx->input(2);
    OP_REQUIRES(
        ctx, num_to_select.dims() <= 1,
        absl::InvalidArgumentError("num_to_select must be a scalar or a vector, got shape " +
                                   num_to_select.shape().DebugString()));
    const Span<int64_t> counts{num_to_select.flat<int64_t>().data(), num_to_select.NumElements()};
    OP_REQUIRES_OK(ctx, ToTf(ValidateFirstNCounts(splits, counts)));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, selectable.shape(), &out));
    SelectFirstN(splits, reinterpret_cast<const uint8_t*>(selectable.flat<bool>().data()),
                 reinterpret_cast<uint8_t*>(out->flat<bool>().data()), counts, reverse_);
  }

 private:
  bool reverse_;
};

template <typename T, typename S>
class ChooseMaskValuesOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& ids = ctx->input(0);
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, ids, "ids", &splits));
    ValueOptions value_opts;
    OP_REQUIRES_OK(ctx, ValueInput(ctx, &value_opts));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, ids.shape(), &out));
    OP_REQUIRES_OK(ctx, ToTf(ChooseValues(AsSpan<T>(ids), splits, value_opts, seed,
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
    OP_REQUIRES_OK(ctx, ctx->input("selected", &selected));
    OP_REQUIRES_OK(ctx, Vector(*selected, "selected"));
    const Status s = tf_mlm::GatherMasked<T, S>(
        values, splits, level_,
        Span<uint8_t>{reinterpret_cast<const uint8_t*>(selected->flat<bool>().data()),
                      selected->NumElements()},
        Allocator<T, S>(ctx, splits.num_rows(), -1, 0), ThreadPoolFor(ctx));
    if (ctx->status().ok()) OP_REQUIRES_OK(ctx, ToTf(s));
  }

 private:
  int level_;
};

template <typename T, typename S, typename P>
class ScatterMaskedOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    Span<T> values;
    NestedSplits<S> splits;
    OP_REQUIRES_OK(ctx, RaggedInput(ctx, &values, &splits));
    const Tensor* positions;
    const Tensor* position_splits;
    const Tensor* new_ids;
    OP_REQUIRES_OK(ctx, ctx->input("masked_positions", &positions));
    OP_REQUIRES_OK(ctx, ctx->input("masked_positions_row_splits", &position_splits));
    OP_REQUIRES_OK(ctx, ctx->input("new_ids", &new_ids));
    OP_REQUIRES_OK(ctx, Vector(*positions, "masked_positions"));
    OP_REQUIRES_OK(ctx, Vector(*position_splits, "masked_positions_row_splits"));
    OP_REQUIRES_OK(ctx, Vector(*new_ids, "new_ids"));
    OP_REQUIRES_OK(ctx,
                   ToTf(ValidateRowSplits(AsSpan<S>(*position_splits), positions->NumElements(),
                                          "masked_positions_row_splits")));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, ctx->input(0).shape(), &out));
    OP_REQUIRES_OK(ctx, ToTf(ScatterMasked<T, S, P>(values, splits, AsSpan<P>(*positions),
                                                    AsSpan<S>(*position_splits),
                                                    AsSpan<T>(*new_ids), out->flat<T>().data())));
  }
};

class BuildAliasTableOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& weights = ctx->input(0);
    OP_REQUIRES_OK(ctx, Vector(weights, "weights"));
    Tensor *prob, *alias;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, weights.shape(), &prob));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, weights.shape(), &alias));
    OP_REQUIRES_OK(ctx, ToTf(BuildAliasTable(AsSpan<float>(weights), prob->flat<float>().data(),
                                             alias->flat<int64_t>().data())));
  }
};

template <typename T, typename S>
class GroupWordsOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& values = ctx->input(0);
    OP_REQUIRES_OK(ctx, Vector(values, "values"));
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, values, "values", &splits));
    const Tensor& table = ctx->input(2);
    OP_REQUIRES_OK(ctx, Vector(table, "continues_word"));
    const int64_t rows = splits.size - 1;
    const Status s =
        GroupWords<T, S>(AsSpan<T>(values), splits,
                         Span<uint8_t>{reinterpret_cast<const uint8_t*>(table.flat<bool>().data()),
                                       table.NumElements()},
                         [&](int64_t words, S** row_out, S** word_out) -> Status {
                           Tensor *a, *b;
                           absl::Status st = ctx->allocate_output(0, TensorShape({rows + 1}), &a);
                           if (st.ok()) st = ctx->allocate_output(1, TensorShape({words + 1}), &b);
                           if (!st.ok()) return Status::Invalid(std::string(st.message()));
                           *row_out = a->flat<S>().data();
                           *word_out = b->flat<S>().data();
                           return Status::Ok();
                         });
    OP_REQUIRES_OK(ctx, ToTf(s));
  }
};

template <typename S>
class SelectSpansOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& selectable = ctx->input(0);
    Span<S> splits;
    OP_REQUIRES_OK(ctx, ItemPartition(ctx, selectable, "selectable", &splits));
    const Tensor* counts;
    OP_REQUIRES_OK(ctx, ctx->input("item_token_counts", &counts));
    OP_REQUIRES_OK(ctx, Vector(*counts, "item_token_counts"));
    SpanOptions o;
    OP_REQUIRES_OK(ctx, SelectionInput(ctx, "exact", &o.budget));
    float p;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "p", &p));
    o.p = p;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "max_span_length", &o.max_length));
    Seed seed;
    OP_REQUIRES_OK(ctx, SeedInput(ctx, &seed));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, selectable.shape(), &out));
    OP_REQUIRES_OK(
        ctx, ToTf(SelectSpans(
                 splits, reinterpret_cast<const uint8_t*>(selectable.flat<bool>().data()),
                 AsSpan<int64_t>(*counts), reinterpret_cast<uint8_t*>(out->flat<bool>().data()), o,
                 seed, ThreadPoolFor(ctx))));
  }
};

REGISTER_KERNEL_BUILDER(Name("TFMLM>BuildAliasTable").Device(DEVICE_CPU), BuildAliasTableOp);

#define TF_MLM_REGISTER_T_S(T, S)                                     \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>MaskLanguageModel")             \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          FusedMaskOp<T, S, false>);                  \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>MaskLanguageModelDense")        \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          FusedMaskOp<T, S, false>);                  \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>MaskSpans")                     \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          FusedMaskOp<T, S, true>);                   \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>MaskSpansDense")                \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          FusedMaskOp<T, S, true>);                   \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>Selectable")                    \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          SelectableOp<T, S>);                        \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>GroupWords")                    \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          GroupWordsOp<T, S>);                        \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>ChooseMaskValues")              \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          ChooseMaskValuesOp<T, S>);                  \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>GatherMasked")                  \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits"),          \
                          GatherMaskedOp<T, S>);                      \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>ScatterMasked")                 \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits")           \
                              .TypeConstraint<int32_t>("Tpositions"), \
                          ScatterMaskedOp<T, S, int32_t>);            \
  REGISTER_KERNEL_BUILDER(Name("TFMLM>ScatterMasked")                 \
                              .Device(DEVICE_CPU)                     \
                              .TypeConstraint<T>("T")                 \
                              .TypeConstraint<S>("Tsplits")           \
                              .TypeConstraint<int64_t>("Tpositions"), \
                          ScatterMaskedOp<T, S, int64_t>);

TF_MLM_REGISTER_T_S(int32_t, int32_t)
TF_MLM_REGISTER_T_S(int32_t, int64_t)
TF_MLM_REGISTER_T_S(int64_t, int32_t)
TF_MLM_REGISTER_T_S(int64_t, int64_t)

#define TF_MLM_REGISTER_S(S)                                                      \
  REGISTER_KERNEL_BUILDER(                                                        \
      Name("TFMLM>SelectItems").Device(DEVICE_CPU).TypeConstraint<S>("Tsplits"),  \
      SelectItemsOp<S>);                                                          \
  REGISTER_KERNEL_BUILDER(                                                        \
      Name("TFMLM>SelectFirstN").Device(DEVICE_CPU).TypeConstraint<S>("Tsplits"), \
      SelectFirstNOp<S>);                                                         \
  REGISTER_KERNEL_BUILDER(                                                        \
      Name("TFMLM>SelectSpans").Device(DEVICE_CPU).TypeConstraint<S>("Tsplits"),  \
      SelectSpansOp<S>);

TF_MLM_REGISTER_S(int32_t)
TF_MLM_REGISTER_S(int64_t)

}  // namespace
}  // namespace tf_mlm

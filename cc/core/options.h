// Options of the masking passes and their validation: the one place that
// checks rates, caps, ids and axes. The adapters pass their argument values
// (and the cap's name) in and do not check them: the core's entry points
// validate them once.
#ifndef TF_MLM_CC_CORE_OPTIONS_H_
#define TF_MLM_CC_CORE_OPTIONS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "cc/core/replacement.h"
#include "cc/core/status.h"

namespace tf_mlm {

enum class SelectionMode {
  // tensorflow_text: exactly min(ceil(selectable * rate), cap) items per row,
  // uniformly without replacement.
  kExactCount = 0,
  // HuggingFace: each selectable item independently with probability rate;
  // if more than `cap` are drawn, a uniform subset of `cap` of them is kept.
  kBernoulli = 1,
};

struct SelectionOptions {
  float selection_rate = 0.15f;
  int64_t max_selections = std::numeric_limits<int64_t>::max();
  SelectionMode mode = SelectionMode::kExactCount;
  // The cap's name in the caller's API, for the messages: each adapter sets
  // its own (the TF ops' max_selections_per_row, the pybind11 module's
  // max_selections).
  const char* cap_name = "max_selections_per_batch";
};

struct ValueOptions {
  float mask_token_rate = 0.8f;
  float random_token_rate = 0.1f;
  int64_t vocab_size = 1;
  int64_t mask_token = 0;
  ReplacementOptions replacement;  // default: uniform over [0, vocab_size)
};

// The selection options of a pass whose rows record at most pad_length
// positions (dense outputs; pad_length < 0: ragged, no cap): no row selects
// more than pad_length items. The one place the cap min(cap, pad_length) is
// applied, by the passes' entry points (masking.h, padded_batch.h).
inline SelectionOptions CapAtPadLength(SelectionOptions o, int64_t pad_length) {
  if (pad_length >= 0) o.max_selections = std::min(o.max_selections, pad_length);
  return o;
}

// How the fused pass (MaskLanguageModel) fits a row's masked tokens into
// pad_length dense slots.
enum class DenseFit {
  // Each row records the first pad_length tokens of its selection (the
  // ragged outputs, cut), and only those are masked.
  kFirstTokens = 0,
  // At most pad_length items are selected per row (CapAtPadLength), so
  // that only whole words longer than the room left are cut: the dense
  // ops' output_length and the pybind11 module's pad_to.
  kCapSelection = 1,
};

inline bool IsUnitRate(float r) { return std::isfinite(r) && r >= 0.0f && r <= 1.0f; }

// A selection rate above 1 selects every selectable item, as in
// tensorflow_text (its count ceil(n * rate) is then at least n).
inline Status ValidateSelectionOptions(const SelectionOptions& o) {
  if (!(std::isfinite(o.selection_rate) && o.selection_rate >= 0.0f)) {
    return Status::Invalid("selection_rate must be a finite number >= 0, got " +
                           std::to_string(o.selection_rate));
  }
  if (o.max_selections < 0) {
    return Status::Invalid(std::string(o.cap_name) + " must be >= 0, got " +
                           std::to_string(o.max_selections));
  }
  return Status::Ok();
}

inline Status ValidateValueOptions(const ValueOptions& o) {
  if (!IsUnitRate(o.mask_token_rate)) {
    return Status::Invalid("mask_token_rate must be a finite number in [0, 1], got " +
                           std::to_string(o.mask_token_rate));
  }
  if (!IsUnitRate(o.random_token_rate)) {
    return Status::Invalid("random_token_rate must be a finite number in [0, 1], got " +
                           std::to_string(o.random_token_rate));
  }
  // Same float32 sum as tensorflow_text's check.
  if (o.mask_token_rate + o.random_token_rate > 1.0f) {
    return Status::Invalid("mask_token_rate + random_token_rate must be <= 1, got " +
                           std::to_string(o.mask_token_rate) + " + " +
                           std::to_string(o.random_token_rate));
  }
  if (o.vocab_size < 1) {
    return Status::Invalid("vocab_size must be >= 1, got " + std::to_string(o.vocab_size));
  }
  // mask_token may lie outside [0, vocab_size) (e.g. a [MASK] id appended
  // after the ids random replacement draws from), as in tensorflow_text;
  // ValidateValuesFitIds checks that the id dtype holds it.
  return ValidateReplacementOptions(o.replacement, o.vocab_size);
}

// Ids of dtype T must hold mask_token and every id in [0, vocab_size):
// otherwise they would be truncated into other (even negative) ids.
template <typename T>
Status ValidateValuesFitIds(const ValueOptions& o) {
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<T>::max()) + 1;
  const std::string dtype = std::to_string(8 * sizeof(T)) + "-bit";
  if (o.vocab_size > 0 && static_cast<uint64_t>(o.vocab_size) > limit) {
    return Status::Invalid("vocab_size must be <= " + std::to_string(limit) + " for ids of " +
                           dtype + " dtype, got " + std::to_string(o.vocab_size));
  }
  if (o.mask_token < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      o.mask_token > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    return Status::Invalid("mask_token must fit in ids of " + dtype + " dtype, got " +
                           std::to_string(o.mask_token));
  }
  return Status::Ok();
}

inline Status ValidateAxis(int axis, int ragged_rank) {
  if (axis < 1 || axis > ragged_rank) {
    return Status::Invalid("axis must be in [1, " + std::to_string(ragged_rank) +
                           "] for an input of ragged rank " + std::to_string(ragged_rank) +
                           ", got " + std::to_string(axis));
  }
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_OPTIONS_H_

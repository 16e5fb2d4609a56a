// Masking a padded [rows, width] batch in place, as HuggingFace's
// DataCollatorForLanguageModeling sees it: unselectable ("special") tokens
// flagged per position (a special_tokens_mask) and/or by id, and whole words
// found from the tokens' character offsets (transformers 5's definition).
//
// The items of a row are its tokens, or with offsets its words: a token
// starts a new item if it is first in its row, special, follows a special
// token, or does not start where the previous token ends (a gap in the
// text). Each special token is an item of its own, never selected. The items
// are then masked by the whole-word pass (word_pass.h), so the selection law
// (exact count or Bernoulli, cap) and the value law are the core's own.
#ifndef TF_MLM_CC_CORE_PADDED_BATCH_H_
#define TF_MLM_CC_CORE_PADDED_BATCH_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/emit.h"
#include "cc/core/id_set.h"
#include "cc/core/options.h"
#include "cc/core/parallel.h"
#include "cc/core/philox.h"
#include "cc/core/ragged.h"
#include "cc/core/status.h"
#include "cc/core/token_pass.h"
#include "cc/core/word_pass.h"

namespace tf_mlm {

// A [rows, width] batch of ids, masked in place. `special` ([rows * width],
// nonzero = special) may be null; `special_ids` adds the tokens with those
// ids. `offsets` ([rows * width * 2], (start, end) per token) may be null:
// the items are then the tokens.
template <typename T, typename O>
struct PaddedBatch {
  T* values = nullptr;
  int64_t rows = 0;
  int64_t width = 0;
  const uint8_t* special = nullptr;
  const IdSet* special_ids = nullptr;
  const O* offsets = nullptr;
};

// The items of a padded batch: item_row_splits [rows + 1] (rows -> items),
// item_splits [items + 1] (items -> tokens, flat over the batch) and
// selectable [items] (0 for the special tokens).
struct PaddedItems {
  std::vector<int64_t> item_row_splits;
  std::vector<int64_t> item_splits;
  std::vector<uint8_t> selectable;
};

template <typename T, typename O>
void GroupPaddedItems(const PaddedBatch<T, O>& batch, PaddedItems* items) {
  const int64_t rows = batch.rows, width = batch.width;
  std::vector<uint8_t> is_special(static_cast<size_t>(rows * width), 0);
  if (batch.special != nullptr) {
    for (int64_t i = 0; i < rows * width; ++i) is_special[i] = batch.special[i] != 0;
  }
  if (batch.special_ids != nullptr && !batch.special_ids->empty()) {
    for (int64_t b = 0; b < rows; ++b) {
      batch.special_ids->ForEachMemberRun(
          batch.values + b * width, width, [&](int64_t i, int64_t count) {
            std::memset(is_special.data() + b * width + i, 1, static_cast<size_t>(count));
          });
    }
  }
  items->item_row_splits.assign(1, 0);
  items->item_splits.clear();
  items->selectable.clear();
  items->item_splits.reserve(static_cast<size_t>(rows * width + 1));
  items->selectable.reserve(static_cast<size_t>(rows * width));
  const O* off = batch.offsets;
  for (int64_t b = 0; b < rows; ++b) {
    for (int64_t w = 0; w < width; ++w) {
      const int64_t t = b * width + w;
      const bool starts = w == 0 || off == nullptr || is_special[t] || is_special[t - 1] ||
                          off[2 * t] != off[2 * (t - 1) + 1];
      if (starts) {
        items->item_splits.push_back(t);
        items->selectable.push_back(is_special[t] ? 0 : 1);
      }
    }
    items->item_row_splits.push_back(static_cast<int64_t>(items->selectable.size()));
  }
  items->item_splits.push_back(rows * width);
}

// Dense keras_hub-style outputs, allocated by the caller: [rows * length]
// positions (ascending per row, 0-padded), original ids (0-padded) and
// weights (1 / 0): the first `length` masked tokens of each row.
template <typename T>
struct DenseMasked {
  int64_t length = 0;
  int64_t* positions = nullptr;
  T* ids = nullptr;
  float* weights = nullptr;
};

// Masks `batch` in place and writes `labels` ([rows, width]): the original
// id at every masked token, `label_fill` elsewhere. `dense` (may be null)
// also receives the dense outputs.
template <typename T, typename O>
Status MaskPaddedBatch(const PaddedBatch<T, O>& batch, const SelectionOptions& selection,
                       const ValueOptions& value_opts, const Seed& seed,
                       const ParallelFor& parallel_for, T* labels, T label_fill,
                       const DenseMasked<T>* dense) {
  TF_MLM_RETURN_IF_ERROR(ValidateDenseShape(batch.rows, batch.width, "width"));
  TF_MLM_RETURN_IF_ERROR(ValidateSelectionOptions(selection));
  TF_MLM_RETURN_IF_ERROR(ValidateValueOptions(value_opts));
  TF_MLM_RETURN_IF_ERROR(ValidateValuesFitIds<T>(value_opts));
  if (dense != nullptr)
    TF_MLM_RETURN_IF_ERROR(ValidateDenseShape(batch.rows, dense->length, "pad_to"));
  // Dense outputs keep each row's first dense->length masked tokens: no row
  // selects more items than that.
  const SelectionOptions capped =
      CapAtPadLength(selection, dense != nullptr ? dense->length : int64_t{-1});
  const int64_t rows = batch.rows, width = batch.width;
  std::vector<int64_t> positions, position_splits(static_cast<size_t>(rows + 1));
  std::vector<T> masked_ids;
  AllocateMaskOutputs<T, int64_t> allocate = [&](int64_t total, MaskOutputs<T, int64_t>* out) {
    positions.resize(static_cast<size_t>(total));
    masked_ids.resize(static_cast<size_t>(total));
    out->masked_values = batch.values;
    out->positions = positions.data();
    out->masked_ids = masked_ids.data();
    out->position_splits = position_splits.data();
    return Status::Ok();
  };
  const Span<T> values{batch.values, rows * width};
  Status masked;
  if (batch.special == nullptr && batch.offsets == nullptr) {
    // Tokens, special by id: the token pass, each padded row a row. The
    // same draws as the item pass below with one token per item.
    std::vector<int64_t> row_splits(static_cast<size_t>(rows + 1));
    for (int64_t b = 0; b <= rows; ++b) row_splits[b] = b * width;
    NestedSplits<int64_t> splits;
    splits.levels.push_back({row_splits.data(), rows + 1});
    const IdSet none;
    masked = internal::MaskTokens<T, int64_t>(
        values, splits, batch.special_ids != nullptr ? *batch.special_ids : none, capped,
        value_opts, seed, allocate, parallel_for, /*pad_length=*/-1);
  } else {
    PaddedItems items;
    GroupPaddedItems(batch, &items);
    NestedSplits<int64_t> splits;
    splits.levels.push_back({items.item_row_splits.data(), rows + 1});
    splits.levels.push_back(
        {items.item_splits.data(), static_cast<int64_t>(items.item_splits.size())});
    masked = internal::MaskWords<T, int64_t>(values, splits, 1, items.selectable.data(), capped,
                                             value_opts, seed, allocate, parallel_for,
                                             /*pad_length=*/-1);
  }
  if (!masked.ok()) return masked;
  std::fill(labels, labels + rows * width, label_fill);
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t j0 = position_splits[b], j1 = position_splits[b + 1];
    for (int64_t j = j0; j < j1; ++j) labels[b * width + positions[j]] = masked_ids[j];
    if (dense == nullptr) continue;
    const int64_t m = std::min(j1 - j0, dense->length), d0 = b * dense->length;
    for (int64_t q = 0; q < dense->length; ++q) {
      const bool kept = q < m;
      dense->positions[d0 + q] = kept ? positions[j0 + q] : 0;
      dense->ids[d0 + q] = kept ? masked_ids[j0 + q] : T{0};
      dense->weights[d0 + q] = kept ? 1.0f : 0.0f;
    }
  }
  return Status::Ok();
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_PADDED_BATCH_H_

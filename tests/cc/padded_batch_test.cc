// GroupPaddedItems and MaskPaddedBatch (cc/core/padded_batch.h): items from
// per-position special flags, special ids and character offsets; masking a
// padded batch in place with labels and dense outputs.
#include "cc/core/padded_batch.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/cc/test_util.h"

namespace tf_mlm {
namespace {

using testing::InvalidWith;

// Per token, the index of its item within its row (-1 for special tokens).
template <typename T, typename O>
std::vector<int64_t> ItemOfToken(const PaddedBatch<T, O>& batch) {
  PaddedItems items;
  GroupPaddedItems(batch, &items);
  std::vector<int64_t> out(static_cast<size_t>(batch.rows * batch.width));
  for (int64_t b = 0; b < batch.rows; ++b) {
    for (int64_t i = items.item_row_splits[b]; i < items.item_row_splits[b + 1]; ++i) {
      for (int64_t t = items.item_splits[i]; t < items.item_splits[i + 1]; ++t) {
        out[t] = items.selectable[i] ? i - items.item_row_splits[b] : -1;
      }
    }
  }
  return out;
}

TEST(GroupPaddedItemsTest, WordsFromOffsets) {
  // Row 0: [CLS] "play" "##ing" "on" [SEP] [PAD]: a word continues where the
  // previous token ends. Row 1: "a" "b" touching, then a special token
  // between two touching tokens, which still starts a new word.
  std::vector<int32_t> ids = {2, 10, 11, 12, 3, 0, 13, 14, 4, 15, 16, 0};
  std::vector<uint8_t> special = {1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1};
  std::vector<int64_t> offsets = {0, 0, 0, 4, 4, 7, 8, 10, 0, 0, 0, 0,
                                  0, 1, 1, 2, 2, 2, 2, 3,  4, 5, 0, 0};
  PaddedBatch<int32_t, int64_t> batch{ids.data(), 2, 6, special.data(), nullptr, offsets.data()};
  EXPECT_EQ(ItemOfToken(batch), (std::vector<int64_t>{-1, 1, 1, 2, -1, -1, 0, 0, -1, 2, 3, -1}));
}

TEST(GroupPaddedItemsTest, TokensAndSpecialIds) {
  std::vector<int64_t> ids = {2, 10, 11, 3, 0, 0};
  const std::vector<int64_t> special_ids = {0, 2, 3};
  const IdSet set(Span<int64_t>{special_ids.data(), 3});
  PaddedBatch<int64_t, int64_t> batch{ids.data(), 1, 6, nullptr, &set, nullptr};
  EXPECT_EQ(ItemOfToken(batch), (std::vector<int64_t>{-1, 1, 2, -1, -1, -1}));
}

TEST(MaskPaddedBatchTest, RateOneMasksEveryWordAndWritesLabels) {
  std::vector<int32_t> ids = {2, 10, 11, 12, 3, 0};
  const std::vector<int32_t> original = ids;
  std::vector<uint8_t> special = {1, 0, 0, 0, 1, 1};
  std::vector<int32_t> offsets = {0, 0, 0, 4, 4, 7, 8, 10, 0, 0, 0, 0};
  PaddedBatch<int32_t, int32_t> batch{ids.data(), 1, 6, special.data(), nullptr, offsets.data()};
  SelectionOptions selection;
  selection.selection_rate = 1.0f;
  selection.mode = SelectionMode::kBernoulli;
  ValueOptions values;
  values.vocab_size = 20;
  values.mask_token = 4;
  values.mask_token_rate = 1.0f;
  values.random_token_rate = 0.0f;
  std::vector<int32_t> labels(6);
  std::vector<int64_t> positions(4);
  std::vector<int32_t> dense_ids(4);
  std::vector<float> weights(4);
  DenseMasked<int32_t> dense{4, positions.data(), dense_ids.data(), weights.data()};
  ASSERT_TRUE(
      MaskPaddedBatch(batch, selection, values, Seed{1, 2}, SerialFor, labels.data(), -100, &dense)
          .ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 4, 4, 4, 3, 0}));
  EXPECT_EQ(labels, (std::vector<int32_t>{-100, 10, 11, 12, -100, -100}));
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3, 0}));
  EXPECT_EQ(dense_ids, (std::vector<int32_t>{10, 11, 12, 0}));
  EXPECT_EQ(weights, (std::vector<float>{1, 1, 1, 0}));
}

TEST(MaskPaddedBatchTest, SpecialIdsAndTheSameFlagsGiveTheSameBatch) {
  // By id (the token pass) or by position (the item pass): same draws.
  std::vector<int64_t> a(64 * 3);
  for (size_t i = 0; i < a.size(); ++i) a[i] = i % 64 == 0 ? 2 : static_cast<int64_t>(5 + i % 40);
  std::vector<int64_t> b = a;
  std::vector<uint8_t> special(a.size());
  for (size_t i = 0; i < a.size(); ++i) special[i] = a[i] == 2;
  const std::vector<int64_t> special_ids = {2};
  const IdSet set(Span<int64_t>{special_ids.data(), 1});
  SelectionOptions selection;
  selection.selection_rate = 0.3f;
  selection.mode = SelectionMode::kBernoulli;
  ValueOptions values;
  values.vocab_size = 50;
  values.mask_token = 4;
  std::vector<int64_t> labels_a(a.size()), labels_b(b.size());
  PaddedBatch<int64_t, int64_t> by_id{a.data(), 3, 64, nullptr, &set, nullptr};
  PaddedBatch<int64_t, int64_t> by_flag{b.data(), 3, 64, special.data(), nullptr, nullptr};
  ASSERT_TRUE((MaskPaddedBatch<int64_t, int64_t>(by_id, selection, values, Seed{7, 0}, SerialFor,
                                                 labels_a.data(), int64_t{-100}, nullptr))
                  .ok());
  ASSERT_TRUE((MaskPaddedBatch<int64_t, int64_t>(by_flag, selection, values, Seed{7, 0}, SerialFor,
                                                 labels_b.data(), int64_t{-100}, nullptr))
                  .ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(labels_a, labels_b);
}

TEST(MaskPaddedBatchTest, InvalidOptionsAreNamed) {
  std::vector<int32_t> ids = {5, 6};
  std::vector<int32_t> labels(2);
  PaddedBatch<int32_t, int64_t> batch{ids.data(), 1, 2, nullptr, nullptr, nullptr};
  SelectionOptions selection;
  ValueOptions values;
  values.vocab_size = 10;
  values.mask_token_rate = 0.9f;
  values.random_token_rate = 0.2f;
  EXPECT_TRUE(
      InvalidWith(MaskPaddedBatch<int32_t, int64_t>(batch, selection, values, Seed{}, SerialFor,
                                                    labels.data(), -100, nullptr),
                  "mask_token_rate + random_token_rate"));
  values.random_token_rate = 0.1f;
  selection.max_selections = -1;
  EXPECT_TRUE(
      InvalidWith(MaskPaddedBatch<int32_t, int64_t>(batch, selection, values, Seed{}, SerialFor,
                                                    labels.data(), -100, nullptr),
                  "max_selections"));
}

}  // namespace
}  // namespace tf_mlm

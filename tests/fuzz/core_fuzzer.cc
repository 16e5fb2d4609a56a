// libFuzzer harness for the framework-free core (cc/core): masking.h,
// ragged.h, spans.h, words.h, replacement.h.
//
// Arbitrary bytes are decoded (docs/robustness.md, "Fuzzer input format") into one call of a
// core entry point, with values, nested row splits, options, seeds and bool
// flags that are often valid, often slightly broken and sometimes garbage.
// Like the TF kernels and the pybind11 module, the harness first runs the
// core's validation and calls the algorithm only when it passes. It then
// checks what every binding relies on:
//   - no crash, no sanitizer report (build with
//     -fsanitize=fuzzer,address,undefined);
//   - every rejection is a Status with a message;
//   - accepted calls give well-formed outputs: every output slot written
//     (outputs are pre-filled with a sentinel), positions inside their row
//     and ascending, recorded ids equal to the input ids, masked values
//     changed only at recorded positions, and the same result however the
//     work is sharded.
// Build (tests/test_fuzz.py does this):
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined
//       -fno-sanitize-recover=all -I. tests/fuzz/core_fuzzer.cc -o core_fuzzer
// With -DTF_MLM_FUZZ_STANDALONE it builds without libFuzzer and runs the
// files named on its command line once each (used for the corpus replay
// under other sanitizers).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "cc/core/masking.h"
#include "cc/core/replacement.h"
#include "cc/core/spans.h"
#include "cc/core/words.h"

namespace tf_mlm {
namespace fuzz {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "core_fuzzer invariant violated: %s\n", what);
  std::abort();
}

#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) Fail(#cond); \
  } while (0)

// Sequential little-endian reader; reads past the end give zeros.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t Bytes(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(U8()) << (8 * i);
    return v;
  }
  int64_t S8() { return static_cast<int8_t>(U8()); }
  int64_t S16() { return static_cast<int16_t>(Bytes(2)); }
  // Mostly small numbers, sometimes extremes or any 64-bit value.
  int64_t Int() {
    const uint8_t kind = U8();
    switch (kind % 8) {
      case 0:
        return static_cast<int64_t>(Bytes(8));
      case 1: {
        static const int64_t kEdge[] = {std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max(),
                                        std::numeric_limits<int32_t>::min(),
                                        std::numeric_limits<int32_t>::max(),
                                        int64_t{1} << 31,
                                        int64_t{1} << 32,
                                        int64_t{1} << 40,
                                        -1};
        return kEdge[U8() % 8];
      }
      default:
        return S8();
    }
  }
  float Rate() {
    static const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                                     std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(),
                                     -0.0f,
                                     0.0f,
                                     1.0f,
                                     1.00000012f,
                                     0.99999994f,
                                     -1e-30f,
                                     1e-45f,
                                     0.15f,
                                     0.8f,
                                     0.1f,
                                     0.5f,
                                     2.0f,
                                     1e30f};
    const uint8_t b = U8();
    if (b < 32) return kSpecial[b % 16];
    return static_cast<float>(b - 32) / 223.0f;
  }
  bool done() const { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum Op : uint8_t {
  kMask = 0,        // MaskLanguageModel or (flag 64) MaskSpans, ragged or dense outputs
  kSelectable,      // ComputeSelectable
  kSelectItems,     // SelectItems
  kSelectFirstN,    // SelectFirstN
  kChooseValues,    // ChooseValues
  kGather,          // GatherMasked
  kScatter,         // ScatterMasked
  kRaggedToDense,   // RaggedToDense
  kScatterToDense,  // ScatterToDense
  kSpans,           // SelectSpans (SpanBERT)
  kGroupWords,      // GroupWords
  kReplacement,     // BuildAliasTable, ValidateReplacementOptions, ReplacementSampler
  kNumOps
};

// One element per shard, last to first: results must not depend on sharding.
void ReversedShards(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& fn) {
  for (int64_t i = n - 1; i >= 0; --i) fn(i, i + 1);
}

// Nested splits, owned. Valid by construction, then maybe corrupted, or raw.
template <typename S>
struct Ragged {
  std::vector<std::vector<S>> levels;
  int64_t num_values = 0;
  NestedSplits<S> View() const {
    NestedSplits<S> n;
    for (const auto& l : levels)
      n.levels.push_back(Span<S>{l.data(), static_cast<int64_t>(l.size())});
    return n;
  }
};

template <typename S>
Ragged<S> DecodeRagged(Reader& r, int rank) {
  Ragged<S> g;
  g.levels.resize(static_cast<size_t>(rank));
  const uint8_t mode = r.U8();
  if (mode < 200) {
    int64_t n = r.U8() % 9;  // rows
    for (int l = 0; l < rank; ++l) {
      std::vector<S>& s = g.levels[static_cast<size_t>(l)];
      s.push_back(0);
      for (int64_t i = 0; i < n; ++i) s.push_back(static_cast<S>(s.back() + r.U8() % 6));
      n = static_cast<int64_t>(s.back());
    }
    g.num_values = n;
    if (mode >= 120 && !g.levels.empty()) {  // corrupt one entry, or the value count
      const uint8_t what = r.U8();
      if (what % 4 == 0) {
        g.num_values += r.S8();
        if (g.num_values < 0) g.num_values = 0;
      } else {
        std::vector<S>& s = g.levels[r.U8() % rank];
        if (what % 4 == 1 && !s.empty()) {
          s.pop_back();
        } else if (!s.empty()) {
          s[r.U8() % s.size()] = static_cast<S>(r.Int());
        }
      }
    }
  } else {
    for (int l = 0; l < rank; ++l) {
      const int len = r.U8() % 10;
      for (int i = 0; i < len; ++i)
        g.levels[static_cast<size_t>(l)].push_back(static_cast<S>(r.Int()));
    }
    g.num_values = r.U8() % 40;
  }
  return g;
}

template <typename T>
std::vector<T> DecodeIds(Reader& r, int64_t n) {
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<T>(r.U8() < 240 ? r.S16() : r.Int());
  return v;
}

// Flags as a binding passes them: usually 0/1, sometimes any byte (TF bool
// tensors made from NumPy views can hold 2..255).
std::vector<uint8_t> DecodeFlags(Reader& r, int64_t n, bool raw_bytes) {
  std::vector<uint8_t> f(static_cast<size_t>(n));
  for (auto& x : f) x = raw_bytes ? r.U8() : (r.U8() & 1);
  return f;
}

// Options in the order the harness reads them (the corpus depends on it).
SelectionOptions DecodeSelection(Reader& r, uint8_t flags) {
  SelectionOptions sel;
  sel.max_selections = r.Int();
  sel.selection_rate = r.Rate();
  sel.mode = (flags & 8) ? SelectionMode::kBernoulli : SelectionMode::kExactCount;
  return sel;
}

ValueOptions DecodeValueOptions(Reader& r) {
  ValueOptions vo;
  vo.vocab_size = r.Int();
  vo.mask_token = r.Int();
  vo.mask_token_rate = r.Rate();
  vo.random_token_rate = r.Rate();
  return vo;
}

template <typename T>
Span<T> SpanOf(const std::vector<T>& v) {
  return Span<T>{v.data(), static_cast<int64_t>(v.size())};
}

template <typename T, typename S>
struct Outputs {
  std::vector<T> masked_values;
  std::vector<S> position_splits, positions;
  std::vector<T> masked_ids;
  std::vector<float> weights;
  bool allocated = false;
};

constexpr int64_t kSentinel = -7;  // never a valid position

// An allocator like the adapters': sizes outputs, pre-fills with sentinels.
template <typename T, typename S>
AllocateMaskOutputs<T, S> Allocate(Outputs<T, S>* o, int64_t rows, int64_t num_values, int64_t pad,
                                   bool with_values) {
  return [=](int64_t total, MaskOutputs<T, S>* out) -> Status {
    FUZZ_CHECK(!o->allocated);
    FUZZ_CHECK(total >= 0);
    o->allocated = true;
    const int64_t n = pad >= 0 ? rows * pad : total;
    if (pad >= 0) FUZZ_CHECK(total == n);
    if (with_values) {
      o->masked_values.assign(static_cast<size_t>(num_values), static_cast<T>(kSentinel));
      out->masked_values = o->masked_values.data();
    }
    o->positions.assign(static_cast<size_t>(n), static_cast<S>(kSentinel));
    o->masked_ids.assign(static_cast<size_t>(n), static_cast<T>(kSentinel));
    out->positions = o->positions.data();
    out->masked_ids = o->masked_ids.data();
    if (pad >= 0) {
      o->weights.assign(static_cast<size_t>(n), -1.0f);
      out->weights = o->weights.data();
    } else {
      o->position_splits.assign(static_cast<size_t>(rows + 1), static_cast<S>(kSentinel));
      out->position_splits = o->position_splits.data();
    }
    return Status::Ok();
  };
}

// Checks the ragged (or dense) positions / ids of a masking pass.
template <typename T, typename S>
void CheckPositions(const Outputs<T, S>& o, const std::vector<T>& values,
                    const NestedSplits<S>& splits, int64_t pad) {
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t t0 = splits.Descend(b, 0, rank), len = splits.Descend(b + 1, 0, rank) - t0;
    int64_t j0, j1;
    if (pad >= 0) {
      j0 = b * pad;
      j1 = j0 + pad;
    } else {
      j0 = o.position_splits[b];
      j1 = o.position_splits[b + 1];
      FUZZ_CHECK(j0 <= j1);
    }
    int64_t last = -1;
    bool padding = false;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t p = o.positions[j];
      if (pad >= 0) {
        FUZZ_CHECK(o.weights[j] == 0.0f || o.weights[j] == 1.0f);
        if (o.weights[j] == 0.0f) {
          padding = true;
          FUZZ_CHECK(p == 0 && o.masked_ids[j] == 0);
          continue;
        }
        FUZZ_CHECK(!padding);  // recorded slots first, then padding
      }
      FUZZ_CHECK(p >= 0 && p < len);
      FUZZ_CHECK(p > last);
      last = p;
      FUZZ_CHECK(o.masked_ids[j] == values[t0 + p]);
    }
  }
  if (pad < 0) {
    FUZZ_CHECK(o.position_splits[0] == 0);
    FUZZ_CHECK(static_cast<int64_t>(o.position_splits[rows]) ==
               static_cast<int64_t>(o.positions.size()));
  }
}

void CheckError(const Status& s) {
  FUZZ_CHECK(!s.ok());
  FUZZ_CHECK(!s.message().empty());
}

template <typename T, typename S>
void FuzzMask(Reader& r, uint8_t flags) {
  const int rank = 1 + r.U8() % 4;
  const Ragged<S> g = DecodeRagged<S>(r, rank);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const std::vector<T> unselectable = DecodeIds<T>(r, r.U8() % 5);
  const int axis = static_cast<int>(r.S8());
  SelectionOptions sel = DecodeSelection(r, flags);
  const ValueOptions vo = DecodeValueOptions(r);
  const Seed seed{r.Bytes(8), r.Bytes(8)};
  const int64_t pad = (flags & 32) ? r.Int() : -1;
  const bool spans = flags & 64;  // the span pass, with sel as its token budget
  SpanOptions span_opts;
  if (spans) {
    span_opts.p = r.Rate();
    span_opts.max_length = r.Int();
  }

  const NestedSplits<S> splits = g.View();
  const Span<T> vspan = SpanOf(values);
  // The adapters' order: splits, axis, options (selection, values), sizes.
  Status s = ValidateNestedSplits(splits, vspan.size, "row_splits");
  if (s.ok()) s = ValidateAxis(axis, splits.ragged_rank());
  if (s.ok()) s = ValidateSelectionOptions(sel);
  if (s.ok() && spans) {
    span_opts.budget = sel;
    s = ValidateSpanOptions(span_opts);
  }
  if (s.ok()) s = ValidateValueOptions(vo);
  if (!s.ok()) return CheckError(s);
  const int64_t rows = splits.num_rows();
  if (pad >= 0) {
    if (pad > 4096 || (pad > 0 && rows > (int64_t{1} << 20) / pad)) return;  // too large to fuzz
    // The adapters cap item selection; the span pass caps its budget itself.
    if (!spans && sel.max_selections > pad) sel.max_selections = pad;
  } else if (pad < -1) {
    return;  // adapters reject
  }
  const IdSet ids(SpanOf(unselectable));
  const auto run = [&](Outputs<T, S>* out, const ParallelFor& parallel_for) {
    const AllocateMaskOutputs<T, S> allocate = Allocate(out, rows, vspan.size, pad, true);
    if (spans) {
      return MaskSpans<T, S>(vspan, splits, axis, ids, span_opts, vo, seed, allocate, parallel_for,
                             pad);
    }
    return MaskLanguageModel<T, S>(vspan, splits, axis, ids, sel, vo, seed, allocate, parallel_for,
                                   pad);
  };
  Outputs<T, S> a, b;
  s = run(&a, SerialFor);
  if (!s.ok()) {
    CheckError(s);
    // Only the id-range checks (ValidateValuesFitIds) may still fail after
    // the checks above.
    FUZZ_CHECK(s.message().find("vocab_size") != std::string::npos ||
               s.message().find("mask_token must fit") != std::string::npos);
    FUZZ_CHECK(!a.allocated);
    return;
  }
  FUZZ_CHECK(a.allocated);
  CheckPositions(a, values, splits, pad);
  // masked values: written everywhere; changed only at recorded positions,
  // and then to mask_token or an id in [0, vocab_size).
  std::vector<uint8_t> recorded(values.size(), 0);
  const int r_rank = splits.ragged_rank();
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t t0 = splits.Descend(row, 0, r_rank);
    const int64_t j0 = pad >= 0 ? row * pad : static_cast<int64_t>(a.position_splits[row]);
    const int64_t j1 = pad >= 0 ? j0 + pad : static_cast<int64_t>(a.position_splits[row + 1]);
    for (int64_t j = j0; j < j1; ++j) {
      if (pad >= 0 && a.weights[j] == 0.0f) continue;
      recorded[static_cast<size_t>(t0 + a.positions[j])] = 1;
    }
  }
  for (size_t t = 0; t < values.size(); ++t) {
    if (!recorded[t]) {
      FUZZ_CHECK(a.masked_values[t] == values[t]);
    } else if (a.masked_values[t] != values[t]) {
      const int64_t v = a.masked_values[t];
      FUZZ_CHECK(v == vo.mask_token || (v >= 0 && v < vo.vocab_size));
    }
  }
  // The cap holds per row when items are tokens, and always for spans (a
  // budget of tokens).
  if ((axis == r_rank || spans) && pad < 0) {
    for (int64_t row = 0; row < rows; ++row) {
      FUZZ_CHECK(a.position_splits[row + 1] - a.position_splits[row] <= sel.max_selections);
    }
  }
  // Sharding independence.
  s = run(&b, ReversedShards);
  FUZZ_CHECK(s.ok());
  FUZZ_CHECK(a.masked_values == b.masked_values && a.positions == b.positions &&
             a.masked_ids == b.masked_ids && a.position_splits == b.position_splits &&
             a.weights == b.weights);
}

template <typename T, typename S>
void FuzzSelectable(Reader& r) {
  const int rank = 1 + r.U8() % 4;
  const Ragged<S> g = DecodeRagged<S>(r, rank);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const std::vector<T> unselectable = DecodeIds<T>(r, r.U8() % 5);
  const int axis = static_cast<int>(r.S8());
  const NestedSplits<S> splits = g.View();
  Status s = ValidateNestedSplits(splits, g.num_values, "row_splits");
  if (s.ok()) s = ValidateAxis(axis, splits.ragged_rank());
  if (!s.ok()) return CheckError(s);
  const IdSet ids(SpanOf(unselectable));
  const int64_t n = NumItems(splits, g.num_values, axis);
  std::vector<uint8_t> out(static_cast<size_t>(n), 0xAB), out2(static_cast<size_t>(n), 0xCD);
  ComputeSelectable(SpanOf(values), splits, axis, ids, out.data(), SerialFor);
  ComputeSelectable(SpanOf(values), splits, axis, ids, out2.data(), ReversedShards);
  for (uint8_t x : out) FUZZ_CHECK(x == 0 || x == 1);
  FUZZ_CHECK(out == out2);
}

// Rank-2 partition rows -> items plus one flag per item.
template <typename S>
struct Partition {
  Ragged<S> g;
  std::vector<uint8_t> flags;
};

template <typename S>
Partition<S> DecodePartition(Reader& r, bool raw_bytes) {
  Partition<S> p;
  p.g = DecodeRagged<S>(r, 1);
  int64_t n = p.g.num_values;
  if (r.U8() < 24) n = r.U8() % 40;  // flags of the wrong length
  p.flags = DecodeFlags(r, n, raw_bytes);
  return p;
}

template <typename S>
void FuzzSelectItems(Reader& r, uint8_t flags) {
  const Partition<S> p = DecodePartition<S>(r, flags & 64);
  SelectionOptions sel = DecodeSelection(r, flags);
  const Seed seed{r.Bytes(8), r.Bytes(8)};
  const Span<S> splits{p.g.levels[0].data(), static_cast<int64_t>(p.g.levels[0].size())};
  Status s = ValidateRowSplits(splits, static_cast<int64_t>(p.flags.size()), "row_splits");
  if (s.ok()) s = ValidateSelectionOptions(sel);
  if (!s.ok()) return CheckError(s);
  std::vector<uint8_t> out(p.flags.size(), 0xAB), out2(p.flags.size(), 0xCD);
  SelectItems(splits, p.flags.data(), out.data(), sel, seed, SerialFor);
  SelectItems(splits, p.flags.data(), out2.data(), sel, seed, ReversedShards);
  FUZZ_CHECK(out == out2);
  for (int64_t b = 0; b + 1 < splits.size; ++b) {
    int64_t selectable = 0, chosen = 0;
    for (int64_t i = splits[b]; i < static_cast<int64_t>(splits[b + 1]); ++i) {
      FUZZ_CHECK(out[i] == 0 || out[i] == 1);
      FUZZ_CHECK(!out[i] || p.flags[i]);
      selectable += p.flags[i] != 0;
      chosen += out[i];
    }
    FUZZ_CHECK(chosen <= sel.max_selections && chosen <= selectable);
    if (sel.mode == SelectionMode::kExactCount) {
      FUZZ_CHECK(chosen == ExactSelectionCount(selectable, sel));
    }
  }
  // In place (chosen aliasing selectable), as the core allows.
  std::vector<uint8_t> inplace = p.flags;
  SelectItems(splits, inplace.data(), inplace.data(), sel, seed, SerialFor);
  FUZZ_CHECK(inplace == out);
}

template <typename S>
void FuzzSelectFirstN(Reader& r, uint8_t flags) {
  const Partition<S> p = DecodePartition<S>(r, flags & 64);
  const int64_t n = r.Int();
  const Span<S> splits{p.g.levels[0].data(), static_cast<int64_t>(p.g.levels[0].size())};
  Status s = ValidateRowSplits(splits, static_cast<int64_t>(p.flags.size()), "row_splits");
  if (!s.ok()) return CheckError(s);
  const Span<int64_t> counts{&n, 1};
  s = ValidateFirstNCounts(splits, counts);
  if (!s.ok()) return CheckError(s);
  std::vector<uint8_t> out(p.flags.size(), 0xAB);
  SelectFirstN(splits, p.flags.data(), out.data(), counts, flags & 16);
  for (int64_t b = 0; b + 1 < splits.size; ++b) {
    int64_t chosen = 0;
    for (int64_t i = splits[b]; i < static_cast<int64_t>(splits[b + 1]); ++i) {
      FUZZ_CHECK(out[i] == 0 || out[i] == 1);
      chosen += out[i];
    }
    FUZZ_CHECK(chosen <= n);
  }
}

template <typename T, typename S>
void FuzzChooseValues(Reader& r) {
  const Ragged<S> g = DecodeRagged<S>(r, 1);
  const std::vector<T> ids = DecodeIds<T>(r, g.num_values);
  const ValueOptions vo = DecodeValueOptions(r);
  const Seed seed{r.Bytes(8), r.Bytes(8)};
  const Span<S> splits{g.levels[0].data(), static_cast<int64_t>(g.levels[0].size())};
  Status s = ValidateRowSplits(splits, g.num_values, "row_splits");
  if (s.ok()) s = ValidateValueOptions(vo);
  if (s.ok()) s = ValidateValuesFitIds<T>(vo);
  if (!s.ok()) return CheckError(s);
  std::vector<T> out(ids.size(), static_cast<T>(kSentinel)), out2(ids.size());
  ChooseValues(SpanOf(ids), splits, vo, seed, out.data(), SerialFor);
  ChooseValues(SpanOf(ids), splits, vo, seed, out2.data(), ReversedShards);
  FUZZ_CHECK(out == out2);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t v = out[i];
    FUZZ_CHECK(v == ids[i] || v == vo.mask_token || (v >= 0 && v < vo.vocab_size));
  }
}

template <typename T, typename S>
void FuzzGather(Reader& r, uint8_t flags) {
  const int rank = 1 + r.U8() % 4;
  const Ragged<S> g = DecodeRagged<S>(r, rank);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const int level = static_cast<int>(r.S8());
  const NestedSplits<S> splits = g.View();
  Status s = ValidateNestedSplits(splits, g.num_values, "row_splits");
  if (s.ok()) s = ValidateAxis(level, splits.ragged_rank());
  if (!s.ok()) return CheckError(s);
  int64_t items = NumItems(splits, g.num_values, level);
  const bool wrong_size = r.U8() < 16;
  const std::vector<uint8_t> chosen = DecodeFlags(r, wrong_size ? r.U8() % 40 : items, flags & 64);
  if (static_cast<int64_t>(chosen.size()) != items) return;  // the kernel rejects it
  const int64_t rows = splits.num_rows();
  Outputs<T, S> a, b;
  s = GatherMasked<T, S>(SpanOf(values), splits, level, chosen.data(),
                         Allocate(&a, rows, g.num_values, -1, false), SerialFor);
  FUZZ_CHECK(s.ok());
  CheckPositions(a, values, splits, -1);
  // Every token of every chosen item, and nothing else.
  int64_t expected = 0;
  for (int64_t i = 0; i < items; ++i) {
    if (chosen[i]) expected += splits.Descend(i + 1, level, rank) - splits.Descend(i, level, rank);
  }
  FUZZ_CHECK(expected == static_cast<int64_t>(a.positions.size()));
  s = GatherMasked<T, S>(SpanOf(values), splits, level, chosen.data(),
                         Allocate(&b, rows, g.num_values, -1, false), ReversedShards);
  FUZZ_CHECK(s.ok() && a.positions == b.positions && a.masked_ids == b.masked_ids &&
             a.position_splits == b.position_splits);
}

template <typename T, typename S, typename P>
void FuzzScatter(Reader& r) {
  const int rank = 1 + r.U8() % 4;
  const Ragged<S> g = DecodeRagged<S>(r, rank);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const Ragged<S> pg = DecodeRagged<S>(r, 1);
  std::vector<P> positions(static_cast<size_t>(pg.num_values));
  for (auto& p : positions) p = static_cast<P>(r.U8() < 230 ? r.U8() % 8 : r.Int());
  const std::vector<T> new_ids = DecodeIds<T>(r, r.U8() < 230 ? pg.num_values : r.U8() % 10);
  const NestedSplits<S> splits = g.View();
  Status s = ValidateNestedSplits(splits, g.num_values, "row_splits");
  if (!s.ok()) return CheckError(s);
  std::vector<T> out(values.size(), static_cast<T>(kSentinel));
  const Span<S> psplits{pg.levels[0].data(), static_cast<int64_t>(pg.levels[0].size())};
  s = ScatterMasked<T, S, P>(SpanOf(values), splits, SpanOf(positions), psplits, SpanOf(new_ids),
                             out.data());
  if (!s.ok()) return CheckError(s);
  FUZZ_CHECK(ValidateRowSplits(psplits, pg.num_values, "p").ok());
  for (size_t t = 0; t < values.size(); ++t) {
    bool is_new = false;
    for (const T& n : new_ids) is_new |= out[t] == n;
    FUZZ_CHECK(out[t] == values[t] || is_new);
  }
}

template <typename T, typename S>
void FuzzRaggedToDense(Reader& r) {
  const Ragged<S> g = DecodeRagged<S>(r, 1);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const int64_t width = r.U8() < 240 ? r.U8() % 8 : r.Int();
  const T fill = static_cast<T>(r.S8());
  const Span<S> splits{g.levels[0].data(), static_cast<int64_t>(g.levels[0].size())};
  Status s = ValidateRowSplits(splits, g.num_values, "row_splits");
  if (!s.ok()) return CheckError(s);
  if (width < 0 || width > 4096) return;  // the module rejects negative / huge widths
  const int64_t rows = splits.size - 1;
  std::vector<T> out(static_cast<size_t>(rows * width), static_cast<T>(kSentinel));
  s = RaggedToDense(SpanOf(values), splits, width, fill, out.data());
  if (!s.ok()) return CheckError(s);
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t len = splits[b + 1] - splits[b];
    for (int64_t i = 0; i < width; ++i) {
      FUZZ_CHECK(out[b * width + i] == (i < len ? values[splits[b] + i] : fill));
    }
  }
}

template <typename T, typename S, typename P>
void FuzzScatterToDense(Reader& r) {
  const Ragged<S> g = DecodeRagged<S>(r, 1);
  std::vector<P> positions(static_cast<size_t>(g.num_values));
  for (auto& p : positions) p = static_cast<P>(r.U8() < 230 ? r.U8() % 8 : r.Int());
  const std::vector<T> values = DecodeIds<T>(r, r.U8() < 230 ? g.num_values : r.U8() % 10);
  const int64_t width = r.U8() < 240 ? r.U8() % 8 : r.Int();
  const T fill = static_cast<T>(r.S8());
  const Span<S> splits{g.levels[0].data(), static_cast<int64_t>(g.levels[0].size())};
  Status s = ValidateRowSplits(splits, g.num_values, "row_splits");
  if (!s.ok()) return CheckError(s);
  if (width < 0 || width > 4096) return;
  std::vector<T> out(static_cast<size_t>((splits.size - 1) * width), static_cast<T>(kSentinel));
  s = ScatterToDense(SpanOf(positions), splits, SpanOf(values), width, fill, out.data());
  if (!s.ok()) return CheckError(s);
  // Every cell is the fill or one of the scattered values.
  for (const T& x : out) {
    FUZZ_CHECK(x == fill || std::find(values.begin(), values.end(), x) != values.end());
  }
}

template <typename S>
void FuzzSpans(Reader& r, uint8_t flags) {
  const Partition<S> p = DecodePartition<S>(r, flags & 64);
  std::vector<int64_t> tokens;
  if (r.U8() & 1) {
    const int64_t n = r.U8() < 24 ? r.U8() % 40 : static_cast<int64_t>(p.flags.size());
    for (int64_t i = 0; i < n; ++i) tokens.push_back(r.U8() < 240 ? r.U8() % 4 : r.Int());
  }
  SpanOptions o;
  o.budget = DecodeSelection(r, 0);
  o.p = r.Rate();
  o.max_length = r.Int();
  const Seed seed{r.Bytes(8), r.Bytes(8)};
  const Span<S> splits{p.g.levels[0].data(), static_cast<int64_t>(p.g.levels[0].size())};
  Status s = ValidateRowSplits(splits, static_cast<int64_t>(p.flags.size()), "row_splits");
  if (!s.ok()) return CheckError(s);
  std::vector<uint8_t> out(p.flags.size(), 0xAB), out2(p.flags.size(), 0xCD);
  s = SelectSpans(splits, p.flags.data(), SpanOf(tokens), out.data(), o, seed, SerialFor);
  if (!s.ok()) return CheckError(s);
  FUZZ_CHECK(
      SelectSpans(splits, p.flags.data(), SpanOf(tokens), out2.data(), o, seed, ReversedShards)
          .ok());
  FUZZ_CHECK(out == out2);
  for (size_t i = 0; i < out.size(); ++i) FUZZ_CHECK(out[i] == 0 || (out[i] == 1 && p.flags[i]));
}

template <typename T, typename S>
void FuzzGroupWords(Reader& r) {
  const Ragged<S> g = DecodeRagged<S>(r, 1);
  const std::vector<T> values = DecodeIds<T>(r, g.num_values);
  const std::vector<uint8_t> table = DecodeFlags(r, r.U8() % 48, true);
  const Span<S> splits{g.levels[0].data(), static_cast<int64_t>(g.levels[0].size())};
  Status s = ValidateRowSplits(splits, g.num_values, "row_splits");
  if (!s.ok()) return CheckError(s);
  std::vector<S> rows_out, words_out;
  s = GroupWords<T, S>(
      SpanOf(values), splits, SpanOf(table),
      [&](int64_t words, S** row_out, S** word_out) -> Status {
        FUZZ_CHECK(words >= 0 && words <= g.num_values);
        rows_out.assign(static_cast<size_t>(splits.size), static_cast<S>(kSentinel));
        words_out.assign(static_cast<size_t>(words + 1), static_cast<S>(kSentinel));
        *row_out = rows_out.data();
        *word_out = words_out.data();
        return Status::Ok();
      });
  FUZZ_CHECK(s.ok());
  // The result is a valid [rows, (words), (pieces)] partition of the values.
  NestedSplits<S> nested;
  nested.levels.push_back(SpanOf(rows_out));
  nested.levels.push_back(SpanOf(words_out));
  FUZZ_CHECK(ValidateNestedSplits(nested, g.num_values, "words").ok());
  for (int64_t b = 0; b + 1 < splits.size; ++b) {  // rows keep their tokens
    FUZZ_CHECK(nested.Descend(b, 0, 2) == static_cast<int64_t>(splits[b]));
  }
}

void FuzzReplacement(Reader& r) {
  const int64_t vocab = r.U8() < 230 ? 1 + r.U8() % 24 : r.Int();
  std::vector<float> weights(
      static_cast<size_t>(r.U8() < 200 ? (vocab > 0 && vocab < 64 ? vocab : 3) : r.U8() % 30));
  for (auto& w : weights) w = r.U8() < 230 ? static_cast<float>(r.U8() % 5) : r.Rate() * 1e30f;
  std::vector<int64_t> excluded;
  const int num_excluded = r.U8() % 4;
  for (int i = 0; i < num_excluded; ++i) excluded.push_back(r.U8() < 230 ? r.U8() % 26 : r.Int());
  const bool use_table = r.U8() & 1;
  std::vector<float> prob(weights.size(), -1.0f);
  std::vector<int64_t> alias(weights.size(), kSentinel);
  ReplacementOptions o;
  o.excluded = SpanOf(excluded);
  if (use_table) {
    Status s = BuildAliasTable(SpanOf(weights), prob.data(), alias.data());
    if (!s.ok()) return CheckError(s);
    for (size_t i = 0; i < prob.size(); ++i) {
      FUZZ_CHECK(prob[i] >= 0.0f && prob[i] <= 1.0f);
      FUZZ_CHECK(alias[i] >= 0 && alias[i] < static_cast<int64_t>(prob.size()));
    }
    o.alias_prob = SpanOf(prob);
    o.alias_index = SpanOf(alias);
  }
  ValueOptions vo;
  vo.vocab_size = vocab;
  vo.mask_token = 0;
  vo.mask_token_rate = 0.0f;
  vo.random_token_rate = 1.0f;
  vo.replacement = o;
  Status s = ValidateValueOptions(vo);
  if (!s.ok()) return CheckError(s);
  const ReplacementSampler sample(vocab, o);
  RowStream rng(Seed{r.Bytes(8), r.Bytes(8)}, Domain::kValues, 0);
  for (int i = 0; i < 64; ++i) {
    const int64_t id = sample(rng);
    FUZZ_CHECK(id >= 0 && id < vocab);
    if (!use_table) FUZZ_CHECK(!std::binary_search(excluded.begin(), excluded.end(), id));
  }
}

template <typename T, typename S, typename P>
void Dispatch(uint8_t op, uint8_t flags, Reader& r) {
  switch (op) {
    case kMask:
      return FuzzMask<T, S>(r, flags);
    case kSelectable:
      return FuzzSelectable<T, S>(r);
    case kSelectItems:
      return FuzzSelectItems<S>(r, flags);
    case kSelectFirstN:
      return FuzzSelectFirstN<S>(r, flags);
    case kChooseValues:
      return FuzzChooseValues<T, S>(r);
    case kGather:
      return FuzzGather<T, S>(r, flags);
    case kScatter:
      return FuzzScatter<T, S, P>(r);
    case kRaggedToDense:
      return FuzzRaggedToDense<T, S>(r);
    case kScatterToDense:
      return FuzzScatterToDense<T, S, P>(r);
    case kSpans:
      return FuzzSpans<S>(r, flags);
    case kGroupWords:
      return FuzzGroupWords<T, S>(r);
    case kReplacement:
      return FuzzReplacement(r);
    default:
      return;
  }
}

// flags: bit0 int64 ids, bit1 int64 splits, bit2 int64 positions.
template <typename T, typename S>
void DispatchP(uint8_t op, uint8_t flags, Reader& r) {
  if (flags & 4) return Dispatch<T, S, int64_t>(op, flags, r);
  return Dispatch<T, S, int32_t>(op, flags, r);
}

void Run(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t op = r.U8() % kNumOps;
  const uint8_t flags = r.U8();
  if (flags & 1) {
    if (flags & 2) return DispatchP<int64_t, int64_t>(op, flags, r);
    return DispatchP<int64_t, int32_t>(op, flags, r);
  }
  if (flags & 2) return DispatchP<int32_t, int64_t>(op, flags, r);
  return DispatchP<int32_t, int32_t>(op, flags, r);
}

}  // namespace fuzz
}  // namespace tf_mlm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tf_mlm::fuzz::Run(data, size);
  return 0;
}

#ifdef TF_MLM_FUZZ_STANDALONE
// Replays files (e.g. the committed corpus) without libFuzzer.
int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    FILE* f = std::fopen(argv[i], "rb");
    if (f == nullptr) {
      std::fprintf(stderr, "cannot open %s\n", argv[i]);
      return 2;
    }
    std::vector<uint8_t> buf;
    int c;
    while ((c = std::fgetc(f)) != EOF) buf.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
    ++runs;
  }
  std::printf("replayed %d inputs\n", runs);
  return 0;
}
#endif

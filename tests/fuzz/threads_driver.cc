// Concurrency driver for the core, meant to run under ThreadSanitizer
// (tests/test_sanitizers.py builds it with -fsanitize=thread) and under
// AddressSanitizer / LeakSanitizer or valgrind.
//
// Several std::threads call the core at once, on shared inputs, through a
// shared thread pool whose ParallelFor shards the work the way TensorFlow's
// intra-op pool does, and through per-call thread shards; every result must
// equal the single-threaded one (same seed, same output), and different
// seeds must give different masks. Exit status 0 and a summary line on
// success; a mismatch aborts with a message.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "cc/core/masking.h"

namespace tf_mlm {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "threads_driver: %s\n", what);
  std::abort();
}

// A fixed pool of workers with a task queue; ParallelFor blocks until its
// shards are done (the caller runs shards too, like Eigen's pool).
class ThreadPool {
 public:
  explicit ThreadPool(int n) {
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void ParallelFor(int64_t n, int64_t /*cost*/, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    const int64_t shards = std::min<int64_t>(n, 7);  // odd, uneven shard sizes
    const int64_t step = (n + shards - 1) / shards;
    // `pending` is only touched under done_mu: a worker that counted it
    // down outside the lock could still be about to lock done_mu when this
    // frame, and the mutex with it, is already gone (TSan saw exactly that).
    int64_t pending = 0;
    std::mutex done_mu;
    std::condition_variable done_cv;
    for (int64_t begin = step; begin < n; begin += step) {
      const int64_t end = std::min(n, begin + step);
      {
        std::lock_guard<std::mutex> lock(done_mu);
        ++pending;
      }
      Submit([&, begin, end] {
        fn(begin, end);
        std::lock_guard<std::mutex> lock(done_mu);
        if (--pending == 0) done_cv.notify_all();
      });
    }
    fn(0, std::min(n, step));
    std::unique_lock<std::mutex> lock(done_mu);
    done_cv.wait(lock, [&] { return pending == 0; });
  }

 private:
  void Submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (stop_ && tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

// Shards on fresh threads, one per shard.
void SpawnFor(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& fn) {
  std::vector<std::thread> threads;
  const int64_t step = std::max<int64_t>(1, n / 3);
  for (int64_t b = 0; b < n; b += step) threads.emplace_back(fn, b, std::min(n, b + step));
  for (auto& t : threads) t.join();
}

// A [rows, (words), (pieces)] batch with the ids of `vocab`.
struct Batch {
  std::vector<int64_t> values;
  std::vector<int64_t> word_splits, piece_splits;
  NestedSplits<int64_t> Words() const {
    NestedSplits<int64_t> s;
    s.levels.push_back({word_splits.data(), static_cast<int64_t>(word_splits.size())});
    s.levels.push_back({piece_splits.data(), static_cast<int64_t>(piece_splits.size())});
    return s;
  }
  NestedSplits<int64_t> Tokens() const {  // the same tokens, rank 1
    NestedSplits<int64_t> s;
    s.levels.push_back({token_splits.data(), static_cast<int64_t>(token_splits.size())});
    return s;
  }
  std::vector<int64_t> token_splits;  // rows -> tokens
};

Batch MakeBatch(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  Batch b;
  b.word_splits.push_back(0);
  b.piece_splits.push_back(0);
  for (int r = 0; r < rows; ++r) {
    const int words = static_cast<int>(rng() % 40);
    for (int w = 0; w < words; ++w) {
      const int pieces = 1 + static_cast<int>(rng() % 3);
      for (int p = 0; p < pieces; ++p) b.values.push_back(static_cast<int64_t>(rng() % 200));
      b.piece_splits.push_back(static_cast<int64_t>(b.values.size()));
    }
    b.word_splits.push_back(static_cast<int64_t>(b.piece_splits.size() - 1));
  }
  for (int64_t w : b.word_splits) b.token_splits.push_back(b.piece_splits[w]);
  return b;
}

struct Result {
  std::vector<int64_t> masked_values, positions, position_splits, masked_ids;
  std::vector<float> weights;
  bool operator==(const Result& o) const {
    return masked_values == o.masked_values && positions == o.positions &&
           position_splits == o.position_splits && masked_ids == o.masked_ids &&
           weights == o.weights;
  }
};

Result Mask(const Batch& batch, bool words, int64_t pad, const Seed& seed, SelectionMode mode,
            const ParallelFor& pf) {
  const NestedSplits<int64_t> splits = words ? batch.Words() : batch.Tokens();
  const int rank = splits.ragged_rank();
  const int64_t rows = splits.num_rows();
  std::vector<int64_t> special = {0, 1, 2};
  const IdSet unselectable(Span<int64_t>{special.data(), 3});
  SelectionOptions sel;
  sel.selection_rate = 0.3f;
  sel.max_selections = pad >= 0 ? std::min<int64_t>(8, pad) : 8;
  sel.mode = mode;
  ValueOptions vo;
  vo.vocab_size = 200;
  vo.mask_token = 3;
  Result r;
  const Span<int64_t> values{batch.values.data(), static_cast<int64_t>(batch.values.size())};
  const Status s = MaskLanguageModel<int64_t, int64_t>(
      values, splits, words ? 1 : rank, unselectable, sel, vo, seed,
      [&](int64_t total, MaskOutputs<int64_t, int64_t>* out) -> Status {
        const int64_t n = pad >= 0 ? rows * pad : total;
        r.masked_values.assign(batch.values.size(), -1);
        r.positions.assign(static_cast<size_t>(n), -1);
        r.masked_ids.assign(static_cast<size_t>(n), -1);
        out->masked_values = r.masked_values.data();
        out->positions = r.positions.data();
        out->masked_ids = r.masked_ids.data();
        if (pad >= 0) {
          r.weights.assign(static_cast<size_t>(n), -1.0f);
          out->weights = r.weights.data();
        } else {
          r.position_splits.assign(static_cast<size_t>(rows + 1), -1);
          out->position_splits = r.position_splits.data();
        }
        return Status::Ok();
      },
      pf, pad);
  if (!s.ok()) Fail(s.message().c_str());
  return r;
}

struct Variant {
  bool words;
  int64_t pad;
  SelectionMode mode;
};

}  // namespace
}  // namespace tf_mlm

int main(int argc, char** argv) {
  using namespace tf_mlm;
  const int num_threads = argc > 1 ? std::atoi(argv[1]) : 4;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 6;
  const Batch batch = MakeBatch(48, 7);
  const std::vector<Variant> variants = {{false, -1, SelectionMode::kExactCount},
                                         {true, -1, SelectionMode::kExactCount},
                                         {false, 5, SelectionMode::kBernoulli},
                                         {true, 6, SelectionMode::kExactCount},
                                         {false, -1, SelectionMode::kBernoulli}};
  const std::vector<Seed> seeds = {{1, 2}, {1, 3}, {0xFFFFFFFFFFFFFFFFull, 42}};
  // Reference results, single-threaded.
  std::vector<Result> ref;
  for (const Variant& v : variants) {
    for (const Seed& s : seeds) ref.push_back(Mask(batch, v.words, v.pad, s, v.mode, SerialFor));
  }
  if (ref[0] == ref[1]) Fail("different seeds gave the same mask");
  ThreadPool pool(3);
  const ParallelFor pooled = [&pool](int64_t n, int64_t cost,
                                     const std::function<void(int64_t, int64_t)>& fn) {
    pool.ParallelFor(n, cost, fn);
  };
  std::atomic<int64_t> calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < num_threads; ++t) {
    callers.emplace_back([&, t] {
      for (int it = 0; it < iterations; ++it) {
        for (size_t v = 0; v < variants.size(); ++v) {
          for (size_t s = 0; s < seeds.size(); ++s) {
            // Threads interleave variants and seeds differently.
            const size_t vi = (v + static_cast<size_t>(t)) % variants.size();
            const ParallelFor& pf = ((it + t) % 3 == 0)   ? ParallelFor(SpawnFor)
                                    : ((it + t) % 3 == 1) ? pooled
                                                          : ParallelFor(SerialFor);
            const Variant& var = variants[vi];
            const Result r = Mask(batch, var.words, var.pad, seeds[s], var.mode, pf);
            if (!(r == ref[vi * seeds.size() + s])) Fail("a concurrent result differs");
            calls.fetch_add(1);
          }
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  std::printf("threads_driver: %lld concurrent calls on %d threads equal the serial results\n",
              static_cast<long long>(calls.load()), num_threads);
  return 0;
}

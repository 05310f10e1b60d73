#include "common/plan/subset_search.h"

#include <algorithm>

#include "common/plan/planner.h"

namespace tandem {

namespace {
int WordsFor(int segments) { return (segments + 1 + 63) / 64; }
}  // namespace

uint64_t SubsetSearch::TableBytes(int workers, int segments) {
  if (workers <= 0) return 0;
  if (workers > kMaxWorkers) return UINT64_MAX;
  return static_cast<uint64_t>(workers) * (uint64_t{1} << (workers - 1)) * WordsFor(segments) * sizeof(Word);
}

bool SubsetSearch::Supported(const PlanProblem& p) {
  const int M = static_cast<int>(p.nodes.size());
  return M >= 1 && M <= kMaxWorkers && TableBytes(M, static_cast<int>(p.segments.size())) <= kMaxTableBytes;
}

SubsetSearch::SubsetSearch(const PlanProblem& p)
    : p_(p),
      S_(static_cast<int>(p.segments.size())),
      M_(static_cast<int>(p.nodes.size())),
      words_(WordsFor(static_cast<int>(p.segments.size()))) {
  const uint32_t sets = 1u << M_;
  bits_.resize(1 << 16);
  for (uint32_t x = 1; x < bits_.size(); ++x) bits_[x] = static_cast<uint8_t>(bits_[x >> 1] + (x & 1));
  offset_.resize(sets + 1);
  offset_[0] = 0;
  for (uint32_t u = 0; u < sets; ++u) offset_[u + 1] = offset_[u] + Count(u);
  table_.reset(new Word[offset_[sets] * words_]);
  alive_.assign(sets, 0);
  suffix_work_.assign(S_ + 1, 0.0);
  suffix_params_.assign(S_ + 1, 0);
  for (int s = S_ - 1; s >= 0; --s) {
    suffix_work_[s] = suffix_work_[s + 1] + p.segments[s].compute_s;
    suffix_params_[s] = suffix_params_[s + 1] + p.segments[s].param_bytes;
  }
}

void SubsetSearch::Prepare(double limit) {
  limit_ = limit;
  const int D = p_.dispatcher();
  reach_.assign(static_cast<size_t>(M_) * S_ * words_, 0);
  std::vector<int> ends;
  for (int w = 0; w < M_; ++w)
    for (int b = 0; b < S_; ++b) {
      StageEnds(p_, w, b, limit, &ends);
      Word* r = &reach_[(static_cast<size_t>(w) * S_ + b) * words_];
      for (int e : ends) r[e / 64] |= Word{1} << (e % 64);
    }
  hop_.assign(static_cast<size_t>(M_) * M_ * words_, 0);
  for (int v = 0; v < M_; ++v)
    for (int w = 0; w < M_; ++w) {
      if (v == w) continue;
      Word* h = &hop_[(static_cast<size_t>(v) * M_ + w) * words_];
      for (int e = 1; e < S_; ++e)
        if (p_.Transfer(v, w, p_.InBytes(e)) <= limit) h[e / 64] |= Word{1} << (e % 64);
    }
  first_ok_.assign(M_, 0);
  last_ok_.assign(M_, 0);
  for (int w = 0; w < M_; ++w) {
    first_ok_[w] = p_.Transfer(D, w, p_.input_bytes) <= limit;
    last_ok_[w] = p_.Transfer(w, D, p_.segments[S_ - 1].out_bytes) <= limit;
  }
}

Result<std::optional<Plan>> SubsetSearch::Within(double limit, std::chrono::steady_clock::time_point deadline) {
  Prepare(limit);
  const uint32_t sets = 1u << M_;
  const bool capacity_prune = p_.segment_time.empty();
  double total_speed = 0;
  uint64_t total_memory = 0;
  bool memory_prune = true;
  for (const auto& n : p_.nodes) {
    total_speed += n.speed;
    total_memory += n.memory_bytes;
    memory_prune &= n.memory_bytes > 0;
  }
  // Push: a processed (set, v) ORs its cuts, filtered by the hop v -> w,
  // into (set + w, w) as that cell's starts; when (set + w) comes up (sets
  // grow in numeric order, so every push into it has happened) its starts
  // become the ends its stage reaches. Sets nothing reached are skipped.
  std::fill(alive_.begin(), alive_.end(), 0);
  auto touch = [&](uint32_t set) {
    if (alive_[set]) return;
    alive_[set] = 1;
    std::fill(Cell(set, __builtin_ctz(set)), Cell(set, __builtin_ctz(set)) + Count(set) * words_, 0);
  };
  for (int w = 0; w < M_; ++w)
    if (first_ok_[w]) {
      touch(1u << w);
      Cell(1u << w, w)[0] = 1;  // starts at cut 0
    }
  const uint32_t all = sets - 1;
  std::vector<Word> starts(words_), inherited(words_), fresh(words_), keep(words_);
  for (uint32_t set = 1; set < sets; ++set) {
    if ((set & 1023) == 0 && std::chrono::steady_clock::now() > deadline) return Status::Timeout(kExactSearchTimeout);
    if (!alive_[set]) continue;
    // Cuts before which the workers outside `set` cannot finish: their
    // summed speed over the limit is all the profiled work they can do.
    // Likewise their memory against the weights left (when every worker
    // has a budget).
    int min_start = 0;
    double used_speed = 0;
    uint64_t used_memory = 0;
    for (uint32_t rest = set; rest; rest &= rest - 1) {
      const PlanNode& node = p_.nodes[__builtin_ctz(rest)];
      used_speed += node.speed;
      used_memory += node.memory_bytes;
    }
    if (capacity_prune) {
      const double capacity = limit * std::max(0.0, total_speed - used_speed) * (1 + 1e-12);
      // suffix_work_ falls with s: the first s whose remaining work fits.
      min_start = static_cast<int>(
          std::partition_point(suffix_work_.begin(), suffix_work_.end(), [&](double w) { return w > capacity; }) -
          suffix_work_.begin());
    }
    if (memory_prune) {
      const uint64_t room = total_memory - used_memory;
      min_start =
          std::max(min_start, static_cast<int>(std::partition_point(suffix_params_.begin(), suffix_params_.end(),
                                                                    [&](uint64_t w) { return w > room; }) -
                                               suffix_params_.begin()));
    }
    // Cuts kept: from min_start on (the last cut, S, always).
    const int drop = std::min(min_start, S_);
    for (int i = 0; i < words_; ++i) {
      const int first = i * 64;
      keep[i] = drop <= first ? ~Word{0} : drop >= first + 64 ? 0 : ~Word{0} << (drop - first);
    }
    for (uint32_t members = set; members; members &= members - 1) {
      const int w = __builtin_ctz(members);
      Word* cell = Cell(set, w);
      // What subsets of `set` ending on w already reached: a cut reached
      // with fewer workers dominates the same cut reached with more (every
      // continuation of the larger set is open to the smaller), so only
      // cuts new here are pushed on.
      std::fill(inherited.begin(), inherited.end(), 0);
      for (uint32_t others = set ^ (1u << w); others; others &= others - 1) {
        const uint32_t sub = set ^ (1u << __builtin_ctz(others));
        if (!alive_[sub]) continue;
        const Word* from = Cell(sub, w);
        for (int i = 0; i < words_; ++i) inherited[i] |= from[i];
      }
      for (int i = 0; i < words_; ++i) {
        starts[i] = cell[i];
        cell[i] = inherited[i];
      }
      for (int i = 0; i < words_; ++i)
        for (Word bits = starts[i]; bits; bits &= bits - 1) {
          const int b = i * 64 + __builtin_ctzll(bits);
          const Word* r = &reach_[(static_cast<size_t>(w) * S_ + b) * words_];
          for (int j = 0; j < words_; ++j) cell[j] |= r[j];
        }
      // Drop cuts the remaining workers cannot finish from (the end itself stays).
      for (int i = 0; i < words_; ++i) cell[i] &= keep[i];
      bool any = false;
      for (int i = 0; i < words_; ++i) {
        fresh[i] = cell[i] & ~inherited[i];
        any |= fresh[i] != 0;
      }
      if (!any) continue;
      if ((fresh[S_ / 64] >> (S_ % 64) & 1) && last_ok_[w]) return std::optional<Plan>(Reconstruct(set, w));
      for (uint32_t out = all & ~set; out; out &= out - 1) {
        const int x = __builtin_ctz(out);
        const Word* hop = &hop_[(static_cast<size_t>(w) * M_ + x) * words_];
        bool reach = false;
        for (int i = 0; i < words_; ++i) reach |= (fresh[i] & hop[i]) != 0;
        if (!reach) continue;
        const uint32_t next = set | (1u << x);
        touch(next);
        Word* target = Cell(next, x);
        for (int i = 0; i < words_; ++i) target[i] |= fresh[i] & hop[i];
      }
    }
  }
  return std::optional<Plan>();
}

// Walks back from (set, worker) at the last cut. A cell holds the cuts
// reached with any subset of its set that ends on its worker, so first the
// smallest subset still holding the cut, where the cut was new; there some
// predecessor (that subset less the worker, ending on another) reached a
// start from which this worker's stage ends at the cut.
Plan SubsetSearch::Reconstruct(uint32_t set, int worker) {
  auto has = [&](const Word* bits, int cut) { return (bits[cut / 64] >> (cut % 64) & 1) != 0; };
  std::vector<PlanStage> back;
  int end = S_;
  for (;;) {
    for (bool smaller = true; smaller;) {
      smaller = false;
      for (uint32_t others = set ^ (1u << worker); others && !smaller; others &= others - 1) {
        const uint32_t sub = set ^ (1u << __builtin_ctz(others));
        if (alive_[sub] && has(Cell(sub, worker), end)) set = sub, smaller = true;
      }
    }
    const uint32_t before = set ^ (1u << worker);
    int start = -1, prev = -1;
    if (before == 0) {
      start = 0;  // the first stage: only cut 0 starts one
    } else if (alive_[before]) {
      for (uint32_t rest = before; rest && start < 0; rest &= rest - 1) {
        const int v = __builtin_ctz(rest);
        const Word* from = Cell(before, v);
        const Word* hop = &hop_[(static_cast<size_t>(v) * M_ + worker) * words_];
        for (int b = 0; b < end && start < 0; ++b)
          if (has(from, b) && has(hop, b) && has(&reach_[(static_cast<size_t>(worker) * S_ + b) * words_], end))
            start = b, prev = v;
      }
    }
    if (start < 0) return Plan{};  // cannot happen; Evaluate() would reject the empty plan
    back.push_back(PlanStage{worker, start, end});
    if (before == 0) break;
    set = before;
    worker = prev;
    end = start;
  }
  std::reverse(back.begin(), back.end());
  return Plan{back};
}

}  // namespace tandem

// The exact feasibility test of `optimal`: is there a plan whose bottleneck
// is at most a limit? Dynamic programming over (set of workers used, last
// worker): for each such pair, the set of cuts a plan using exactly those
// workers, ending on that one, can have reached, as a bitset over the S + 1
// cut positions. Sets are visited in numeric order (a set after all its
// subsets); a reached pair (U, v) pushes its cuts, filtered by the link
// v -> w, to (U + w, w) for each unused w, and when U + w comes up those
// starts become the ends w's stage reaches from them. Sets nothing reached
// are skipped. Per limit, at most
//   O(2^M · M² · S/64)  (pushing cut sets along links)
// + O(2^M · M · S · S/64)  (extending a stage from each start)
// time, usually far less, and M · 2^(M-1) · ceil((S+1)/64) words of memory
// (one bitset per pair with w in U), allocated once per problem. States from
// which the unused workers cannot finish the remaining work within the
// limit are cut off (their summed speed against the profiled work left,
// their summed memory against the weights left), which is what keeps the
// search small near the optimum.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/plan/problem.h"
#include "common/util/status.h"

namespace tandem {

class SubsetSearch {
 public:
  // Table size for `workers` x `segments`, bytes.
  static uint64_t TableBytes(int workers, int segments);
  // The largest table the search allocates (a dispatcher may run on a Pi).
  static constexpr uint64_t kMaxTableBytes = uint64_t{512} << 20;
  static constexpr int kMaxWorkers = 24;

  // `p` must outlive the search and satisfy Validate(); at most kMaxWorkers
  // workers and a table of at most kMaxTableBytes (Supported()).
  explicit SubsetSearch(const PlanProblem& p);
  static bool Supported(const PlanProblem& p);

  // A plan within `limit` (the first found, not the best), none when no plan
  // is, or a Timeout error past `deadline`.
  Result<std::optional<Plan>> Within(double limit, std::chrono::steady_clock::time_point deadline);

 private:
  using Word = uint64_t;
  Word* Cell(uint32_t set, int worker) { return &table_[(offset_[set] + Count(set & ((1u << worker) - 1))) * words_]; }
  // Bits set in `x` (a table: the popcount builtin is a library call on
  // baseline x86-64).
  int Count(uint32_t x) const { return bits_[x & 0xffff] + bits_[x >> 16]; }
  void Prepare(double limit);
  Plan Reconstruct(uint32_t set, int worker);

  const PlanProblem& p_;
  const int S_, M_, words_;
  std::vector<uint64_t> offset_;  // per set: index of its first (set, worker) cell
  std::vector<uint8_t> bits_;     // bits set in each 16-bit value
  // Reachable cuts per (set, worker in set); not zeroed when allocated: a
  // set's cells are cleared when the search first reaches it.
  std::unique_ptr<Word[]> table_;
  std::vector<char> alive_;  // per set: reached by this limit's search (its cells are valid)
  // Per limit:
  std::vector<Word> reach_;              // [w][start]: ends of a stage on w from start within the limit
  std::vector<Word> hop_;                // [v][w]: cuts whose activation v -> w crosses within the limit
  std::vector<char> first_ok_;           // dispatcher -> w carries the input within the limit
  std::vector<char> last_ok_;            // w -> dispatcher carries the output within the limit
  std::vector<double> suffix_work_;      // profiled work of segments [s, S)
  std::vector<uint64_t> suffix_params_;  // weights of segments [s, S)
  double limit_ = 0;
};

}  // namespace tandem

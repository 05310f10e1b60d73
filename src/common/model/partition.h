// Balanced contiguous partitioning of a sequence of costs.
#pragma once

#include <vector>

#include "common/util/status.h"

namespace tandem {

// Splits costs[0..n) into k non-empty contiguous groups so that the largest
// group sum is as small as possible (exact, dynamic programming, O(k n^2)).
// Returns the k-1 boundaries: group j covers [b[j-1], b[j]) with b[-1] = 0 and
// b[k-1] = n. Among optimal answers, the one with the earliest boundaries.
// Errors: k < 1, or k > n.
Result<std::vector<int>> BalancedPartition(const std::vector<double>& costs, int k);

}  // namespace tandem

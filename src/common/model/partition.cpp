#include "common/model/partition.h"

#include <algorithm>
#include <limits>

namespace tandem {

Result<std::vector<int>> BalancedPartition(const std::vector<double>& costs, int k) {
  const int n = static_cast<int>(costs.size());
  if (k < 1) return Status::InvalidArgument("the number of stages must be at least 1");
  if (k > n)
    return Status::InvalidArgument("cannot make " + std::to_string(k) + " stages: the model has only " +
                                   std::to_string(n) + " segment(s) between valid cuts");
  std::vector<double> prefix(n + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + costs[i];
  const double kInf = std::numeric_limits<double>::infinity();
  // best[j][i]: smallest possible largest sum when the first i costs form j groups.
  std::vector<std::vector<double>> best(k + 1, std::vector<double>(n + 1, kInf));
  std::vector<std::vector<int>> from(k + 1, std::vector<int>(n + 1, -1));
  best[0][0] = 0;
  for (int j = 1; j <= k; ++j) {
    for (int i = j; i <= n - (k - j); ++i) {
      for (int s = j - 1; s < i; ++s) {
        if (best[j - 1][s] == kInf) continue;
        const double v = std::max(best[j - 1][s], prefix[i] - prefix[s]);
        if (v < best[j][i]) {
          best[j][i] = v;
          from[j][i] = s;
        }
      }
    }
  }
  std::vector<int> bounds(k - 1);
  int i = n;
  for (int j = k; j > 1; --j) {
    i = from[j][i];
    bounds[j - 2] = i;
  }
  return bounds;
}

}  // namespace tandem

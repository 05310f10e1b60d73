#include "common/model/chain.h"

#include <cstdio>

namespace tandem {

Result<std::vector<HostTensor>> RunChain(const std::vector<Stage*>& stages, const std::vector<HostTensor>& inputs) {
  std::vector<HostTensor> cur = inputs;
  for (size_t i = 0; i < stages.size(); ++i) {
    auto next = stages[i]->Run(cur);
    if (!next.ok()) return next.status().WithContext("stage " + std::to_string(i));
    cur = std::move(next).value();
  }
  return cur;
}

Result<Difference> CheckOutputs(const std::vector<HostTensor>& got, const std::vector<HostTensor>& ref) {
  if (got.size() != ref.size())
    return Status::InvalidArgument("got " + std::to_string(got.size()) + " outputs, reference has " +
                                   std::to_string(ref.size()));
  Difference worst;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].is_none() || ref[i].is_none()) {
      if (got[i].is_none() != ref[i].is_none())
        return Status::InvalidArgument("output " + std::to_string(i) +
                                       ": None where the reference has a tensor, or the reverse");
      continue;
    }
    auto d = CompareTensors(got[i], ref[i]);
    if (!d.ok()) return d.status().WithContext("output " + std::to_string(i));
    const double allowed = kSplitRelTolerance * d->max_abs_ref + kSplitAbsTolerance;
    if (!(d->max_abs_diff <= allowed)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "output %zu differs by %.3g (allowed %.3g, max |ref| %.3g)", i, d->max_abs_diff,
                    allowed, d->max_abs_ref);
      return Status::InvalidArgument(buf);
    }
    worst.max_abs_diff = std::max(worst.max_abs_diff, d->max_abs_diff);
    worst.max_abs_ref = std::max(worst.max_abs_ref, d->max_abs_ref);
  }
  return worst;
}

}  // namespace tandem

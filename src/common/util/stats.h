// Small statistics over samples (timings, latencies).
//
// Thread safety: pure functions.
#pragma once

#include <vector>

namespace tandem {

// The p-quantile (0 <= p <= 1) by linear interpolation between the closest
// ranks; 0 for no samples.
double Percentile(std::vector<double> samples, double p);
// Percentile(samples, 0.5): the mean of the two middle samples for an even count.
double Median(const std::vector<double>& samples);
// The arithmetic mean; 0 for no samples.
double Mean(const std::vector<double>& samples);

}  // namespace tandem

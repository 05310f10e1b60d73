// Running a chain of stages and checking it against a reference.
#pragma once

#include <vector>

#include "common/model/model.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// Feeds `inputs` (one request's: a tensor per model input) to stages[0],
// each stage's outputs to the next, and returns the last stage's outputs.
Result<std::vector<HostTensor>> RunChain(const std::vector<Stage*>& stages, const std::vector<HostTensor>& inputs);

// The tolerance a split must meet: freezing folds batch norm, so bit-equality
// is not expected, but max |out - ref| <= 1e-4 * max |ref| + 1e-5 per output.
constexpr double kSplitRelTolerance = 1e-4;
constexpr double kSplitAbsTolerance = 1e-5;

// Compares flattened outputs element by element (kNone must match kNone).
// Returns the worst difference; an error when counts, dtypes or shapes
// differ or any element is out of tolerance.
Result<Difference> CheckOutputs(const std::vector<HostTensor>& got, const std::vector<HostTensor>& ref);

}  // namespace tandem

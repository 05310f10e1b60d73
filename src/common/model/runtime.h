// The process's compute runtime: how LibTorch and the allocator are set up
// for running stages. Called by tandem-worker and tandem-dispatcher at
// start-up, so that stages are timed where they run under the same settings.
#pragma once

#include <string>

namespace tandem {

// Keeps memory freed by one model run for the next: blocks up to 32 MiB stay
// on the heap and up to 128 MiB of free heap is kept. glibc's defaults hand
// activations of megabytes back to the kernel between runs (large blocks are
// mmap'd, a free heap top is trimmed), and every run page-faults them in
// again: on a 0.15-CPU emulated node ResNet-50's first stage took 185 ms
// instead of 110. Every thread also allocates from the one main heap (one
// malloc arena): a thread of its own (a worker's compute thread) otherwise
// gets an arena of 64 MiB heaps that glibc unmaps or shrinks as they empty,
// whatever the limits above, and the faults come back (VGG-16's first 8
// nodes on such a node: 939 ms per request in a worker, 770 with one arena,
// 725 profiled). Call once at start-up, before any other thread starts (the
// worker runs stages, the dispatcher profiles them: both must see the same
// costs). Where a limit does not apply (32-bit) the default stays.
void KeepActivationMemory();

// Sets LibTorch's intra-op thread count for this process; n <= 0 means one
// per core. Inter-op parallelism is set to 1 the first time: stages run one
// graph at a time.
void SetComputeThreads(int n);
// The intra-op thread count in effect.
int GetComputeThreads();
// A short description of the compute library: "LibTorch 1.13.1".
std::string ComputeLibraryVersion();

}  // namespace tandem

// LibTorch's thread settings and glibc's allocator settings (only
// ATen/Parallel.h of LibTorch: this file stays light to compile).
#include "common/model/runtime.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <malloc.h>
#include <torch/version.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace tandem {

namespace {
std::once_flag g_interop_once;
}  // namespace

void KeepActivationMemory() {
#ifdef M_TRIM_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
#ifdef M_ARENA_MAX
  mallopt(M_ARENA_MAX, 1);
#endif
}

void SetComputeThreads(int n) {
  std::call_once(g_interop_once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already fixed by earlier parallel work; harmless.
    }
  });
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  // OpenBLAS (pthreads build) keeps its own pool of one thread per core and
  // ignores LibTorch's setting; its idle threads spin. Hold it to the same
  // count when it is the BLAS in this process.
  using SetBlasThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetBlasThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

int GetComputeThreads() { return at::get_num_threads(); }

std::string ComputeLibraryVersion() { return std::string("LibTorch ") + TORCH_VERSION; }

}  // namespace tandem

#pragma once
// Per-thread scratch for packed activations: grows to the largest request, 64-byte aligned, reused
// so steady-state matmul calls do not allocate.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace llmchain::kernels {

struct ScratchBuffer {
  std::unique_ptr<uint8_t[]> mem;
  size_t size = 0;
  uint8_t* get(size_t n) {
    if (n + 64 > size) {
      size = n + 64;
      mem.reset(new uint8_t[size]);
    }
    auto p = reinterpret_cast<uintptr_t>(mem.get());
    return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});
  }
};

}  // namespace llmchain::kernels

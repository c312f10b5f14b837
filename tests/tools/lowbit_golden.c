// The llama.cpp side of tests/unit/kernels/low_bit_types_test.cpp's goldens: dequantizes
// pseudo-random Q2_K, Q3_K, IQ4_NL and IQ4_XS blocks with llama.cpp's own ggml-quants.c and
// prints, per type, an FNV-1a hash of the resulting floats' bits (plus the first and last
// value). The test builds the same blocks (same splitmix64 stream) and dequantizes them with
// llmchain; equal hashes mean bit-identical values. To regenerate, with llama.cpp's source
// from npm's node-llama-cpp (bench/reference: npm ci --ignore-scripts, then
// git clone node_modules/node-llama-cpp/llama/gitRelease.bundle llama.cpp):
//   L=llama.cpp/ggml; gcc -O1 -I$L/include -I$L/src tests/tools/lowbit_golden.c $L/src/ggml-quants.c -lm \
//     -o lowbit_golden && ./lowbit_golden
// Last run: llama.cpp 80fb11a (node-llama-cpp 3.21.1).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"
#include "ggml-common.h"
#include "ggml-quants.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {  // splitmix64
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Random bytes, with every fp16 field set to a finite value of moderate size.
static void fill(uint8_t* p, size_t n) { for (size_t i = 0; i < n; ++i) p[i] = (uint8_t)next(); }
static uint16_t half(void) {
  const uint16_t mag = (uint16_t)(0x2000 + next() % 0x2800);  // 2^-7 .. 2^3
  const uint16_t sign = (uint16_t)((next() & 1) << 15);
  return mag | sign;
}
static uint64_t fnv(const float* y, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const uint8_t* b = (const uint8_t*)y;
  for (size_t i = 0; i < n * 4; ++i) { h ^= b[i]; h *= 1099511628211ull; }
  return h;
}
void ggml_abort(const char* file, int line, const char* fmt, ...) { fprintf(stderr, "abort %s:%d %s\n", file, line, fmt); abort(); }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
const char* ggml_type_name(enum ggml_type type) { (void)type; return "?"; }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }

enum { NB = 64 };
int main(void) {
  static float y[NB * 256];
  {
    static block_q2_K b[NB]; fill((uint8_t*)b, sizeof b);
    for (int i = 0; i < NB; ++i) { b[i].d = half(); b[i].dmin = half(); }
    dequantize_row_q2_K(b, y, NB * 256);
    printf("Q2_K %016llx %.9g %.9g\n", (unsigned long long)fnv(y, NB * 256), y[0], y[NB * 256 - 1]);
  }
  {
    static block_q3_K b[NB]; fill((uint8_t*)b, sizeof b);
    for (int i = 0; i < NB; ++i) b[i].d = half();
    dequantize_row_q3_K(b, y, NB * 256);
    printf("Q3_K %016llx %.9g %.9g\n", (unsigned long long)fnv(y, NB * 256), y[0], y[NB * 256 - 1]);
  }
  {
    static block_iq4_nl b[NB * 8]; fill((uint8_t*)b, sizeof b);
    for (int i = 0; i < NB * 8; ++i) b[i].d = half();
    dequantize_row_iq4_nl(b, y, NB * 256);
    printf("IQ4_NL %016llx %.9g %.9g\n", (unsigned long long)fnv(y, NB * 256), y[0], y[NB * 256 - 1]);
  }
  {
    static block_iq4_xs b[NB]; fill((uint8_t*)b, sizeof b);
    for (int i = 0; i < NB; ++i) b[i].d = half();
    dequantize_row_iq4_xs(b, y, NB * 256);
    printf("IQ4_XS %016llx %.9g %.9g\n", (unsigned long long)fnv(y, NB * 256), y[0], y[NB * 256 - 1]);
  }
  return 0;
}

/* test_fuzz_safetensors.c — the safetensors fuzz target (tests/fuzz/fuzz_safetensors.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_safetensors.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("safetensors", am_fuzz_safetensors); }

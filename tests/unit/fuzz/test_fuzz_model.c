/* test_fuzz_model.c — the model fuzz target (tests/fuzz/fuzz_model.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_model.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("model", am_fuzz_model); }

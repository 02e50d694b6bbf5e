/* test_fuzz_template.c — the template fuzz target (tests/fuzz/fuzz_template.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_template.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("template", am_fuzz_template); }

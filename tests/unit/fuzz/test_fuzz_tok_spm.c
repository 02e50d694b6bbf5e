/* test_fuzz_tok_spm.c — the tok_spm fuzz target (tests/fuzz/fuzz_tok_spm.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_tok_spm.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("tok_spm", am_fuzz_tok_spm); }

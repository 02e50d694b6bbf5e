/* test_fuzz_tok_encode.c — the tok_encode fuzz target (tests/fuzz/fuzz_tok_encode.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_tok_encode.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("tok_encode", am_fuzz_tok_encode); }

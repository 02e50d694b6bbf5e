/* test_fuzz_tok_json.c — the tok_json fuzz target (tests/fuzz/fuzz_tok_json.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_tok_json.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("tok_json", am_fuzz_tok_json); }

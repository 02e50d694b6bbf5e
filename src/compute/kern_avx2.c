/*
 * kern_avx2.c — AVX2 + FMA + F16C kernels. Compiled with those flags; reached
 * only through dispatch.c after a CPUID check.
 */
#include "compute/kernels.h"

void am_kernels_init_avx2(am_kernels *k) { k->name = "avx2"; }

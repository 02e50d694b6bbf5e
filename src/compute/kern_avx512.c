/*
 * kern_avx512.c — AVX-512 (F/BW/DQ/VL) + VNNI + BF16 kernels. Compiled with
 * those flags; reached only through dispatch.c after a CPUID check.
 */
#include "compute/kernels.h"

void am_kernels_init_avx512(am_kernels *k) { k->name = "avx512"; }

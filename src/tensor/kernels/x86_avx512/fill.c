/* fill.c - the AVX-512 table filler (kernels come in later files; until then AVX2 ones stay). */
#include "tensor/kernels/kernels.h"

void kernels_fill_avx512(kernel_entry *t) { (void)t; }

// Memory advice for the evaluator's large buffers (include/lstm_kernels.h).
#define _GNU_SOURCE
#include "lstm_kernels.h"

#include <stdint.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

void lstmk_prefer_huge_pages(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Only buffers of 8 MiB or more: the advice covers the 2 MiB-aligned inside of the
    // buffer, and a small one has none. Failure (no THP in this kernel) changes nothing.
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!p || bytes < 4 * huge) return;
    const uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

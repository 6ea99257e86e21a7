/* shared/alloc.c: allocation that logs and aborts on failure (see shared/alloc.h). */
#include "shared/alloc.h"

#include <stdlib.h>
#include <unistd.h>

static void out_of_memory(void) __attribute__((noreturn));
static void out_of_memory(void)
{
    static const char msg[] = "mod_pyhost: out of memory; the process aborts\n";
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more can be said */
    }
    abort();
}

void *pyhost_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

void *pyhost_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

void *pyhost_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        out_of_memory();
    }
    return q;
}

/* shared/alloc.h: the one out-of-memory policy of mod_pyhost's own C code.
 *
 * Memory from APR pools already follows it: an APR pool that cannot allocate calls its abort
 * function, and httpd's aborts the process. Memory outside pools (per-thread tables,
 * connection records, frame buffers) is taken with these functions, which do the same: log
 * one line to the error log (stderr, written without allocating) and abort(). A process that
 * cannot allocate a few hundred bytes cannot answer a request correctly, and carrying on with
 * a NULL only moves the crash somewhere harder to read; Apache's parent (or, for a daemon
 * process, the parent's supervision) replaces the process. Python's allocations are
 * Python's: a MemoryError there is an exception like any other. */
#ifndef PYHOST_ALLOC_H
#define PYHOST_ALLOC_H

#include <stddef.h>

void *pyhost_xmalloc(size_t size);
void *pyhost_xcalloc(size_t n, size_t size);
void *pyhost_xrealloc(void *p, size_t size);

#endif

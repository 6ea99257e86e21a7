/* shared/protocol.c: the contents of the daemon protocol's messages (see shared/protocol.h).
 *
 * Owns the encoding of environ pairs in a REQUEST (one byte for a known key, the name
 * otherwise) and their checked walk on the daemon's side, and the rings' memory: the copies
 * in and out of the request body's part, and the handshake on the control block for the
 * response's (a futex word, so a daemon waiting for room sleeps and Apache wakes it only
 * when it does wait). */
#include "shared/protocol.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void pyhost_pair_add(pyhost_buf *b, unsigned id, const char *key, apr_size_t klen, const char *val,
                     apr_size_t vlen)
{
    uint32_t vl = (uint32_t)vlen;
    char *p;
    pyhost_buf_reserve(b, 1 + 2 + klen + 4 + vlen);
    p = b->data + b->len;
    *p++ = (char)id;
    if (id == PYHOST_K_OTHER) {
        uint16_t kl = (uint16_t)klen;
        memcpy(p, &kl, 2);
        memcpy(p + 2, key, klen);
        p += 2 + klen;
    }
    memcpy(p, &vl, 4);
    memcpy(p + 4, val, vlen);
    b->len = (apr_size_t)(p + 4 + vlen - b->data);
}

int pyhost_pairs_walk(const char *p, apr_size_t len, uint32_t npairs, pyhost_env_fn fn, void *ctx)
{
    const char *end = p + len;
    uint32_t n;
    for (n = 0; n < npairs; n++) {
        unsigned id;
        const char *key;
        apr_size_t klen;
        uint32_t vl;
        if (p >= end) {
            return -1;
        }
        id = (uint8_t)*p++;
        if (id == PYHOST_K_OTHER) {
            uint16_t kl;
            if (end - p < 2) {
                return -1;
            }
            memcpy(&kl, p, 2);
            p += 2;
            if ((apr_size_t)(end - p) < kl) {
                return -1;
            }
            key = p;
            klen = kl;
            p += kl;
        }
        else if (id < PYHOST_K_COUNT) {
            key = pyhost_key_names[id];
            klen = pyhost_key_lens[id];
        }
        else {
            return -1;
        }
        if (end - p < 4) {
            return -1;
        }
        memcpy(&vl, p, 4);
        p += 4;
        if ((apr_size_t)(end - p) < vl) {
            return -1;
        }
        fn(ctx, id, key, klen, p, vl);
        p += vl;
    }
    return p == end ? 0 : -1;
}

#define RING_MAP (PYHOST_RING_CTL + PYHOST_RING_SIZE + PYHOST_IN_RING_SIZE)

pyhost_ring_ctl *pyhost_ring_map(int fd)
{
    void *m = mmap(NULL, RING_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return m == MAP_FAILED ? NULL : m;
}

void pyhost_ring_unmap(pyhost_ring_ctl *ring)
{
    if (ring) {
        munmap(ring, RING_MAP);
    }
}

int pyhost_ring_create(pyhost_ring_ctl **ring)
{
    int fd = memfd_create("pyhost-ring", MFD_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    if (ftruncate(fd, RING_MAP) < 0 || !(*ring = pyhost_ring_map(fd))) {
        close(fd);
        return -1;
    }
    return fd;
}

void pyhost_ring_release(pyhost_ring_ctl *ring, uint64_t end)
{
    uint64_t want;
    __atomic_store_n(&ring->done, end, __ATOMIC_SEQ_CST);
    want = __atomic_load_n(&ring->want, __ATOMIC_SEQ_CST);
    if (want && end >= want &&
        __atomic_compare_exchange_n(&ring->want, &want, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        __atomic_add_fetch(&ring->seq, 1, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, &ring->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

int pyhost_ring_wait(pyhost_ring_ctl *ring, uint64_t need, uint64_t want, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    uint32_t seq = __atomic_load_n(&ring->seq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ring->done, __ATOMIC_SEQ_CST) >= need) {
        return 1;
    }
    /* said before looking again: a release from now on sees it and bumps seq, so the wait
     * below returns at once rather than missing the wake */
    __atomic_store_n(&ring->want, want, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ring->done, __ATOMIC_SEQ_CST) < want) {
        syscall(SYS_futex, &ring->seq, FUTEX_WAIT, seq, &ts, NULL, 0);
    }
    __atomic_store_n(&ring->want, 0, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&ring->done, __ATOMIC_SEQ_CST) >= need;
}

static char *in_part(const pyhost_ring_ctl *ring)
{
    return (char *)ring + PYHOST_RING_CTL + PYHOST_RING_SIZE;
}

/* Where n bytes at position at begin in the request body's part, and how many of them fit
 * before its end (the rest go at its start). */
static apr_size_t in_span(uint64_t at, apr_size_t n, apr_size_t *off)
{
    *off = (apr_size_t)(at % PYHOST_IN_RING_SIZE);
    return n < PYHOST_IN_RING_SIZE - *off ? n : PYHOST_IN_RING_SIZE - *off;
}

void pyhost_ring_put(pyhost_ring_ctl *ring, uint64_t at, const char *from, apr_size_t n)
{
    apr_size_t off, first = in_span(at, n, &off);
    memcpy(in_part(ring) + off, from, first);
    memcpy(in_part(ring), from + first, n - first);
}

void pyhost_ring_get(const pyhost_ring_ctl *ring, uint64_t at, char *to, apr_size_t n)
{
    apr_size_t off, first = in_span(at, n, &off);
    memcpy(to, in_part(ring) + off, first);
    memcpy(to + first, in_part(ring), n - first);
}

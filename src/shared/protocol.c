/* shared/protocol.c: the contents of the daemon protocol's messages (see shared/protocol.h).
 *
 * Owns the encoding of environ pairs in a REQUEST (one byte for a known key, the name
 * otherwise) and their checked walk on the daemon's side. */
#include "shared/protocol.h"

#include <string.h>

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

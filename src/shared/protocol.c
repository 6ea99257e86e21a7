/* shared/protocol.c: frames, buffers and socket I/O of the daemon protocol (see shared/protocol.h).
 *
 * Owns the growable buffers frames are built in, the encoding of environ pairs (one byte for
 * a known key, the name otherwise), and the two system calls of the protocol: sendmsg of a
 * whole request or response (with a file descriptor when there is one) and recvmsg. */
#include "shared/protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void pyhost_buf_reserve(pyhost_buf *b, apr_size_t more)
{
    if (b->len + more > b->cap) {
        apr_size_t cap = b->cap ? b->cap : 4096;
        char *d;
        while (cap < b->len + more) {
            cap *= 2;
        }
        d = realloc(b->data, cap);
        if (!d) {
            abort();
        }
        b->data = d;
        b->cap = cap;
    }
}

void pyhost_buf_add(pyhost_buf *b, const void *data, apr_size_t len)
{
    pyhost_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void pyhost_buf_free(pyhost_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

apr_size_t pyhost_frame_begin(pyhost_buf *b, int type, int flags, int aux)
{
    pyhost_frame f;
    apr_size_t at = b->len;
    f.type = (uint8_t)type;
    f.flags = (uint8_t)flags;
    f.aux = (uint16_t)aux;
    f.len = 0;
    pyhost_buf_add(b, &f, sizeof(f));
    return at;
}

void pyhost_frame_end(pyhost_buf *b, apr_size_t at)
{
    uint32_t len = (uint32_t)(b->len - at - sizeof(pyhost_frame));
    memcpy(b->data + at + offsetof(pyhost_frame, len), &len, sizeof(len));
}

void pyhost_frame_add(pyhost_buf *b, int type, int flags, int aux, const void *payload,
                      apr_size_t len)
{
    apr_size_t at = pyhost_frame_begin(b, type, flags, aux);
    if (len) {
        pyhost_buf_add(b, payload, len);
    }
    pyhost_frame_end(b, at);
}

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

int pyhost_sendv(int sock, struct iovec *iov, int n, int fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    while (n > 0) {
        struct msghdr msg;
        ssize_t w;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        if (fd >= 0) {
            struct cmsghdr *cm;
            memset(control, 0, sizeof(control));
            msg.msg_control = control;
            msg.msg_controllen = sizeof(control);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        w = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        fd = -1; /* sent with the first byte */
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

apr_ssize_t pyhost_recv(int sock, char *buf, apr_size_t len, int *fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov;
    struct msghdr msg;
    ssize_t r;
    struct cmsghdr *cm;
    iov.iov_base = buf;
    iov.iov_len = len;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    do {
        r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return -1;
    }
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int got;
            memcpy(&got, CMSG_DATA(cm), sizeof(int));
            if (*fd >= 0) {
                close(*fd);
            }
            *fd = got;
        }
    }
    return r;
}

/* shared/codec.c: frames, buffers and socket I/O of the wire format (see shared/codec.h).
 *
 * The reader is the only code that reads a connection, on either side. It keeps one buffer
 * per connection: a read asks the socket for at least its chunk, so that a whole small
 * response (or request) with the frames after it comes in one system call; a held payload is
 * made contiguous in that buffer; a streamed payload is handed out as it arrives. A read
 * that ends the stream is named for where it ended (between frames, or inside one), so the
 * caller can tell a peer that closed an idle connection from one that died mid-message. */
#include "shared/codec.h"
#include "shared/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A streamed payload read of at least this many bytes, with nothing buffered, goes straight
 * into the caller's buffer (one copy fewer); a smaller one goes through the reader's buffer,
 * so the frame headers after it come in the same system call. */
#define DIRECT_READ 4096

void pyhost_buf_reserve(pyhost_buf *b, apr_size_t more)
{
    if (b->len + more > b->cap) {
        apr_size_t cap = b->cap ? b->cap : 4096; /* a page: most frames fit the first */
        while (cap < b->len + more) {
            cap *= 2;
        }
        b->data = pyhost_xrealloc(b->data, cap);
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

/* ---- the reader -------------------------------------------------------------------------- */

void pyhost_reader_init(pyhost_reader *rd, int fd, int take_fds, apr_size_t chunk)
{
    memset(rd, 0, sizeof(*rd));
    rd->fd = fd;
    rd->take_fds = take_fds;
    rd->chunk = chunk;
    rd->passed_fd = -1;
    rd->limit = PYHOST_FRAME_MAX;
}

void pyhost_reader_reset(pyhost_reader *rd, int fd)
{
    if (rd->passed_fd >= 0) {
        close(rd->passed_fd);
    }
    rd->passed_fd = -1;
    rd->fd = fd;
    rd->pos = rd->in.len = 0;
    rd->left = 0;
    rd->err = 0;
}

void pyhost_reader_free(pyhost_reader *rd)
{
    pyhost_reader_reset(rd, -1);
    pyhost_buf_free(&rd->in);
}

/* One read from the socket into the n buffers of iov: the count, 0 at the end, -1 with errno. A
 * descriptor that arrives is kept in rd->passed_fd (one that was there is closed: only the
 * latest FILE frame's is wanted). */
static ssize_t sock_readv(pyhost_reader *rd, struct iovec *iov, int n)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg;
    struct cmsghdr *cm;
    ssize_t r;
    if (!rd->take_fds) {
        do {
            r = n == 1 ? read(rd->fd, iov->iov_base, iov->iov_len) : readv(rd->fd, iov, n);
        } while (r < 0 && errno == EINTR);
        return r;
    }
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)n;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    do {
        r = recvmsg(rd->fd, &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return -1;
    }
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int got;
            memcpy(&got, CMSG_DATA(cm), sizeof(int));
            if (rd->passed_fd >= 0) {
                close(rd->passed_fd);
            }
            rd->passed_fd = got;
        }
    }
    return r;
}

static ssize_t sock_read(pyhost_reader *rd, char *buf, apr_size_t len)
{
    struct iovec iov = {buf, len};
    return sock_readv(rd, &iov, 1);
}

/* Makes n unread bytes available at in.data + pos. at_boundary: the stream may end here
 * between frames. */
static pyhost_read_result need(pyhost_reader *rd, apr_size_t n, int at_boundary)
{
    while (rd->in.len - rd->pos < n) {
        ssize_t r;
        if (rd->pos) {
            memmove(rd->in.data, rd->in.data + rd->pos, rd->in.len - rd->pos);
            rd->in.len -= rd->pos;
            rd->pos = 0;
        }
        pyhost_buf_reserve(&rd->in, n > rd->chunk ? n : rd->chunk);
        r = sock_read(rd, rd->in.data + rd->in.len, rd->in.cap - rd->in.len);
        if (r < 0) {
            rd->err = errno;
            return PYHOST_READ_FAILED;
        }
        if (r == 0) {
            return at_boundary && rd->in.len == rd->pos ? PYHOST_READ_END : PYHOST_READ_TRUNCATED;
        }
        rd->in.len += (apr_size_t)r;
    }
    return PYHOST_READ_OK;
}

pyhost_read_result pyhost_read_frame(pyhost_reader *rd, pyhost_frame *f)
{
    pyhost_read_result res;
    while (rd->left) {
        const char *p;
        apr_size_t n;
        if ((res = pyhost_read_some(rd, rd->left, &p, &n)) != PYHOST_READ_OK) {
            return res;
        }
    }
    if ((res = need(rd, sizeof(*f), 1)) != PYHOST_READ_OK) {
        return res;
    }
    memcpy(f, rd->in.data + rd->pos, sizeof(*f));
    rd->pos += sizeof(*f);
    if (PYHOST_FRAME_STREAMED(f->type)) {
        rd->left = f->len;
        return PYHOST_READ_OK;
    }
    if (f->len > rd->limit) {
        return PYHOST_READ_OVERSIZED;
    }
    return need(rd, f->len, 0);
}

const char *pyhost_reader_payload(const pyhost_reader *rd)
{
    return rd->in.data + rd->pos;
}

void pyhost_reader_skip(pyhost_reader *rd, apr_size_t n)
{
    rd->pos += n;
}

pyhost_read_result pyhost_read_some(pyhost_reader *rd, apr_size_t max, const char **p,
                                    apr_size_t *n)
{
    pyhost_read_result res;
    apr_size_t avail;
    *n = 0;
    if (max > rd->left) {
        max = rd->left;
    }
    if (!max) {
        return PYHOST_READ_OK;
    }
    if (rd->pos == rd->in.len && (res = need(rd, 1, 0)) != PYHOST_READ_OK) {
        return res;
    }
    avail = rd->in.len - rd->pos;
    *n = avail < max ? avail : max;
    *p = rd->in.data + rd->pos;
    rd->pos += *n;
    rd->left -= *n;
    return PYHOST_READ_OK;
}

pyhost_read_result pyhost_read_into(pyhost_reader *rd, char *buf, apr_size_t max, apr_size_t *n)
{
    const char *p;
    pyhost_read_result res;
    if (max > rd->left) {
        max = rd->left;
    }
    if (rd->pos == rd->in.len && max >= DIRECT_READ) {
        /* Reading to the payload's end, the next frame's header comes in the same call, into
         * the reader's buffer: the next payload is then read straight again, and a stream of
         * large frames costs one system call and no copy per frame. */
        struct iovec iov[2] = {{buf, max}, {NULL, 0}};
        int niov = 1;
        ssize_t r;
        rd->pos = rd->in.len = 0;
        if (max == rd->left) {
            pyhost_buf_reserve(&rd->in, sizeof(pyhost_frame));
            iov[1].iov_base = rd->in.data;
            iov[1].iov_len = sizeof(pyhost_frame);
            niov = 2;
        }
        r = sock_readv(rd, iov, niov);
        *n = 0;
        if (r < 0) {
            rd->err = errno;
            return PYHOST_READ_FAILED;
        }
        if (r == 0) {
            return PYHOST_READ_TRUNCATED;
        }
        *n = (apr_size_t)r > max ? max : (apr_size_t)r;
        rd->in.len = (apr_size_t)r - *n;
        rd->left -= *n;
        return PYHOST_READ_OK;
    }
    res = pyhost_read_some(rd, max, &p, n);
    if (res == PYHOST_READ_OK && *n) {
        memcpy(buf, p, *n);
    }
    return res;
}

apr_size_t pyhost_reader_left(const pyhost_reader *rd)
{
    return rd->left;
}

apr_size_t pyhost_reader_buffered(const pyhost_reader *rd)
{
    return rd->in.len - rd->pos;
}

int pyhost_read_errno(const pyhost_reader *rd, pyhost_read_result res)
{
    switch (res) {
    case PYHOST_READ_FAILED:
        return rd->err;
    case PYHOST_READ_OVERSIZED:
        return EPROTO;
    default:
        return 0;
    }
}

const char *pyhost_read_result_name(pyhost_read_result res)
{
    static const char *const names[] = {"OK", "END", "TRUNCATED", "OVERSIZED", "FAILED"};
    return (unsigned)res < sizeof(names) / sizeof(names[0]) ? names[res] : "?";
}

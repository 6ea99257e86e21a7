/* tests/unit/codec_test.c: drives shared/codec.c's reader over a real socket, for
 * tests/test_codec.py.
 *
 *   codec-test CHUNK WAY SPLIT < stream
 *
 * Reads the byte stream from stdin, writes it into one end of a UNIX socket pair and decodes
 * it from the other with a pyhost_reader asking for CHUNK bytes a read. WAY says how
 * streamed payloads are taken: "some" (pyhost_read_some, as Apache's side does) or "into"
 * (pyhost_read_into with a 5000-byte buffer, as a daemon's wsgi.input does, which reads
 * straight into it when nothing is buffered). SPLIT says how the stream is written: "whole"
 * at once, "bytes" one byte at a time, or "every": once per split point k (the first k bytes,
 * then the rest), one output line per k. Each write after the first waits until the reader
 * has taken everything before it, so a split point is a real boundary between two reads.
 *
 * Output, per decoding: each frame as TYPE/FLAGS/AUX/LEN:PAYLOAD-HEX, then the result that
 * ended the stream (END, TRUNCATED, OVERSIZED, FAILED), separated by spaces. */
#include "shared/codec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;   /* the writing end */
    int peer; /* the reading end, for FIONREAD */
    const unsigned char *data;
    size_t len;
    size_t *cuts; /* write boundaries, ascending, ending with len */
    size_t ncuts;
    int done; /* the reader has stopped */
} writer;

/* Waits until the reader has taken everything written (or has stopped reading). */
static void wait_taken(writer *w)
{
    int unread;
    while (!__atomic_load_n(&w->done, __ATOMIC_SEQ_CST) && ioctl(w->peer, FIONREAD, &unread) == 0 &&
           unread > 0) {
        usleep(50);
    }
}

static void *write_main(void *arg)
{
    writer *w = arg;
    size_t at = 0, i;
    for (i = 0; i < w->ncuts; i++) {
        size_t end = w->cuts[i];
        while (at < end) {
            ssize_t n = write(w->fd, w->data + at, end - at);
            if (n <= 0) {
                goto out;
            }
            at += (size_t)n;
        }
        wait_taken(w);
    }
out:
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

static void hex(FILE *out, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        fprintf(out, "%02x", (unsigned char)p[i]);
    }
}

/* Decodes the stream written with the given cuts; prints one line. */
static void decode(const unsigned char *data, size_t len, size_t *cuts, size_t ncuts,
                   apr_size_t chunk, int into)
{
    int sv[2];
    pthread_t t;
    writer w;
    pyhost_reader rd;
    pyhost_read_result res;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    memset(&w, 0, sizeof(w));
    w.fd = sv[0];
    w.peer = sv[1];
    w.data = data;
    w.len = len;
    w.cuts = cuts;
    w.ncuts = ncuts;
    pthread_create(&t, NULL, write_main, &w);
    pyhost_reader_init(&rd, sv[1], 0, chunk);
    for (;;) {
        pyhost_frame f;
        res = pyhost_read_frame(&rd, &f);
        if (res != PYHOST_READ_OK) {
            break;
        }
        printf("%u/%u/%u/%u:", f.type, f.flags, f.aux, f.len);
        if (PYHOST_FRAME_STREAMED(f.type)) {
            while (pyhost_reader_left(&rd)) {
                char buf[5000];
                const char *p;
                apr_size_t n;
                if (into) {
                    res = pyhost_read_into(&rd, buf, sizeof(buf), &n);
                    p = buf;
                }
                else {
                    res = pyhost_read_some(&rd, pyhost_reader_left(&rd), &p, &n);
                }
                if (res != PYHOST_READ_OK) {
                    break;
                }
                hex(stdout, p, n);
            }
            if (res != PYHOST_READ_OK) {
                printf(" "); /* a frame begun, then the result that cut it */
                break;
            }
        }
        else {
            hex(stdout, pyhost_reader_payload(&rd), f.len);
            pyhost_reader_skip(&rd, f.len);
        }
        printf(" ");
    }
    printf("%s\n", pyhost_read_result_name(res));
    __atomic_store_n(&w.done, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    pyhost_reader_free(&rd);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    static unsigned char data[1 << 22];
    size_t len = 0, k;
    size_t *cuts;
    ssize_t n;
    apr_size_t chunk;
    int into;
    if (argc != 4) {
        fprintf(stderr, "usage: codec-test CHUNK some|into whole|bytes|every < stream\n");
        return 2;
    }
    chunk = (apr_size_t)strtoul(argv[1], NULL, 10);
    into = !strcmp(argv[2], "into");
    while ((n = read(0, data + len, sizeof(data) - len)) > 0) {
        len += (size_t)n;
    }
    cuts = calloc(len + 1, sizeof(*cuts));
    if (!cuts) {
        return 2;
    }
    if (!strcmp(argv[3], "whole")) {
        cuts[0] = len;
        decode(data, len, cuts, 1, chunk, into);
    }
    else if (!strcmp(argv[3], "bytes")) {
        for (k = 0; k < len; k++) {
            cuts[k] = k + 1;
        }
        decode(data, len, cuts, len, chunk, into);
    }
    else {
        for (k = 1; k < len; k++) {
            cuts[0] = k;
            cuts[1] = len;
            decode(data, len, cuts, 2, chunk, into);
        }
    }
    free(cuts);
    return 0;
}

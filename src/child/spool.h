/* child/spool.h: what Apache's child holds for a client that reads slower than the application
 * writes, so that neither the application's thread nor Apache's waits for that client; and a
 * request body read whole before the hop to a daemon. */
#ifndef PYHOST_SPOOL_H
#define PYHOST_SPOOL_H

#include "httpd.h"
#include "apr_buckets.h"

/* ---- responses --------------------------------------------------------------------------- */

typedef struct pyhost_spool pyhost_spool;

/* The holder of r's response, or NULL when the response goes to the client as it comes, each
 * write waiting for the client: WSGIResponseBuffering Off, an X-Accel-Buffering: no header
 * (removed), a text/event-stream response, or where Apache's thread is held anyway (an MPM
 * without write completion, TLS, HTTP/2, a compressing filter). Call when the headers are set.
 * producer_here: the application runs in this thread (embedded mode), so what is held is sent
 * only at the next write; a pause between writes while data is held then ends the holding. */
pyhost_spool *pyhost_spool_open(request_rec *r, int producer_here);

/* Gives len bytes of the response to Apache without waiting for the client: passed as they
 * are while the client keeps up, else written to the spool (memory up to
 * WSGIResponseBufferMemory, then a temporary file within WSGIBufferDiskLimit) and passed as a
 * file. Past the limits, or after a pause, passes them and waits for the client as without a
 * spool. APR_SUCCESS or the client's error. */
apr_status_t pyhost_spool_write(pyhost_spool *s, apr_bucket_brigade *bb, const char *data,
                                apr_size_t len);

/* The most memory bytes passed at once (half of FlushMaxThreshold): a caller that gathers
 * data before pyhost_spool_pass gathers no more than this. */
apr_size_t pyhost_spool_piece(const pyhost_spool *s);

/* Gives the memory buckets of bb (at most pyhost_spool_piece bytes) to Apache as
 * pyhost_spool_write gives data, in one pass while the client keeps up. bb is emptied. */
apr_status_t pyhost_spool_pass(pyhost_spool *s, apr_bucket_brigade *bb);

/* Appends to bb what the spool holds that Apache's core has not been given yet: before the
 * end of the response (or anything passed without the spool). */
void pyhost_spool_end(pyhost_spool *s, apr_bucket_brigade *bb);

/* While data is held for the client, waits until fd is readable (the daemon has more), feeding
 * the client whenever it can take more, for at most timeout (negative: no limit). Returns at
 * once when nothing is held. APR_SUCCESS or the client's error. */
apr_status_t pyhost_spool_wait(pyhost_spool *s, int fd, apr_interval_time_t timeout);

/* ---- request bodies (daemon mode) -------------------------------------------------------- */

typedef struct pyhost_body pyhost_body;

/* Reads r's whole body (Content-Length len) now: the first mem bytes in memory, the rest in a
 * temporary file. *out is NULL (the body is streamed as it comes) when the disk limit leaves no
 * room. APR_SUCCESS, or the error reading from the client. */
apr_status_t pyhost_body_read(request_rec *r, apr_bucket_brigade *bb, apr_off_t len, apr_size_t mem,
                              pyhost_body **out);

/* Copies up to n bytes of the body not yet taken to dst; returns how many (0: the end). */
apr_size_t pyhost_body_take(pyhost_body *b, char *dst, apr_size_t n);

#endif

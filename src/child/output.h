/* child/output.h: the response as both modes give it to Apache: status and headers, file
 * buckets, the end and the cut-short end. Embedded mode and the daemon hop call the same
 * functions, so the two cannot drift apart. */
#ifndef PYHOST_OUTPUT_H
#define PYHOST_OUTPUT_H

#include "httpd.h"
#include "apr_buckets.h"

/* The application's status and status line (len bytes, not NUL-terminated). */
void pyhost_response_status(request_rec *r, int status, const char *line, apr_size_t len);

/* One response header as the application gave it: Content-Type through ap_set_content_type,
 * Content-Length replacing any, WWW-Authenticate kept on error pages too, the rest added. */
void pyhost_response_header(request_rec *r, const char *name, apr_size_t nlen, const char *value,
                            apr_size_t vlen);

/* Appends len bytes of the file fd from offset to bb, sent with sendfile only when
 * WSGIEnableSendfile is On; the request's pool closes fd. */
void pyhost_bb_file(request_rec *r, apr_bucket_brigade *bb, int fd, apr_off_t offset,
                    apr_off_t len);

/* Whether Apache has already ended this request's response itself: its HTTP input filter
 * answers a malformed or oversized request body (400, 413) with an error response of its own
 * while the application reads. Nothing of the application's response may follow it. */
int pyhost_answered_by_apache(request_rec *r);

/* Ends the response: passes bb with an EOS added, and then writes what Apache holds of the
 * response to the client at once, instead of at the end of the request: the client can then
 * send its next request on a kept-alive connection before Apache looks for one, and the
 * thread goes on to it without a trip through the MPM's listener. Under an MPM with write
 * completion that write does not wait: what the client does not take now is sent after the
 * handler returns, without holding a thread (pyhost_nudge). */
apr_status_t pyhost_pass_last(request_rec *r, apr_bucket_brigade *bb);

/* Ends the response so that the client can tell it is incomplete: no last chunk, the
 * connection closed. Passes bb. */
void pyhost_cut_short(request_rec *r, apr_bucket_brigade *bb);

#endif

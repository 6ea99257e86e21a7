/* output.h: response pieces both modes hand to Apache's output filters. */
#ifndef PYHOST_OUTPUT_H
#define PYHOST_OUTPUT_H

#include "httpd.h"
#include "apr_buckets.h"

/* Appends len bytes of the file fd from offset to bb; the request's pool closes fd. */
void pyhost_bb_file(request_rec *r, apr_bucket_brigade *bb, int fd, apr_off_t offset, apr_off_t len,
                    int sendfile);

/* Ends the response so that the client can tell it is incomplete: no last chunk, the
 * connection closed. Passes bb. */
void pyhost_cut_short(request_rec *r, apr_bucket_brigade *bb);

#endif

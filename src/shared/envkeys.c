/* shared/envkeys.c: the tables of the environ keys known in advance (see shared/envkeys.h). */
#include "shared/envkeys.h"

#define PYHOST_ENV_NAME(id, name, type) name,
const char *const pyhost_key_names[PYHOST_K_COUNT] = {PYHOST_ENV_KEYS(PYHOST_ENV_NAME)};
#undef PYHOST_ENV_NAME
#define PYHOST_ENV_LEN(id, name, type) sizeof(name) - 1,
const unsigned char pyhost_key_lens[PYHOST_K_COUNT] = {PYHOST_ENV_KEYS(PYHOST_ENV_LEN)};
#undef PYHOST_ENV_LEN
#define PYHOST_ENV_TYPE(id, name, type) PYHOST_ENV_##type,
const unsigned char pyhost_key_types[PYHOST_K_COUNT] = {PYHOST_ENV_KEYS(PYHOST_ENV_TYPE)};
#undef PYHOST_ENV_TYPE

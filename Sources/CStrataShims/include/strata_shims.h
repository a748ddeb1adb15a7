#ifndef STRATA_SHIMS_H
#define STRATA_SHIMS_H
#include <spawn.h>

/// glibc's GNU extensions to posix_spawn, which Swift's Glibc module does not import.
int strata_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);
int strata_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path);

#endif

#ifndef CONSTRUIR_CSYSTEM_H
#define CONSTRUIR_CSYSTEM_H
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/xattr.h> /* llistxattr, for tests that check extracted files carry no xattrs */

/* renameat2(2) with RENAME_NOREPLACE: glibc's wrapper is _GNU_SOURCE-only and syscall() is
   variadic, so neither reaches Swift directly. Returns -1 and sets errno on failure. */
int construir_rename_noreplace(const char *from, const char *to);

/* renameat2(2) with RENAME_EXCHANGE: swaps two existing paths in one step. Returns -1 and sets
   errno on failure. */
int construir_rename_exchange(const char *from, const char *to);

/* prctl(PR_SET_CHILD_SUBREAPER, on): prctl is variadic, so it does not reach Swift directly.
   Returns -1 and sets errno on failure. */
int construir_set_child_subreaper(int on);

/* posix_spawn_file_actions_addclosefrom_np: glibc declares it for _GNU_SOURCE only. */
int construir_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/* posix_spawn_file_actions_addchdir_np: glibc declares it for _GNU_SOURCE only. */
int construir_spawn_chdir(posix_spawn_file_actions_t *actions, const char *path);

/* pipe2(fds, O_CLOEXEC): glibc declares pipe2 for _GNU_SOURCE only. Returns -1 and sets errno
   on failure. */
int construir_pipe_cloexec(int fds[2]);

/* pidfd_open(2): a descriptor that becomes readable when the process ends, so a wait can have a
   time limit without polling. Returns -1 and sets errno on failure. */
int construir_pidfd_open(int pid);

/* gettid(2): the kernel's id of the calling thread (/proc/self/task/TID). */
int construir_gettid(void);

/* sched_setscheduler(2) SCHED_IDLE for thread `tid` (0: the caller): it runs only when no other
   thread wants the CPU, and its I/O gets the idle class unless set otherwise. No privilege needed. */
int construir_sched_idle(int tid);

/* sched_getscheduler(2) of thread `tid` (0: the caller), or -1. */
int construir_sched_policy(int tid);

/* SCHED_IDLE's value (Glibc's Swift module does not export it). */
int construir_sched_idle_value(void);
/* copy_file_range(2) of up to `length` bytes at the descriptors' offsets (Glibc's Swift module
   does not export it). */
long construir_copy_file_range(int in, int out, unsigned long length);
#endif

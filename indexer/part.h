/* Part files: where a clip or a manifest is written before it is renamed
 * into place. A writer names a part file after itself and holds an
 * exclusive lock on it for as long as it writes, so that an indexer can
 * tell a part file whose writer died (a SIGKILL, a power loss) from one a
 * live process is still writing, on this host or on another one sharing
 * the exports directory. */
#ifndef CL_PART_H
#define CL_PART_H

/* path + ".part-HOST-PID" (this host's name, this process), malloc'ed, or
 * NULL on ENOMEM. The name is for people; the lock is what counts. */
char *cl_part_path(const char *path);

/* Creates (or truncates) the part file at part and takes an exclusive
 * lock on it; returns the descriptor, which holds the lock until it is
 * closed, or a negative errno. Keep it open until the part file is renamed
 * or removed. */
int cl_part_lock(const char *part);

/* Removes from dir every part file that no process holds a lock on and
 * that has not been written for min_age_secs (so one being created is
 * never taken). Returns how many it removed, or a negative errno when dir
 * cannot be read. */
int cl_part_sweep(const char *dir, int min_age_secs);

#endif

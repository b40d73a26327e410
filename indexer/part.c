#include "part.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *cl_part_path(const char *path)
{
    char host[256], *part;
    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    /* One path component. */
    for (char *p = host; *p; p++)
        if (*p == '/')
            *p = '_';
    return asprintf(&part, "%s.part-%s-%ld", path, host, (long)getpid()) < 0 ? NULL : part;
}

int cl_part_lock(const char *part)
{
    /* A sweeper may remove the name between our open and our lock (a stale
     * part file of the same name, left by an earlier process with our pid):
     * then the lock is on a file no longer there, and we start again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        struct stat held, named;
        if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (stat(part, &named) == 0 && named.st_ino == held.st_ino && named.st_dev == held.st_dev)
            return fd;
        close(fd);
    }
    return -EAGAIN;
}

int cl_part_sweep(const char *dir, int min_age_secs)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    time_t now = time(NULL);
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        struct stat sb;
        if (!strstr(e->d_name, ".part-") ||
            fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
            now - sb.st_mtime < min_age_secs)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        /* Held: its writer lives. A file system without locks: leave it. */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
        close(fd);
    }
    closedir(d);
    return removed;
}

#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_DEPTH 32

static int push_str(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        char **nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = strdup(s)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

/* Strict UTF-8 check: the database stores paths as text. */
static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int len;
        uint32_t cp;
        if ((*s & 0xe0) == 0xc0) { len = 2; cp = *s & 0x1f; }
        else if ((*s & 0xf0) == 0xe0) { len = 3; cp = *s & 0x0f; }
        else if ((*s & 0xf8) == 0xf0) { len = 4; cp = *s & 0x07; }
        else return 0;
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += len;
    }
    return 1;
}

static int add_file(cl_scan_t *scan, const char *path, const cl_layout_match_t *m,
                    const struct stat *st)
{
    if (scan->n_files == scan->cap_files) {
        size_t nc = scan->cap_files ? scan->cap_files * 2 : 256;
        cl_scan_file_t *nv = realloc(scan->files, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        scan->files = nv;
        scan->cap_files = nc;
    }
    cl_scan_file_t *f = &scan->files[scan->n_files];
    if (!(f->path = strdup(path)))
        return -ENOMEM;
    memcpy(f->camera, m->camera, sizeof(f->camera));
    f->name_time = m->start;
    f->size = st->st_size;
    f->mtime = (cl_time_t)st->st_mtim.tv_sec * CL_USEC_PER_SEC + st->st_mtim.tv_nsec / 1000;
    scan->n_files++;
    return 0;
}

static int walk(const char *dir, size_t rel_off, int depth, const cl_layout_t *layout,
                cl_scan_t *scan)
{
    int err = push_str(&scan->dirs, &scan->n_dirs, &scan->cap_dirs, dir);
    if (err)
        return err;
    DIR *d = opendir(dir);
    if (!d) {
        err = -errno;
        if (depth == 0)
            return err;
        cl_warn("%s: cannot read directory: %s", dir, strerror(-err));
        return push_str(&scan->failed_dirs, &scan->n_failed_dirs, &scan->cap_failed_dirs, dir);
    }
    size_t dlen = strlen(dir);
    struct dirent *e;
    char *path = NULL;
    size_t path_cap = 0;
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t need = dlen + 1 + strlen(e->d_name) + 1;
        if (need > path_cap) {
            char *np = realloc(path, need);
            if (!np) {
                err = -ENOMEM;
                break;
            }
            path = np;
            path_cap = need;
        }
        snprintf(path, path_cap, "%s/%s", dir, e->d_name);
        if (!valid_utf8((const unsigned char *)path)) {
            cl_warn("%s: passed over: the name is not valid UTF-8", path);
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                cl_warn("%s: stat failed: %s", path, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth + 1 < cl_layout_depth(layout) && depth + 1 < MAX_DEPTH) {
                if ((err = walk(path, rel_off, depth + 1, layout, scan)) < 0)
                    break;
            }
        } else if (S_ISREG(st.st_mode)) {
            cl_layout_match_t m;
            if (cl_layout_match(layout, path + rel_off, &m) == 0) {
                if ((err = add_file(scan, path, &m, &st)) < 0)
                    break;
            } else {
                scan->skipped++;
            }
        }
    }
    /* A listing that broke off says nothing about the names it did not
     * reach: the directory counts as unreadable, so they are not marked
     * deleted. */
    if (!e && errno != 0) {
        cl_warn("%s: cannot read directory: %s", dir, strerror(errno));
        err = push_str(&scan->failed_dirs, &scan->n_failed_dirs, &scan->cap_failed_dirs, dir);
    }
    free(path);
    closedir(d);
    return err;
}

int cl_scan_root(const char *root, const cl_layout_t *layout, cl_scan_t *scan)
{
    return walk(root, strlen(root) + 1, 0, layout, scan);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const cl_scan_file_t *)a)->path, ((const cl_scan_file_t *)b)->path);
}

void cl_scan_sort(cl_scan_t *scan)
{
    if (scan->n_files > 1)
        qsort(scan->files, scan->n_files, sizeof(*scan->files), cmp_file);
}

int cl_scan_in_failed_dir(const cl_scan_t *scan, const char *path)
{
    for (size_t i = 0; i < scan->n_failed_dirs; i++) {
        size_t len = strlen(scan->failed_dirs[i]);
        if (strncmp(path, scan->failed_dirs[i], len) == 0 && path[len] == '/')
            return 1;
    }
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cl_scan_dispose(cl_scan_t *scan)
{
    for (size_t i = 0; i < scan->n_files; i++)
        free(scan->files[i].path);
    free(scan->files);
    free_strs(scan->dirs, scan->n_dirs);
    free_strs(scan->failed_dirs, scan->n_failed_dirs);
    memset(scan, 0, sizeof(*scan));
}

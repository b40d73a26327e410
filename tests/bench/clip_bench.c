/* One timed cl_clip_cut, for tests/bench/clip.sh.
 *
 *   clip_bench [--no-keyframes] BASE FROM_S TO_S OUT FILE...
 *
 * FILE... are consecutive recordings; the first starts at BASE (RFC 3339),
 * each next one where the one before ends. cl_probe_file gives their
 * durations and keyframes, which are passed on as the index would (unless
 * --no-keyframes). FROM_S and TO_S are seconds after BASE. Prints one line
 * of key=value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/log.h>

#include "clip.h"
#include "probe.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    cl_time_t base;
    int hints = 1;
    if (argc > 1 && strcmp(argv[1], "--no-keyframes") == 0) {
        hints = 0;
        argv++;
        argc--;
    }
    if (argc < 6 || cl_time_parse_rfc3339(argv[1], &base) != 0) {
        fprintf(stderr, "usage: clip_bench [--no-keyframes] BASE FROM_S TO_S OUT FILE...\n");
        return 2;
    }
    av_log_set_level(AV_LOG_ERROR);
    size_t n = (size_t)argc - 5;
    cl_clip_source_t *src = calloc(n, sizeof(*src));
    cl_probe_result_t *probes = calloc(n, sizeof(*probes));
    if (!src || !probes)
        return 1;
    cl_time_t at = base;
    for (size_t i = 0; i < n; i++) {
        cl_probe_result_t *pr = &probes[i];
        if (cl_probe_file(argv[5 + i], pr) != 0 || pr->duration_us < 0) {
            fprintf(stderr, "clip_bench: %s: %s\n", argv[5 + i], pr->error);
            return 1;
        }
        src[i] = (cl_clip_source_t){.path = argv[5 + i], .start = at, .end = at + pr->duration_us};
        if (hints) {
            src[i].keyframes_us = pr->keyframes_us;
            src[i].n_keyframes = pr->n_keyframes;
        }
        at += pr->duration_us;
    }
    cl_time_t from = base + (cl_time_t)(atof(argv[2]) * 1e6);
    cl_time_t to = base + (cl_time_t)(atof(argv[3]) * 1e6);
    cl_clip_result_t res;
    double t0 = now_s();
    int err = cl_clip_cut(src, n, from, to, argv[4], &res);
    double t1 = now_s();
    if (err) {
        fprintf(stderr, "clip_bench: %s\n", res.error);
        cl_clip_result_dispose(&res);
        free(src);
        return 1;
    }
    /* The cut hashes the clip it wrote; hashing it again from the page
     * cache tells that share. */
    char hex[65];
    double t2 = now_s();
    if (cl_clip_sha256_file(argv[4], hex) != 0)
        return 1;
    double t3 = now_s();
    for (size_t i = 0; i < res.n_parts; i++)
        if (res.parts[i].error[0])
            fprintf(stderr, "clip_bench: %s: %s: %s\n", src[i].path,
                    cl_clip_part_status_name(res.parts[i].status), res.parts[i].error);
    printf("seconds=%.4f sha_seconds=%.4f bytes_read=%lld clip_bytes=%lld video_packets=%lld audio_packets=%lld "
           "keyframe_before_from_s=%.3f duration_s=%.3f sha256=%s\n",
           t1 - t0, t3 - t2, (long long)res.bytes_read, (long long)res.bytes_written,
           (long long)res.video_packets, (long long)res.audio_packets,
           (double)(from - res.first_keyframe) / 1e6, (double)res.duration_us / 1e6, res.sha256);
    cl_clip_result_dispose(&res);
    for (size_t i = 0; i < n; i++)
        cl_probe_result_dispose(&probes[i]);
    free(probes);
    free(src);
    return 0;
}

/* Writing an evidence clip: the MP4 muxer on a part file, then sync, hash
 * and rename into place. */
#include "clip_output.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/sha.h>

int cl_clip_out_errno(int averr)
{
    return averr < 0 && averr > -4096 ? averr : -EIO;
}

int cl_clip_out_init(cl_clip_out_t *out, const char *out_path)
{
    out->out_path = out_path;
    out->part_path = cl_part_path(out_path);
    return out->part_path ? 0 : -ENOMEM;
}

int cl_clip_out_open(cl_clip_out_t *out, const AVStream *const *in, AVStream **st, int n,
                     cl_time_t creation)
{
    char url[PATH_MAX + 8], when[CL_TIME_RFC3339_LEN];
    AVDictionary *opts = NULL;
    for (int k = 0; k < n; k++)
        st[k] = NULL;
    snprintf(url, sizeof(url), "file:%s", out->part_path);
    int err = avformat_alloc_output_context2(&out->oc, NULL, "mp4", url);
    if (err < 0)
        return err;
    for (int k = 0; k < n; k++) {
        if (!in[k])
            continue;
        AVStream *os = avformat_new_stream(out->oc, NULL);
        if (!os || (err = avcodec_parameters_copy(os->codecpar, in[k]->codecpar)) < 0)
            return os ? err : AVERROR(ENOMEM);
        /* Keep a tag MP4 knows for the codec (hvc1 stays hvc1); else let
         * the muxer choose. */
        if (av_codec_get_id(out->oc->oformat->codec_tag, in[k]->codecpar->codec_tag) !=
            in[k]->codecpar->codec_id)
            os->codecpar->codec_tag = 0;
        os->time_base = in[k]->time_base;
        os->avg_frame_rate = in[k]->avg_frame_rate;
        for (int i = 0; i < in[k]->nb_side_data; i++) {
            const AVPacketSideData *sd = &in[k]->side_data[i];
            uint8_t *d = av_stream_new_side_data(os, sd->type, sd->size);
            if (!d)
                return AVERROR(ENOMEM);
            memcpy(d, sd->data, sd->size);
        }
        st[k] = os;
    }
    if (cl_time_format_rfc3339(creation, when, sizeof(when)))
        av_dict_set(&out->oc->metadata, "creation_time", when, 0);
    /* Negative timestamps (the frames between the keyframe and `from`)
     * must reach the muxer as they are: it turns them into the edit list. */
    out->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    av_dict_set(&opts, "use_editlist", "1", 0);
    int fd = cl_part_lock(out->part_path);
    if (fd < 0) {
        av_dict_free(&opts);
        return AVERROR(-fd);
    }
    out->lock_fd = fd;
    out->locked = 1;
    if ((err = avio_open(&out->oc->pb, url, AVIO_FLAG_WRITE)) >= 0)
        err = avformat_write_header(out->oc, &opts);
    av_dict_free(&opts);
    return err < 0 ? err : 0;
}

int cl_clip_out_write(cl_clip_out_t *out, AVPacket *pkt)
{
    int err = av_interleaved_write_frame(out->oc, pkt);
    av_packet_free(&pkt);
    return err;
}

static int sha256_fd(int fd, char hex[65])
{
    struct AVSHA *sha = av_sha_alloc();
    uint8_t buf[64 * 1024], digest[32];
    int64_t off = 0;
    ssize_t n;
    if (!sha)
        return -ENOMEM;
    av_sha_init(sha, 256);
    while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = -errno;
            av_free(sha);
            return err;
        }
        av_sha_update(sha, buf, (size_t)n);
        off += n;
    }
    av_sha_final(sha, digest);
    av_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

int cl_clip_sha256_file(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int err = sha256_fd(fd, hex);
    close(fd);
    return err;
}

static int sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;
    free(copy);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        err = -errno;
    close(fd);
    return err;
}

int cl_clip_out_finish(cl_clip_out_t *out, cl_clip_result_t *res)
{
    struct stat sb;
    int err = av_write_trailer(out->oc);
    int cerr = avio_closep(&out->oc->pb);
    if (err < 0 || cerr < 0) {
        err = err < 0 ? err : cerr;
        snprintf(res->error, sizeof(res->error), "%s: %s", out->part_path, av_err2str(err));
        return cl_clip_out_errno(err);
    }
    int fd = open(out->part_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0 || fstat(fd, &sb) < 0 || (err = sha256_fd(fd, res->sha256)) < 0) {
        err = err < 0 ? err : -errno;
        if (fd >= 0)
            close(fd);
        snprintf(res->error, sizeof(res->error), "%s: %s", out->part_path, strerrordesc_np(-err));
        return err;
    }
    close(fd);
    res->bytes_written = sb.st_size;
    if (rename(out->part_path, out->out_path) < 0) {
        err = -errno;
        snprintf(res->error, sizeof(res->error), "rename to %s: %s", out->out_path,
                 strerrordesc_np(-err));
        return err;
    }
    if ((err = sync_dir_of(out->out_path)) < 0)
        snprintf(res->error, sizeof(res->error), "sync the directory of %s: %s", out->out_path,
                 strerrordesc_np(-err));
    return err;
}

void cl_clip_out_dispose(cl_clip_out_t *out, int failed)
{
    if (out->oc) {
        if (out->oc->pb)
            avio_closep(&out->oc->pb);
        avformat_free_context(out->oc);
        out->oc = NULL;
        if (failed)
            unlink(out->part_path);
    }
    /* The lock goes last: until the part file is renamed or removed, a
     * sweeping indexer must see it held. */
    if (out->locked) {
        close(out->lock_fd);
        out->locked = 0;
    }
    free(out->part_path);
    out->part_path = NULL;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "json.h"
#include "sample.h"
#include "state.h"
#include "util.h"

int sample_parse(const char *buf, size_t len, const char *id, struct sample_file *ret) {
        assert(buf || len == 0);
        assert(id && ret);
        if (len > SAMPLE_MAX_FILE_BYTES)
                return -EFBIG;
        struct json_node *root = NULL;
        struct mg_error err = {0};
        if (json_parse(buf, len, NULL, &root, &err) < 0)
                return -EBADMSG;
        struct sample_file f = {0};
        int r = -EBADMSG;
        const struct json_node *nid = json_get(root, "id"), *t = json_get(root, "sampled_realtime_usec"), *s = json_get(root, "sample");
        if (!nid || nid->type != JSON_STRING || !t || json_number_u64(t, &f.sampled_realtime_usec) < 0 || evidence_sample_from_json(s, &f.s) < 0)
                goto out;
        if (!STREQ(nid->str, id)) {
                r = -ESTALE;
                goto out;
        }
        const struct json_node *st = json_get(root, "start");
        f.have_start = st && evidence_sample_from_json(st, &f.start) == 0;
        const struct json_node *mn = json_get(root, "min"), *lw = json_get(root, "low");
        if ((mn && json_number_u64(mn, &f.min) < 0) || (lw && json_number_u64(lw, &f.low) < 0))
                goto out;
        snprintf(f.id, sizeof f.id, "%s", id);
        *ret = f;
        r = 0;
out:
        json_free(root);
        return r;
}

void sample_format(const struct sample_file *f, struct strbuf *sb) {
        assert(f && sb);
        strbuf_puts(sb, "{\"id\":");
        strbuf_json_string(sb, f->id);
        strbuf_printf(sb, ",\"sampled_realtime_usec\":%" PRIu64 ",\"sample\":", f->sampled_realtime_usec);
        evidence_sample_json(&f->s, sb);
        if (f->have_start) {
                strbuf_puts(sb, ",\"start\":");
                evidence_sample_json(&f->start, sb);
        }
        strbuf_printf(sb, ",\"min\":%" PRIu64 ",\"low\":%" PRIu64 "}\n", f->min, f->low);
}

static int sample_path(const char *id, char *buf, size_t size) {
        char file[NAME_MAX + 1];
        int r = record_file_name(id, file, sizeof file);
        if (r < 0)
                return r;
        int k = snprintf(buf, size, SAMPLE_DIR "/%s", file);
        return k < 0 || (size_t) k >= size ? -ENAMETOOLONG : 0;
}

int sample_load_at(int state_dirfd, const char *id, struct sample_file *ret) {
        assert(id && ret);
        char path[NAME_MAX + 16];
        int r = sample_path(id, path, sizeof path);
        if (r < 0)
                return r;
        /* a symlink or a fifo planted there is not a sample */
        struct stat st;
        if (fstatat(state_dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((uint64_t) st.st_size > SAMPLE_MAX_FILE_BYTES)
                return -EFBIG;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        r = read_file_at(state_dirfd, path, SAMPLE_MAX_FILE_BYTES, &buf, &len);
        if (r < 0)
                return r;
        return sample_parse(buf, len, id, ret);
}

void sample_unlink_at(int state_dirfd, const char *id) {
        char path[NAME_MAX + 16];
        if (sample_path(id, path, sizeof path) == 0)
                (void) unlinkat(state_dirfd, path, 0);
}

static const char *str_of(const struct json_node *rec, const char *key) {
        const struct json_node *n = json_get(rec, key);
        return n && n->type == JSON_STRING ? n->str : "";
}

/* One record: read its leaf's counters, store them. 1 sampled, 0 gone or
 * not a v2 record, -errno on a failure. */
static int sample_one(int state_fd, const char *sysroot, const char *file) {
        char rpath[NAME_MAX + 16];
        snprintf(rpath, sizeof rpath, "containers/%s", file);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_at(state_fd, rpath, 1024 * 1024, &buf, &len);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        _cleanup_json_ struct json_node *rec = NULL;
        struct mg_error err = {0};
        if (json_parse(buf, len, NULL, &rec, &err) < 0)
                return -EBADMSG;
        struct sample_file f = {0};
        const char *id = str_of(rec, "id"), *cgdir = str_of(rec, "cgroup_dir");
        char path[PATH_MAX];
        r = 0;
        if (!id[0] || strlen(id) >= sizeof f.id || !cgdir[0] || path_join(path, sizeof path, sysroot, cgdir) < 0)
                return r;
        snprintf(f.id, sizeof f.id, "%s", id);
        {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || evidence_read_at(fd, &f.s) < 0)
                        return 0; /* gone, or not v2: nothing to keep */
        }
        f.sampled_realtime_usec = now_usec_realtime();
        const struct json_node *extra = json_get(rec, "extra"), *mn = json_get(rec, "min"), *lw = json_get(rec, "low");
        const struct json_node *start = extra ? json_get(extra, "evidence") : NULL;
        f.have_start = start && evidence_sample_from_json(start, &f.start) == 0;
        if (mn)
                (void) json_number_u64(mn, &f.min);
        if (lw)
                (void) json_number_u64(lw, &f.low);
        char spath[NAME_MAX + 16];
        r = sample_path(id, spath, sizeof spath);
        if (r < 0)
                return r;
        _cleanup_strbuf_ struct strbuf sb = {0};
        sample_format(&f, &sb);
        r = sb.oom ? -ENOMEM : write_file_atomic_at(state_fd, spath, sb.buf, sb.len, 0600);
        if (r == 0) {
                /* the stop may have removed the record (and its sample)
                 * while this one was read: then this one goes too */
                struct stat st;
                if (fstatat(state_fd, rpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        (void) unlinkat(state_fd, spath, 0);
                r = 1;
        }
        return r;
}

int sample_run(const char *state_dir, const char *sysroot, struct sample_stats *ret) {
        assert(state_dir && sysroot && ret);
        *ret = (struct sample_stats) {0};
        _cleanup_close_ int state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (state_fd < 0)
                return errno == ENOENT ? 0 : -errno; /* nothing managed yet */
        if (mkdirat(state_fd, SAMPLE_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        int cfd = openat(state_fd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(cfd);
        if (!d) {
                int e = -errno;
                close(cfd);
                return e;
        }
        struct dirent *de;
        while ((de = readdir(d)) && ret->records < SAMPLE_MAX_RECORDS) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n < 6 || !STREQ(de->d_name + n - 5, ".json"))
                        continue;
                ret->records++;
                int r = sample_one(state_fd, sysroot, de->d_name);
                if (r > 0)
                        ret->sampled++;
                else if (r == 0)
                        ret->gone++;
                else
                        ret->errors++;
        }
        closedir(d);
        /* samples whose record is gone (a stop that raced a run) */
        int sfd = openat(state_fd, SAMPLE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *sd = sfd >= 0 ? fdopendir(sfd) : NULL;
        if (!sd && sfd >= 0)
                close(sfd);
        while (sd && (de = readdir(sd))) {
                if (de->d_name[0] == '.')
                        continue;
                char rpath[NAME_MAX + 16], spath[NAME_MAX + 16];
                struct stat st;
                snprintf(rpath, sizeof rpath, "containers/%s", de->d_name);
                snprintf(spath, sizeof spath, SAMPLE_DIR "/%s", de->d_name);
                if (fstatat(state_fd, rpath, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                        (void) unlinkat(state_fd, spath, 0);
        }
        if (sd)
                closedir(sd);
        return 0;
}

int sample_main(struct cli *c) {
        assert(c);
        struct sample_stats st;
        uint64_t t0 = now_usec_monotonic();
        int r = sample_run(c->opts.state_dir, c->opts.sysroot, &st);
        if (r < 0) {
                fprintf(stderr, "oci-memguard: sample: state dir %s: %s\n", c->opts.state_dir, strerror(-r));
                return 1;
        }
        printf("sampled %u of %u containers (%u gone or not cgroup v2, %u errors) in %" PRIu64 " ms\n", st.sampled, st.records, st.gone,
               st.errors, (now_usec_monotonic() - t0) / 1000);
        return st.errors ? 1 : 0;
}

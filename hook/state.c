/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "state.h"
#include "sample.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "json.h"
#include "nodefile.h"
#include "sha256.h"

void record_free(struct record *r) {
        free(r->extra_json);
        free(r->policies_json);
        free(r->saved);
        r->extra_json = r->policies_json = r->saved = NULL;
        r->saved_len = 0;
}

static void lentry_free(struct lentry *e) {
        free(e->path);
        for (size_t k = 0; k < e->n_own; k++)
                free(e->own[k].record);
        free(e->own);
        free(e->saved);
        *e = (struct lentry) {0};
}

static void lock_alarm(int sig) { (void) sig; }

int ledger_open(struct ledger *l, const char *state_dir, const char *sysroot, const struct cgroup_host *host, struct outcome *out, bool dry_run,
                uint64_t deadline_usec, struct mg_error *err) {
        *l = (struct ledger) { .dirfd = -1, .lockfd = -1, .sysroot = sysroot, .host = host, .out = out, .dry_run = dry_run,
                               .deadline_usec = deadline_usec };
        long ps = sysconf(_SC_PAGESIZE);
        l->page_size = ps > 0 ? (uint64_t) ps : 4096;
        if (!dry_run) {
                int r = mkdir_p(state_dir, 0700);
                if (r < 0)
                        return mg_error_set(err, r, "state dir %s: %s", state_dir, strerror(-r));
        }
        l->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (l->dirfd < 0) {
                if (dry_run && errno == ENOENT)
                        return 0;
                return mg_error_set(err, -errno, "state dir %s: %m", state_dir);
        }
        if (dry_run)
                return 0;
        if (mkdirat(l->dirfd, "containers", 0700) < 0 && errno != EEXIST)
                return mg_error_set(err, -errno, "state dir %s/containers: %m", state_dir);
        if (mkdirat(l->dirfd, "nodes", 0700) < 0 && errno != EEXIST)
                return mg_error_set(err, -errno, "state dir %s/nodes: %m", state_dir);
        l->lockfd = openat(l->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (l->lockfd < 0)
                return mg_error_set(err, -errno, "lock %s/lock: %m", state_dir);
        /* Bounded wait: a wedged holder must not hold every container
         * start on the host hostage forever.  A blocking flock wakes as soon
         * as the holder closes (64 hooks starting at once hand the lock on
         * without polling gaps); a one-shot timer interrupts it at the
         * deadline (the handler does nothing: flock returns EINTR). */
        if (flock(l->lockfd, LOCK_EX | LOCK_NB) == 0) {
                outcome_extra_u64(out, "lock_wait_us", 0);
                return 0;
        }
        if (errno != EWOULDBLOCK)
                return mg_error_set(err, -errno, "lock %s/lock: %m", state_dir);
        /* The wait ends in time for the locked work to end by the run's
         * deadline: past it, the container starts unprotected and the log
         * says why, rather than the runtime killing the hook. */
        uint64_t t0 = now_usec_monotonic();
        uint64_t wait = deadline_usec > t0 + MEMGUARD_LOCKED_WORK_USEC ? deadline_usec - t0 - MEMGUARD_LOCKED_WORK_USEC : 1000;
        struct sigaction sa = { .sa_handler = lock_alarm }, old_sa;
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGALRM, &sa, &old_sa); /* no SA_RESTART */
        struct itimerval it = { .it_value = { (time_t) (wait / 1000000u), (suseconds_t) (wait % 1000000u) } }, old_it;
        (void) setitimer(ITIMER_REAL, &it, &old_it);
        int r = flock(l->lockfd, LOCK_EX);
        int e = errno;
        struct itimerval off = {0};
        (void) setitimer(ITIMER_REAL, &off, NULL);
        (void) sigaction(SIGALRM, &old_sa, NULL);
        /* How long this start waited for others: contention on a busy host
         * is visible in the log (and is what the bench's burst measures). */
        outcome_extra_u64(out, "lock_wait_us", now_usec_monotonic() - t0);
        if (r < 0 && e == EINTR)
                return mg_error_set(err, -ETIMEDOUT, "lock %s/lock: not free after %" PRIu64 " ms, within the run's deadline: nothing changed", state_dir,
                                    wait / 1000u);
        if (r < 0)
                return mg_error_set(err, -e, "lock %s/lock: %s", state_dir, strerror(e));
        return 0;
}

void ledger_close(struct ledger *l) {
        for (size_t i = 0; i < l->n_recs; i++)
                record_free(&l->recs[i]);
        free(l->recs);
        free(l->rec_state);
        free(l->saved);
        l->saved = NULL;
        for (size_t i = 0; i < l->n_entries; i++)
                lentry_free(&l->entries[i]);
        free(l->entries);
        free(l->top);
        l->top = NULL;
        l->n_top = 0;
        l->top_kept = false;
        if (l->lockfd >= 0)
                close(l->lockfd); /* releases the flock */
        if (l->dirfd >= 0)
                close(l->dirfd);
        l->lockfd = l->dirfd = -1;
        l->recs = NULL;
        l->entries = NULL;
        l->n_recs = l->cap_recs = l->n_entries = 0;
}

/* ---- records ---------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src ? src : ""); }

/* What a start needs of the other containers' records: their claims and
 * liveness. Not "policies" and "extra", which only that container's own
 * poststop reports: a start reads every record of the host. */
static const struct json_keep keep_claims[] = {
        { "id", NULL }, { "cgroup", NULL }, { "cgroup_dir", NULL }, { "pid", NULL }, { "starttime", NULL },
        { "protect", NULL }, { "min", NULL }, { "low", NULL }, { "requested_min", NULL }, { "requested_low", NULL },
        { "swappiness", NULL }, { "build", NULL },
        { "build_signal", NULL }, { "image", NULL }, { "started_realtime_usec", NULL }, { "started_monotonic_usec", NULL },
        { "applied", NULL }, { "swappiness_expires_usec", NULL }, { NULL, NULL },
};

/* The plain fields of a record, in the order record_format writes them:
 * record_parse walks the keys once and, for a record the hook wrote, finds
 * each field at the next place it looks (a start parses every record of
 * the host; twenty lookups that scan all keys cost 15 % of a start at
 * 1,000 live containers). */
enum record_field_kind { FIELD_STR, FIELD_BOOL, FIELD_U64, FIELD_I64, FIELD_OTHER };
struct record_field {
        const char *key;
        enum record_field_kind kind;
        size_t offset, size;
};
#define FIELD(k, kind, member) { k, kind, offsetof(struct record, member), sizeof(((struct record *) 0)->member) }
#define OTHER(k) { k, FIELD_OTHER, 0, 0 }
static const struct record_field record_fields[] = {
        OTHER("version"),
        OTHER("id"),
        FIELD("cgroup", FIELD_STR, cgroup),
        FIELD("cgroup_dir", FIELD_STR, cgroup_dir),
        FIELD("pid", FIELD_I64, pid),
        FIELD("starttime", FIELD_U64, starttime),
        FIELD("protect", FIELD_BOOL, protect),
        FIELD("min", FIELD_U64, min),
        FIELD("low", FIELD_U64, low),
        FIELD("requested_min", FIELD_U64, requested_min),
        FIELD("requested_low", FIELD_U64, requested_low),
        OTHER("swappiness"),
        FIELD("build", FIELD_BOOL, build),
        FIELD("build_signal", FIELD_STR, build_signal),
        FIELD("build_source", FIELD_STR, build_source),
        FIELD("build_trusted", FIELD_BOOL, build_trusted),
        FIELD("image", FIELD_STR, image),
        FIELD("image_source", FIELD_STR, image_source),
        FIELD("image_trusted", FIELD_BOOL, image_trusted),
        FIELD("started_realtime_usec", FIELD_U64, started_realtime_usec),
        FIELD("started_monotonic_usec", FIELD_U64, started_monotonic_usec),
        FIELD("swappiness_expires_usec", FIELD_U64, swappiness_expires_usec),
        OTHER("applied"),
        OTHER("policies"),
        OTHER("extra"),
};

static const struct record_field *record_field_find(const char *key, size_t *hint) {
        size_t n = ELEMENTSOF(record_fields);
        for (size_t k = 0; k < n; k++) {
                size_t i = (*hint + k) % n;
                if (STREQ(record_fields[i].key, key)) {
                        *hint = i + 1;
                        return &record_fields[i];
                }
        }
        return NULL;
}

/* A field of the wrong type is ignored, as a missing one. */
static void record_field_set(struct record *rec, const struct record_field *f, const struct json_node *n) {
        char *p = (char *) rec + f->offset;
        switch (f->kind) {
        case FIELD_STR:
                if (n->type == JSON_STRING)
                        copy_str(p, f->size, n->str);
                break;
        case FIELD_BOOL:
                if (n->type == JSON_TRUE || n->type == JSON_FALSE)
                        *(bool *) p = n->type == JSON_TRUE;
                break;
        case FIELD_U64: {
                uint64_t u;
                if (json_number_u64(n, &u) == 0)
                        *(uint64_t *) p = u;
                break;
        }
        case FIELD_I64: {
                int64_t i;
                if (json_number_i64(n, &i) == 0)
                        *(int64_t *) p = i;
                break;
        }
        case FIELD_OTHER:
                break;
        }
}

static int serialize_to(const struct json_node *n, char **ret) {
        struct strbuf sb = {0};
        if (json_serialize(n, false, &sb) < 0) {
                strbuf_free(&sb);
                return -ENOMEM;
        }
        *ret = sb.buf;
        return 0;
}

static int record_parse(const char *buf, size_t len, bool whole, struct record *ret, struct mg_error *err) {
        _cleanup_json_ struct json_node *root = NULL;
        const struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = whole ? NULL : keep_claims, .arena = true };
        int r = json_parse(buf, len, &opts, &root, err);
        if (r < 0)
                return r;
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "type: record must be an object");
        _cleanup_(record_free) struct record rec = { .swappiness = LEDGER_NO_SWAPPINESS };
        bool have_id = false;
        size_t hint = 0;
        for (size_t i = 0; i < root->n; i++) {
                const char *key = root->keys[i];
                const struct json_node *n = root->items[i];
                const struct record_field *f = record_field_find(key, &hint);
                if (!f)
                        continue;
                if (f->kind != FIELD_OTHER) {
                        record_field_set(&rec, f, n);
                } else if (STREQ(key, "id")) {
                        if (n->type != JSON_STRING || !container_id_is_valid(n->str))
                                return mg_error_set(err, -EINVAL, "invalid 'id'");
                        copy_str(rec.id, sizeof rec.id, n->str);
                        have_id = true;
                } else if (STREQ(key, "swappiness")) {
                        int64_t v;
                        if (json_number_i64(n, &v) == 0 && v >= 0 && v <= 200)
                                rec.swappiness = (int) v;
                } else if (STREQ(key, "applied")) {
                        /* Absent (a record of an older version): not known
                         * to be applied, so a rebuild subtracts nothing for
                         * it and errs upwards. */
                        if (n->type == JSON_OBJECT)
                                for (int v = 0; v < LV_N; v++)
                                        (void) json_get_bool(n, plan_value_file[v], &rec.applied[v], NULL);
                } else if (STREQ(key, "extra") && n->type == JSON_OBJECT && !rec.extra_json) {
                        if (serialize_to(n, &rec.extra_json) < 0)
                                return mg_error_set(err, -ENOMEM, "out of memory");
                } else if (STREQ(key, "policies") && n->type == JSON_ARRAY && !rec.policies_json) {
                        if (serialize_to(n, &rec.policies_json) < 0)
                                return mg_error_set(err, -ENOMEM, "out of memory");
                }
        }
        if (!have_id)
                return mg_error_set(err, -EINVAL, "invalid 'id'");
        /* A record without them (an older version) asked what it holds. */
        if (rec.requested_min < rec.min)
                rec.requested_min = rec.min;
        if (rec.requested_low < rec.low)
                rec.requested_low = rec.low;
        *ret = rec;
        rec = (struct record) {0};
        return 0;
}

static int record_format(const struct record *rec, struct strbuf *sb) {
        strbuf_puts(sb, "{\"version\":1,\"id\":");
        strbuf_json_string(sb, rec->id);
        strbuf_puts(sb, ",\"cgroup\":");
        strbuf_json_string(sb, rec->cgroup);
        strbuf_puts(sb, ",\"cgroup_dir\":");
        strbuf_json_string(sb, rec->cgroup_dir);
        strbuf_printf(sb, ",\"pid\":%" PRId64 ",\"starttime\":%" PRIu64, rec->pid, rec->starttime);
        strbuf_printf(sb, ",\"protect\":%s,\"min\":%" PRIu64 ",\"low\":%" PRIu64, rec->protect ? "true" : "false", rec->min, rec->low);
        strbuf_printf(sb, ",\"requested_min\":%" PRIu64 ",\"requested_low\":%" PRIu64, rec->requested_min, rec->requested_low);
        strbuf_printf(sb, ",\"swappiness\":%d,\"build\":%s,\"build_signal\":", rec->swappiness, rec->build ? "true" : "false");
        strbuf_json_string(sb, rec->build_signal);
        strbuf_puts(sb, ",\"build_source\":");
        strbuf_json_string(sb, rec->build_source);
        strbuf_printf(sb, ",\"build_trusted\":%s", rec->build_trusted ? "true" : "false");
        strbuf_puts(sb, ",\"image\":");
        strbuf_json_string(sb, rec->image);
        strbuf_puts(sb, ",\"image_source\":");
        strbuf_json_string(sb, rec->image_source);
        strbuf_printf(sb, ",\"image_trusted\":%s", rec->image_trusted ? "true" : "false");
        strbuf_printf(sb, ",\"started_realtime_usec\":%" PRIu64 ",\"started_monotonic_usec\":%" PRIu64, rec->started_realtime_usec,
                      rec->started_monotonic_usec);
        strbuf_printf(sb, ",\"swappiness_expires_usec\":%" PRIu64 ",\"applied\":{\"memory.min\":%s,\"memory.low\":%s}",
                      rec->swappiness_expires_usec, rec->applied[LV_MIN] ? "true" : "false", rec->applied[LV_LOW] ? "true" : "false");
        if (rec->policies_json)
                strbuf_printf(sb, ",\"policies\":%s", rec->policies_json);
        if (rec->extra_json)
                strbuf_printf(sb, ",\"extra\":%s", rec->extra_json);
        strbuf_puts(sb, "}\n");
        return sb->oom ? -ENOMEM : 0;
}

/* Room for one more record. Doubling: a record is 4.9 KiB, and growing by
 * one copied the whole array on every record (64 containers: 10 MB). */
static int grow_recs(struct ledger *l) {
        if (l->n_recs < l->cap_recs)
                return 0;
        size_t ncap = l->cap_recs ? l->cap_recs * 2 : 16;
        struct record *nr = realloc(l->recs, ncap * sizeof *nr);
        if (!nr)
                return -ENOMEM;
        l->recs = nr;
        enum rec_state *ns = realloc(l->rec_state, ncap * sizeof *ns);
        if (!ns)
                return -ENOMEM;
        l->rec_state = ns;
        l->cap_recs = ncap;
        return 0;
}

static void move_aside(struct ledger *l, const char *dir, const char *name) {
        char from[PATH_MAX], to[PATH_MAX + 16];
        int n = snprintf(from, sizeof from, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
        if (n < 0 || (size_t) n >= sizeof from)
                return;
        snprintf(to, sizeof to, "%s.corrupt", from);
        if (!l->dry_run)
                (void) renameat(l->dirfd, from, l->dirfd, to);
}

static bool record_is_stale(struct ledger *l, const struct record *rec);

/* ---- totals ------------------------------------------------------------ */

static void record_totals(const struct record *r, struct ledger_totals *ret) {
        bool prot = r->protect && (r->min > 0 || r->low > 0);
        bool clamped = r->protect && (r->requested_min > r->min || r->requested_low > r->low);
        uint64_t want = budget_protection_of(r->requested_min, r->requested_low), have = budget_protection_of(r->min, r->low);
        *ret = (struct ledger_totals) {
                .short_min = clamped && r->requested_min > r->min ? r->requested_min - r->min : 0,
                .short_protection = clamped && want > have ? want - have : 0,
                .records = 1,
                .protected_ = prot,
                .held_min = prot ? r->min : 0,
                .held_low = prot ? r->low : 0,
                .builds = r->build,
                .clamped = clamped,
        };
}

static uint64_t sat_add_u64(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* Takes a record read from disk out of the totals of the records not
 * read. false: the totals do not hold it (they do not add up). */
static bool totals_take_out(struct ledger_totals *t, const struct record *r) {
        struct ledger_totals c;
        record_totals(r, &c);
        if (t->records < c.records || t->protected_ < c.protected_ || t->held_min < c.held_min || t->held_low < c.held_low ||
            t->builds < c.builds || t->clamped < c.clamped || t->short_min < c.short_min || t->short_protection < c.short_protection)
                return false;
        t->short_min -= c.short_min;
        t->short_protection -= c.short_protection;
        t->records -= c.records;
        t->protected_ -= c.protected_;
        t->held_min -= c.held_min;
        t->held_low -= c.held_low;
        t->builds -= c.builds;
        t->clamped -= c.clamped;
        return true;
}

void ledger_totals_now(const struct ledger *l, struct ledger_totals *ret) {
        assert(l);
        assert(ret);
        struct ledger_totals t = l->totals;
        for (size_t i = 0; i < l->n_recs; i++) {
                if (l->recs[i].stub || l->rec_state[i] == REC_REMOVED)
                        continue;
                struct ledger_totals c;
                record_totals(&l->recs[i], &c);
                t.records = sat_add_u64(t.records, c.records);
                t.protected_ = sat_add_u64(t.protected_, c.protected_);
                t.held_min = sat_add_u64(t.held_min, c.held_min);
                t.held_low = sat_add_u64(t.held_low, c.held_low);
                t.builds = sat_add_u64(t.builds, c.builds);
                t.clamped = sat_add_u64(t.clamped, c.clamped);
                t.short_min = sat_add_u64(t.short_min, c.short_min);
                t.short_protection = sat_add_u64(t.short_protection, c.short_protection);
        }
        *ret = t;
}

/* ---- records ----------------------------------------------------------- */

size_t ledger_record_by_file(const struct ledger *l, const char *name) {
        assert(l);
        assert(name);
        for (size_t i = 0; i < l->n_recs; i++) {
                char have[NAME_MAX + 1];
                if (!l->recs[i].stub && record_file_name(l->recs[i].id, have, sizeof have) == 0 && STREQ(have, name))
                        return i;
        }
        return SIZE_MAX;
}

static bool record_name_loaded(const struct ledger *l, const char *name) { return ledger_record_by_file(l, name) != SIZE_MAX; }

static bool record_file_name_is_plausible(const char *name) {
        size_t nl = strlen(name);
        if (nl < 6 || strcmp(name + nl - 5, ".json") != 0)
                return false;
        /* "<id>.json", or "~<hash>.json" with the id inside */
        if (name[0] == '~')
                return true;
        char id[NAME_MAX + 1];
        snprintf(id, sizeof id, "%.*s", (int) (nl - 5), name);
        return container_id_is_valid(id);
}

/* Reads containers/<name>. 0 with *ret filled, -ENOENT, or another error
 * after the file was reported and moved aside. */
static int read_record(struct ledger *l, int cfd, const char *name, bool whole, struct record *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        struct mg_error e = {0};
        int r = read_file_at(cfd, name, MEMGUARD_MAX_RECORD_BYTES, &buf, &len);
        if (r == -ENOENT)
                return r;
        if (r == 0)
                r = record_parse(buf, len, whole, ret, &e);
        else
                mg_error_set(&e, r, "%s", strerror(-r));
        char want[NAME_MAX + 1];
        if (r == 0 && (record_file_name(ret->id, want, sizeof want) < 0 || !STREQ(want, name))) {
                record_free(ret);
                r = mg_error_set(&e, -EINVAL, "id does not match the file name");
        }
        if (r < 0) {
                outcome_error(l->out, "record containers/%s is corrupt (%s): moved aside, what it held is given back", name, e.msg);
                move_aside(l, "containers", name);
                /* what it held is in the node files: only a full pass finds it */
                l->force_full = true;
                return r;
        }
        ret->on_disk = true;
        ret->in_nodes = true;
        ret->saved = TAKE_PTR(buf);
        ret->saved_len = len;
        return 0;
}

static int add_loaded(struct ledger *l, struct record *rec) {
        if (grow_recs(l) < 0) {
                record_free(rec);
                return -ENOMEM;
        }
        if (!l->full && !totals_take_out(&l->totals, rec))
                l->force_full = true;
        l->recs[l->n_recs] = *rec;
        l->rec_state[l->n_recs++] = REC_KEEP;
        *rec = (struct record) {0};
        return 0;
}

/* A subdirectory of the state dir, to list (*ret_d) and read from
 * (*ret_fd). 0 with *ret_d NULL when it does not exist. */
static int state_subdir_open(struct ledger *l, const char *name, int *ret_fd, DIR **ret_d) {
        *ret_fd = -1;
        *ret_d = NULL;
        int fd = openat(l->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        int dfd = dup(fd);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                int e = errno;
                if (dfd >= 0)
                        close(dfd);
                close(fd);
                return -e;
        }
        *ret_fd = fd;
        *ret_d = d;
        return 0;
}

/* Every record not read yet. */
static int load_records(struct ledger *l) {
        _cleanup_close_ int cfd = -1;
        DIR *d;
        int r = state_subdir_open(l, "containers", &cfd, &d);
        if (r < 0 || !d)
                return r;
        char full_name[NAME_MAX + 1] = "";
        if (l->full_record_id && record_file_name(l->full_record_id, full_name, sizeof full_name) < 0)
                full_name[0] = '\0';
        size_t already = l->n_recs;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!record_file_name_is_plausible(de->d_name))
                        continue;
                if (already > 0 && record_name_loaded(l, de->d_name))
                        continue;
                struct record rec;
                if (read_record(l, cfd, de->d_name, STREQ(full_name, de->d_name), &rec) < 0)
                        continue;
                if (add_loaded(l, &rec) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        }
        closedir(d);
        return 0;
}

/* The record of one container, when there is one. */
static int load_record_of(struct ledger *l, const char *id, bool whole) {
        char name[NAME_MAX + 1];
        if (record_file_name(id, name, sizeof name) < 0 || record_name_loaded(l, name))
                return 0;
        _cleanup_close_ int cfd = openat(l->dirfd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct record rec;
        int r = read_record(l, cfd, name, whole, &rec);
        if (r < 0)
                return 0;
        return add_loaded(l, &rec);
}

static uint64_t prune_cursor_read(struct ledger *l) {
        char buf[32];
        ssize_t n = -1;
        int fd = openat(l->dirfd, "prune-cursor", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, buf, sizeof buf - 1);
                close(fd);
        }
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        char *end;
        unsigned long long v = strtoull(buf, &end, 10);
        return end != buf ? (uint64_t) v : 0;
}

static void prune_cursor_write(struct ledger *l, uint64_t cursor) {
        if (l->dry_run)
                return;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", cursor);
        /* Not atomic, and need not be: a torn cursor starts the slice over. */
        int fd = openat(l->dirfd, "prune-cursor", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        if (write(fd, buf, (size_t) n) < 0) {
                /* nothing to do: the next run starts the slice over */
        }
        close(fd);
}

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

/* The pruning slice: the next MEMGUARD_PRUNE_SLICE records of containers/
 * after the saved cursor, wrapping at the end. A stale one is kept (the
 * prune gives back what it held); a live one is dropped again. A small
 * getdents buffer keeps the work bounded, whatever the directory holds. */
static int load_slice(struct ledger *l) {
        _cleanup_close_ int cfd = openat(l->dirfd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return errno == ENOENT ? 0 : -errno;
        uint64_t start = prune_cursor_read(l), cursor = start;
        if (lseek(cfd, (off_t) start, SEEK_SET) < 0) {
                start = cursor = 0;
                (void) lseek(cfd, 0, SEEK_SET);
        }
        unsigned examined = 0;
        bool wrapped = start == 0;
        uint64_t pos = start;
        char buf[1024] __attribute__((aligned(8)));
        for (unsigned reads = 0; examined < MEMGUARD_PRUNE_SLICE && reads < 64; reads++) {
                long n = syscall(SYS_getdents64, cfd, buf, sizeof buf);
                if (n < 0)
                        break;
                if (n == 0) {
                        if (wrapped)
                                break;
                        wrapped = true;
                        pos = 0;
                        /* a new open file: ext4's htree readdir keeps
                         * its end-of-directory state across lseek(0) */
                        close(cfd);
                        cfd = openat(l->dirfd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                break;
                        continue;
                }
                bool stop = false;
                for (long off = 0; off < n && !stop;) {
                        const struct linux_dirent64 *de = (const struct linux_dirent64 *) (buf + off);
                        off += de->d_reclen;
                        uint64_t here = pos;
                        pos = (uint64_t) de->d_off;
                        if (wrapped && start != 0 && here >= start) {
                                stop = true; /* came round to where this slice began */
                                break;
                        }
                        cursor = pos;
                        if (!record_file_name_is_plausible(de->d_name) || record_name_loaded(l, de->d_name))
                                continue;
                        examined++;
                        struct record rec;
                        if (read_record(l, cfd, de->d_name, false, &rec) == 0) {
                                if (record_is_stale(l, &rec)) {
                                        if (add_loaded(l, &rec) < 0)
                                                return -ENOMEM;
                                } else
                                        record_free(&rec);
                        }
                        if (examined >= MEMGUARD_PRUNE_SLICE)
                                stop = true;
                }
                if (stop)
                        break;
        }
        /* the whole directory was seen: the next slice starts at its head */
        prune_cursor_write(l, examined < MEMGUARD_PRUNE_SLICE ? 0 : cursor);
        return 0;
}

/* ---- node files -------------------------------------------------------- */

struct lentry *ledger_entry_find(struct ledger *l, const char *path) {
        for (size_t i = 0; i < l->n_entries; i++)
                if (STREQ(l->entries[i].path, path))
                        return &l->entries[i];
        return NULL;
}

struct lentry *ledger_entry_add(struct ledger *l, const char *path) {
        if (l->n_entries == l->cap_entries) {
                size_t ncap = l->cap_entries ? l->cap_entries * 2 : 16;
                struct lentry *ne = realloc(l->entries, ncap * sizeof *ne);
                if (!ne)
                        return NULL;
                l->entries = ne;
                l->cap_entries = ncap;
        }
        struct lentry *e = &l->entries[l->n_entries];
        *e = (struct lentry) {0};
        e->path = strdup(path);
        if (!e->path)
                return NULL;
        l->n_entries++;
        return e;
}

/* Fills e from a node file's text: -EINVAL when it is corrupt. */
static int lentry_from_file(struct ledger *l, struct lentry *e, const char *name, char *buf, size_t len) {
        struct node_file nf;
        struct mg_error err = {0};
        int r = node_file_parse(buf, len, name, &nf, &err);
        if (r < 0) {
                outcome_error(l->out, "node file nodes/%s is corrupt (%s): moved aside; the original values it held are unknown", name, err.msg);
                move_aside(l, "nodes", name);
                l->loaded_ledger_corrupt = true;
                l->force_full = true;
                return r;
        }
        memcpy(e->v, nf.held, sizeof e->v);
        e->n_claims = nf.n_claims;
        memcpy(e->below, nf.below, sizeof e->below);
        for (size_t k = 0; k < e->n_own; k++)
                free(e->own[k].record);
        free(e->own);
        e->own = TAKE_PTR(nf.own);
        e->n_own = nf.n_own;
        nf.n_own = 0;
        node_file_free(&nf);
        free(e->saved);
        e->saved = buf;
        e->saved_len = len;
        return 0;
}

int ledger_entry_load(struct ledger *l, const char *path, struct lentry **ret) {
        assert(l);
        assert(path);
        assert(ret);
        struct lentry *e = ledger_entry_find(l, path);
        if (e) {
                *ret = e;
                return 0;
        }
        char name[NODE_FILE_NAME_SIZE], rel[NODE_FILE_NAME_SIZE + 8];
        node_file_name(path, name);
        snprintf(rel, sizeof rel, "nodes/%s", name);
        char *buf = NULL;
        size_t len = 0;
        int r = l->dirfd >= 0 ? read_file_at(l->dirfd, rel, MEMGUARD_MAX_RECORD_BYTES, &buf, &len) : -ENOENT;
        if (r < 0 && r != -ENOENT) {
                outcome_error(l->out, "node file %s of %s: %s", rel, path, strerror(-r));
                l->force_full = true;
                return -EUCLEAN;
        }
        e = ledger_entry_add(l, path);
        if (!e) {
                free(buf);
                return -ENOMEM;
        }
        if (r == 0 && lentry_from_file(l, e, name, buf, len) < 0) {
                free(buf);
                return -EUCLEAN;
        }
        *ret = e;
        return 0;
}

/* Every node file not read yet. */
static int load_nodes(struct ledger *l) {
        _cleanup_close_ int nfd = -1;
        DIR *d;
        int r0 = state_subdir_open(l, "nodes", &nfd, &d);
        if (r0 < 0 || !d)
                return r0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                if (nl != NODE_FILE_NAME_SIZE - 1 || strcmp(de->d_name + nl - 5, ".json") != 0)
                        continue;
                char *buf = NULL;
                size_t len;
                int r = read_file_at(nfd, de->d_name, MEMGUARD_MAX_RECORD_BYTES, &buf, &len);
                if (r < 0)
                        continue;
                /* The path inside says which entry it is. */
                struct node_file nf;
                struct mg_error err = {0};
                if (node_file_parse(buf, len, de->d_name, &nf, &err) < 0) {
                        (void) lentry_from_file(l, &(struct lentry) {0}, de->d_name, buf, len);
                        free(buf);
                        continue;
                }
                struct lentry *e = ledger_entry_find(l, nf.path);
                if (!e && !(e = ledger_entry_add(l, nf.path))) {
                        node_file_free(&nf);
                        free(buf);
                        closedir(d);
                        return -ENOMEM;
                }
                node_file_free(&nf);
                if (lentry_from_file(l, e, de->d_name, buf, len) < 0)
                        free(buf);
        }
        closedir(d);
        return 0;
}

/* ---- ledger.json ------------------------------------------------------- */

struct ledger_file {
        int version;
        bool clean;
        struct json_node *root;
};

/* A v1 ledger.json held every cgroup's values: read them once, the
 * full pass writes them out as node files. */
static int load_v1_cgroups(struct ledger *l, const struct json_node *root) {
        const struct json_node *cg = json_get(root, "cgroups");
        if (!cg || cg->type != JSON_OBJECT)
                return 0;
        for (size_t i = 0; i < cg->n; i++) {
                char path[1024];
                copy_str(path, sizeof path, cg->keys[i]);
                if (cgroup_path_normalize(path) < 0 || STREQ(path, "/"))
                        continue;
                struct lentry *en = ledger_entry_find(l, path);
                if (!en && !(en = ledger_entry_add(l, path)))
                        return -ENOMEM;
                for (int v = 0; v < LV_N; v++)
                        held_value_json_parse(json_get(cg->items[i], plan_value_file[v]), &en->v[v]);
        }
        return 0;
}

/* "top":{"read_usec":N,"holders":[{"name":"/x","min":N,"low":N},...]}:
 * anything not so (a hand edit, a torn file) is no view, and the next
 * start reads the top. */
static int top_parse(struct ledger *l, const struct json_node *top) {
        uint64_t when;
        const struct json_node *h = top && top->type == JSON_OBJECT ? json_get(top, "holders") : NULL;
        if (!h || h->type != JSON_ARRAY || h->n > MEMGUARD_TOP_KEPT_MAX || json_get_u64(top, "read_usec", &when, NULL) < 0)
                return 0;
        struct budget_holder *t = calloc(h->n + 1, sizeof *t);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < h->n; i++) {
                const struct json_node *c = h->items[i];
                const char *name;
                if (c->type != JSON_OBJECT || json_get_string(c, "name", &name, NULL) < 0 || name[0] != '/' || !name[1] ||
                    strchr(name + 1, '/') || strlen(name) >= sizeof t[i].name || json_get_u64(c, "min", &t[i].min, NULL) < 0 ||
                    json_get_u64(c, "low", &t[i].low, NULL) < 0) {
                        free(t);
                        return 0;
                }
                copy_str(t[i].name, sizeof t[i].name, name);
        }
        free(l->top);
        l->top = t;
        l->n_top = h->n;
        l->top_read_usec = when;
        l->top_kept = true;
        return 0;
}

uint64_t ledger_top_max_age(const struct ledger *l, bool near_cap) {
        assert(l);
        uint64_t bound = MEMGUARD_TOP_MAX_AGE_USEC;
        const char *e = l->sysroot && l->sysroot[0] ? getenv("MEMGUARD_TOP_MAX_AGE_USEC") : NULL;
        char *end;
        if (e && *e) {
                unsigned long long v = strtoull(e, &end, 10);
                if (*end == '\0')
                        bound = (uint64_t) v;
        }
        return near_cap && bound > MEMGUARD_TOP_NEAR_MAX_AGE_USEC ? MEMGUARD_TOP_NEAR_MAX_AGE_USEC : bound;
}

int ledger_top_cached(const struct ledger *l, uint64_t max_age_usec, struct budget_top *ret) {
        assert(l);
        assert(ret);
        *ret = (struct budget_top) {0};
        uint64_t now = now_usec_monotonic();
        if (!l->top_kept || now < l->top_read_usec || now - l->top_read_usec >= max_age_usec)
                return -ESTALE;
        struct budget_top t = { .holders = calloc(l->n_top + 1, sizeof *t.holders), .n_children = l->n_top };
        if (!t.holders)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_top; i++) {
                if (l->top[i].min == 0 && l->top[i].low == 0)
                        continue;
                t.holders[t.n_holders++] = l->top[i];
                budget_usage_add(&t.used, l->top[i].min, l->top[i].low);
        }
        *ret = t;
        return 0;
}

void ledger_top_keep(struct ledger *l, const struct budget_top *t) {
        assert(l);
        assert(t);
        uint64_t now = now_usec_monotonic();
        l->top_kept = false;
        if (t->n_holders > MEMGUARD_TOP_KEPT_MAX)
                return;
        struct budget_holder *copy = calloc(t->n_holders + 1, sizeof *copy);
        if (!copy)
                return; /* no view: the next start reads the top */
        if (t->n_holders)
                memcpy(copy, t->holders, t->n_holders * sizeof *copy);
        free(l->top);
        l->top = copy;
        l->n_top = t->n_holders;
        l->top_read_usec = now;
        l->top_kept = true;
}

void ledger_top_note(struct ledger *l, const char *path, int v, uint64_t value) {
        assert(l);
        assert(path);
        if (!l->top_kept || path[0] != '/' || !path[1] || strchr(path + 1, '/') || v < 0 || v >= LV_N)
                return;
        for (size_t i = 0; i < l->n_top; i++)
                if (STREQ(l->top[i].name, path)) {
                        if (v == LV_MIN)
                                l->top[i].min = value;
                        else
                                l->top[i].low = value;
                        return;
                }
        if (value == 0)
                return;
        /* Held nothing when read: the other value is 0 as far as the view knows. */
        struct budget_holder *more = l->n_top < MEMGUARD_TOP_KEPT_MAX ? realloc(l->top, (l->n_top + 1) * sizeof *more) : NULL;
        if (!more || strlen(path) >= sizeof more->name) {
                l->top_kept = false; /* cannot follow: read the top next time */
                return;
        }
        l->top = more;
        struct budget_holder *h = &l->top[l->n_top++];
        *h = (struct budget_holder) {0};
        copy_str(h->name, sizeof h->name, path);
        if (v == LV_MIN)
                h->min = value;
        else
                h->low = value;
}

/* The builds' claims on vm.swappiness whose records this run does not
 * read: stand-ins that plan_swappiness counts and nothing writes. */
static int add_swappiness_stubs(struct ledger *l, const struct json_node *claims) {
        if (!claims || claims->type != JSON_ARRAY)
                return 0;
        for (size_t i = 0; i < claims->n && i < 4096; i++) {
                const struct json_node *c = claims->items[i];
                const char *id;
                int64_t value;
                uint64_t expires = 0;
                if (c->type != JSON_OBJECT || json_get_string(c, "id", &id, NULL) < 0 || !container_id_is_valid(id) ||
                    json_get_i64(c, "value", &value, NULL) < 0 || value < 0 || value > 200)
                        continue;
                (void) json_get_u64(c, "expires_usec", &expires, NULL);
                bool have = false;
                for (size_t k = 0; k < l->n_recs && !have; k++)
                        have = STREQ(l->recs[k].id, id);
                if (have)
                        continue;
                if (grow_recs(l) < 0)
                        return -ENOMEM;
                struct record *r = &l->recs[l->n_recs];
                *r = (struct record) { .swappiness = (int) value, .swappiness_expires_usec = expires, .build = true, .stub = true };
                copy_str(r->id, sizeof r->id, id);
                l->rec_state[l->n_recs++] = REC_KEEP;
        }
        return 0;
}

/* The environment is read only for a fixture host (--sysroot): on a real
 * one, behaviour never depends on it (Podman runs poststop hooks with an
 * empty environment). */
static uint64_t full_pass_interval(const struct ledger *l) {
        const char *e = l->sysroot && l->sysroot[0] ? getenv("MEMGUARD_PRUNE_FULL_AFTER_USEC") : NULL;
        char *end;
        if (e && *e) {
                unsigned long long v = strtoull(e, &end, 10);
                if (*end == '\0')
                        return (uint64_t) v;
        }
        return MEMGUARD_FULL_PASS_USEC;
}

int ledger_load_rest(struct ledger *l, const char *why) {
        assert(l);
        if (l->full)
                return 0;
        if (why)
                outcome_skip(l->out, "state: %s: reading every record (a full pass)", why);
        /* The stand-ins go: every record is read now. */
        size_t k = 0;
        for (size_t i = 0; i < l->n_recs; i++) {
                if (l->recs[i].stub) {
                        record_free(&l->recs[i]);
                        continue;
                }
                l->recs[k] = l->recs[i];
                l->rec_state[k++] = l->rec_state[i];
        }
        l->n_recs = k;
        l->full = true;
        l->totals = (struct ledger_totals) {0};
        int r = load_records(l);
        if (r == 0)
                r = load_nodes(l);
        return r;
}

int ledger_load(struct ledger *l) {
        if (l->dirfd < 0) {
                l->full = true; /* a dry run with no state dir: nothing to read */
                return 0;
        }
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        _cleanup_json_ struct json_node *root = NULL;
        const char *why = NULL;
        int r = read_file_at(l->dirfd, "ledger.json", MEMGUARD_MAX_RECORD_BYTES * 16, &buf, &len);
        if (r == -ENOENT)
                why = "no ledger.json";
        else {
                struct mg_error e = {0};
                if (r == 0)
                        r = json_parse(buf, len, &(const struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true }, &root, &e);
                else
                        mg_error_set(&e, r, "%s", strerror(-r));
                if (r == 0 && root->type != JSON_OBJECT)
                        r = mg_error_set(&e, -EINVAL, "not an object");
                if (r < 0) {
                        outcome_error(l->out, "ledger.json is corrupt (%s): moved aside; the node files still hold the original values", e.msg);
                        l->loaded_ledger_corrupt = true;
                        move_aside(l, NULL, "ledger.json");
                        json_free(root);
                        root = NULL;
                        why = "ledger.json was corrupt";
                } else {
                        /* what is on disk: ledger_save writes only a change */
                        l->saved_len = len;
                        l->saved = TAKE_PTR(buf);
                }
        }
        int64_t version = 0;
        bool clean = false;
        if (root) {
                (void) json_get_i64(root, "version", &version, NULL);
                (void) json_get_bool(root, "clean", &clean, NULL);
                held_value_json_parse(json_get(root, "vm.swappiness"), &l->swappiness);
                if (version < 2) {
                        r = load_v1_cgroups(l, root);
                        if (r < 0)
                                return r;
                        why = "ledger.json of an older version";
                } else if (!clean)
                        why = "the last run that changed the state did not finish";
                l->clean_on_disk = version >= 2 && clean;
                const struct json_node *t = json_get(root, "totals");
                if (t && t->type == JSON_OBJECT) {
                        (void) json_get_u64(t, "records", &l->totals.records, NULL);
                        (void) json_get_u64(t, "protected", &l->totals.protected_, NULL);
                        (void) json_get_u64(t, "held_min", &l->totals.held_min, NULL);
                        (void) json_get_u64(t, "held_low", &l->totals.held_low, NULL);
                        (void) json_get_u64(t, "builds", &l->totals.builds, NULL);
                        (void) json_get_u64(t, "clamped", &l->totals.clamped, NULL);
                        (void) json_get_u64(t, "short_min", &l->totals.short_min, NULL);
                        (void) json_get_u64(t, "short_protection", &l->totals.short_protection, NULL);
                } else if (!why)
                        why = "ledger.json has no totals";
                (void) json_get_u64(root, "full_pass_usec", &l->full_pass_usec, NULL);
                if (top_parse(l, json_get(root, "top")) < 0)
                        return -ENOMEM;
        }
        uint64_t now = now_usec_monotonic();
        bool due = now < l->full_pass_usec || now - l->full_pass_usec >= full_pass_interval(l);
        bool full = why || l->force_full || l->dry_run || due;
        if (full) {
                if (why && !l->dry_run && root)
                        outcome_skip(l->out, "state: %s: reading every record (a full pass)", why);
                l->full = true;
                l->totals = (struct ledger_totals) {0};
                r = load_records(l);
                if (r == 0)
                        r = load_nodes(l);
                return r;
        }
        if (l->full_record_id && (r = load_record_of(l, l->full_record_id, true)) < 0)
                return r;
        if (l->start_record_id && (r = load_record_of(l, l->start_record_id, false)) < 0)
                return r;
        if ((r = load_slice(l)) < 0)
                return r;
        if ((r = add_swappiness_stubs(l, json_get(root, "swappiness_claims"))) < 0)
                return r;
        if (l->force_full)
                return ledger_load_rest(l, "the totals do not add up");
        return 0;
}

/* ---- saving ------------------------------------------------------------ */

static int ledger_json_format(struct ledger *l, bool clean, bool with_top, struct strbuf *sb) {
        struct ledger_totals t;
        ledger_totals_now(l, &t);
        strbuf_printf(sb, "{\"version\":2,\"clean\":%s", clean ? "true" : "false");
        if (l->swappiness.managed) {
                strbuf_puts(sb, ",\n");
                held_value_json_format(sb, "vm.swappiness", &l->swappiness);
        }
        strbuf_puts(sb, ",\n\"swappiness_claims\":[");
        unsigned n = 0;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *r = &l->recs[i];
                if (l->rec_state[i] == REC_REMOVED || r->swappiness < 0)
                        continue;
                strbuf_puts(sb, n++ ? ",{\"id\":" : "{\"id\":");
                strbuf_json_string(sb, r->id);
                strbuf_printf(sb, ",\"value\":%d,\"expires_usec\":%" PRIu64 "}", r->swappiness, r->swappiness_expires_usec);
        }
        strbuf_printf(sb,
                      "],\n\"totals\":{\"records\":%" PRIu64 ",\"protected\":%" PRIu64 ",\"held_min\":%" PRIu64 ",\"held_low\":%" PRIu64
                      ",\"builds\":%" PRIu64 ",\"clamped\":%" PRIu64 ",\"short_min\":%" PRIu64 ",\"short_protection\":%" PRIu64
                      "},\n\"full_pass_usec\":%" PRIu64,
                      t.records, t.protected_, t.held_min, t.held_low, t.builds, t.clamped, t.short_min, t.short_protection, l->full_pass_usec);
        if (with_top && l->top_kept) {
                strbuf_printf(sb, ",\n\"top\":{\"read_usec\":%" PRIu64 ",\"holders\":[", l->top_read_usec);
                for (size_t i = 0; i < l->n_top; i++) {
                        strbuf_puts(sb, i ? ",{\"name\":" : "{\"name\":");
                        strbuf_json_string(sb, l->top[i].name);
                        strbuf_printf(sb, ",\"min\":%" PRIu64 ",\"low\":%" PRIu64 "}", l->top[i].min, l->top[i].low);
                }
                strbuf_puts(sb, "]}");
        }
        strbuf_puts(sb, "}\n");
        return sb->oom ? -ENOMEM : 0;
}

static int ledger_json_write(struct ledger *l, bool clean) {
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        int r = ledger_json_format(l, clean, true, &sb);
        if (r < 0)
                return r;
        /* Unchanged (a run that changes nothing): no write, no fsync. */
        if (l->saved && l->saved_len == sb.len && memcmp(l->saved, sb.buf, sb.len) == 0)
                return 0;
        r = write_file_atomic_at(l->dirfd, "ledger.json", sb.buf, sb.len, 0600);
        free(l->saved);
        l->saved = NULL;
        if (r == 0) {
                l->saved_len = sb.len;
                l->saved = TAKE_PTR(sb.buf);
                sb.len = sb.cap = 0;
                l->clean_on_disk = clean;
        }
        return r;
}

/* Whether ledger.json on disk says what core says (the file without the
 * budget's view of the top, ending "}\n") but for the view: a new view
 * alone is no change the journal must cover. */
static bool ledger_core_unchanged(const struct ledger *l, const struct strbuf *core) {
        if (!l->saved || core->len < 2)
                return false;
        size_t n = core->len - 2;
        if (l->saved_len < n || memcmp(l->saved, core->buf, n) != 0)
                return false;
        const char *rest = l->saved + n;
        size_t rest_len = l->saved_len - n;
        static const char top[] = ",\n\"top\":";
        return (rest_len == 2 && memcmp(rest, "}\n", 2) == 0) || (rest_len > sizeof top - 1 && memcmp(rest, top, sizeof top - 1) == 0);
}

int ledger_mark_unclean(struct ledger *l) {
        assert(l);
        if (l->dry_run || !l->clean_on_disk)
                return 0;
        return ledger_json_write(l, false);
}

static bool lentry_needed(const struct lentry *e) { return e->v[LV_MIN].managed || e->v[LV_LOW].managed || e->n_claims > 0; }

static int save_node(struct ledger *l, struct lentry *e) {
        char name[NODE_FILE_NAME_SIZE], rel[NODE_FILE_NAME_SIZE + 8];
        node_file_name(e->path, name);
        snprintf(rel, sizeof rel, "nodes/%s", name);
        if (!lentry_needed(e)) {
                if (!e->saved)
                        return 0;
                int r = ledger_mark_unclean(l);
                if (r < 0)
                        return r;
                if (unlinkat(l->dirfd, rel, 0) < 0 && errno != ENOENT)
                        return -errno;
                free(e->saved);
                e->saved = NULL;
                e->saved_len = 0;
                return 0;
        }
        struct node_file nf = { .path = e->path, .n_claims = e->n_claims, .own = e->own, .n_own = e->n_own };
        memcpy(nf.held, e->v, sizeof nf.held);
        memcpy(nf.below, e->below, sizeof nf.below);
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        struct mg_error err = {0};
        int r = node_file_format(&nf, &sb, &err);
        if (r < 0)
                return r;
        if (e->saved && e->saved_len == sb.len && memcmp(e->saved, sb.buf, sb.len) == 0)
                return 0;
        r = ledger_mark_unclean(l);
        if (r < 0)
                return r;
        r = write_file_atomic_at(l->dirfd, rel, sb.buf, sb.len, 0600);
        free(e->saved);
        e->saved = NULL;
        e->saved_len = 0;
        if (r == 0) {
                e->saved_len = sb.len;
                e->saved = TAKE_PTR(sb.buf);
                sb.len = sb.cap = 0;
        }
        return r;
}

int ledger_save(struct ledger *l, bool final) {
        assert(l);
        int r = 0;
        for (size_t i = 0; i < l->n_entries; i++) {
                int k = save_node(l, &l->entries[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (r < 0)
                return r;
        if (final && l->full)
                l->full_pass_usec = now_usec_monotonic();
        /* Not final: the intents (vm.swappiness) are saved with the state
         * marked unclean, only when something changed. */
        if (!final) {
                _cleanup_(strbuf_free) struct strbuf sb = {0};
                r = ledger_json_format(l, true, false, &sb);
                if (r < 0)
                        return r;
                if (l->clean_on_disk && ledger_core_unchanged(l, &sb))
                        return 0;
                return ledger_json_write(l, false);
        }
        return ledger_json_write(l, true);
}

/* ---- liveness --------------------------------------------------------- */

int proc_starttime(const char *sysroot, int64_t pid, uint64_t *ret) {
        char rel[64], path[PATH_MAX], buf[1024];
        snprintf(rel, sizeof rel, "/proc/%" PRId64 "/stat", pid);
        int r = path_join(path, sizeof path, sysroot, rel);
        if (r < 0)
                return r;
        r = read_line_at(AT_FDCWD, path, buf, sizeof buf);
        if (r < 0)
                return r;
        /* comm (field 2) may contain spaces and parentheses: count fields
         * from the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        p++;
        /* p is at " S ppid ..." : field 3 is the state; start time is field 22 */
        unsigned field = 2;
        char *save = NULL;
        for (char *t = strtok_r(p, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                field++;
                if (field == 22)
                        return safe_atou64(t, ret) < 0 ? -EBADMSG : 0;
        }
        return -EBADMSG;
}

static bool record_is_stale(struct ledger *l, const struct record *rec) {
        if (rec->cgroup_dir[0]) {
                char path[PATH_MAX];
                struct stat st;
                if (path_join(path, sizeof path, l->sysroot, rec->cgroup_dir) == 0 && fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return false;
        }
        if (rec->pid > 0) {
                uint64_t st;
                if (proc_starttime(l->sysroot, rec->pid, &st) == 0 && (rec->starttime == 0 || st == rec->starttime))
                        return false;
        }
        return true;
}

void ledger_prune_stale(struct ledger *l) {
        for (size_t i = 0; i < l->n_recs; i++) {
                if (l->rec_state[i] != REC_KEEP || l->recs[i].stub)
                        continue;
                if (!record_is_stale(l, &l->recs[i]))
                        continue;
                l->rec_state[i] = REC_REMOVED;
                outcome_skip(l->out, "stale record of container %s (cgroup %s gone, pid %" PRId64 " gone): giving back what it held",
                             l->recs[i].id, l->recs[i].cgroup[0] ? l->recs[i].cgroup : "-", l->recs[i].pid);
        }
}

struct record *ledger_find(struct ledger *l, const char *id) {
        for (size_t i = 0; i < l->n_recs; i++)
                if (l->rec_state[i] != REC_REMOVED && !l->recs[i].stub && STREQ(l->recs[i].id, id))
                        return &l->recs[i];
        return NULL;
}

/* A second start of the same process (createRuntime after prestart, a
 * runtime that runs its hooks twice) is the same start: it keeps the first
 * one's start time, evidence snapshot and build expiry, and, when it claims
 * the same, what its leaf took. A new process (a restart) starts afresh.
 * Either way the bytes on disk travel along, so an unchanged record is not
 * written again. */
static void record_carry_over(struct record *old, struct record *rec) {
        rec->saved = TAKE_PTR(old->saved);
        rec->saved_len = old->saved_len;
        old->saved_len = 0;
        if (!old->on_disk || rec->pid <= 0 || rec->pid != old->pid || rec->starttime == 0 || rec->starttime != old->starttime)
                return;
        rec->started_realtime_usec = old->started_realtime_usec;
        rec->started_monotonic_usec = old->started_monotonic_usec;
        if (rec->swappiness == old->swappiness)
                rec->swappiness_expires_usec = old->swappiness_expires_usec;
        if (old->extra_json) {
                free(rec->extra_json);
                rec->extra_json = TAKE_PTR(old->extra_json);
        }
        if (rec->protect == old->protect && STREQ(rec->cgroup, old->cgroup) && rec->min == old->min && rec->low == old->low)
                memcpy(rec->applied, old->applied, sizeof rec->applied);
}

int ledger_add(struct ledger *l, struct record *rec) {
        for (size_t i = 0; i < l->n_recs; i++)
                if (STREQ(l->recs[i].id, rec->id)) {
                        /* A second start of the same id (createRuntime after
                         * prestart, a restart): the newer record wins. The
                         * chain of the one it replaces is planned too. */
                        if (l->recs[i].on_disk && l->recs[i].protect && !STREQ(l->recs[i].cgroup, rec->cgroup))
                                snprintf(l->replaced_cgroup, sizeof l->replaced_cgroup, "%s", l->recs[i].cgroup);
                        record_carry_over(&l->recs[i], rec);
                        record_free(&l->recs[i]);
                        l->recs[i] = *rec;
                        l->rec_state[i] = REC_NEW;
                        *rec = (struct record) {0};
                        return 0;
                }
        if (grow_recs(l) < 0)
                return -ENOMEM;
        l->recs[l->n_recs] = *rec;
        l->rec_state[l->n_recs++] = REC_NEW;
        *rec = (struct record) {0};
        return 0;
}

int ledger_remove(struct ledger *l, const char *id) {
        for (size_t i = 0; i < l->n_recs; i++)
                if (l->rec_state[i] != REC_REMOVED && !l->recs[i].stub && STREQ(l->recs[i].id, id)) {
                        l->rec_state[i] = REC_REMOVED;
                        return 0;
                }
        return -ENOENT;
}


/* ---- record files ------------------------------------------------------ */

int record_file_name(const char *id, char *buf, size_t size) {
        assert(id);
        assert(buf);
        /* write_file_atomic_at writes "<name>.tmp.<pid>" first: the
         * longest name must fit NAME_MAX (255), pid up to 10 digits. */
        size_t n = strlen(id);
        int k;
        if (n + strlen(".json.tmp.") + 10 <= NAME_MAX)
                k = snprintf(buf, size, "%s.json", id);
        else {
                /* '~' is no character of an id: the two forms never meet */
                uint8_t h[SHA256_DIGEST_SIZE];
                char hex[2 * SHA256_DIGEST_SIZE + 1];
                sha256(id, n, h);
                for (size_t i = 0; i < sizeof h; i++)
                        snprintf(hex + 2 * i, 3, "%02x", h[i]);
                k = snprintf(buf, size, "~%s.json", hex);
        }
        if (k < 0 || (size_t) k >= size)
                return -ENAMETOOLONG;
        return 0;
}

int ledger_save_record(struct ledger *l, size_t i) {
        assert(l);
        char file[NAME_MAX + 1], name[NAME_MAX + 16];
        int r = record_file_name(l->recs[i].id, file, sizeof file);
        if (r < 0)
                return r;
        snprintf(name, sizeof name, "containers/%s", file);
        assert(!l->recs[i].stub);
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        struct record *rec = &l->recs[i];
        r = record_format(rec, &sb);
        if (r < 0)
                return r;
        if (!(rec->saved && rec->saved_len == sb.len && memcmp(rec->saved, sb.buf, sb.len) == 0)) {
                r = ledger_mark_unclean(l);
                if (r == 0)
                        r = write_file_atomic_at(l->dirfd, name, sb.buf, sb.len, 0600);
                if (r < 0)
                        return r;
                free(rec->saved);
                rec->saved_len = sb.len;
                rec->saved = TAKE_PTR(sb.buf);
                sb.len = sb.cap = 0;
        }
        l->rec_state[i] = REC_KEEP;
        rec->on_disk = true;
        return 0;
}

void ledger_unlink_record(struct ledger *l, size_t i) {
        assert(l);
        char file[NAME_MAX + 1], name[NAME_MAX + 16];
        if (record_file_name(l->recs[i].id, file, sizeof file) < 0)
                return;
        snprintf(name, sizeof name, "containers/%s", file);
        if (l->recs[i].stub || ledger_mark_unclean(l) < 0)
                return;
        if (unlinkat(l->dirfd, name, 0) < 0 && errno != ENOENT)
                outcome_error(l->out, "remove record %s: %m", name);
        l->recs[i].on_disk = false;
        sample_unlink_at(l->dirfd, l->recs[i].id);
}

uint64_t ledger_swappiness_expiry(uint64_t now_monotonic_usec) {
        /* The one place the lifetime enters (a host setting can replace
         * the default here). */
        return now_monotonic_usec + MEMGUARD_SWAPPINESS_LIFETIME_USEC;
}

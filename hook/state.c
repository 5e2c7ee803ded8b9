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
#include <time.h>

#include "json.h"
#include "nodefile.h"
#include "sha256.h"

void record_free(struct record *r) {
        free(r->extra_json);
        free(r->policies_json);
        r->extra_json = r->policies_json = NULL;
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
                free(l->entries[i].path);
        free(l->entries);
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

static int load_records(struct ledger *l) {
        _cleanup_close_ int cfd = openat(l->dirfd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return errno == ENOENT ? 0 : -errno;
        int dfd = dup(cfd);
        if (dfd < 0)
                return -errno;
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        char full_name[NAME_MAX + 1] = "";
        if (l->full_record_id && record_file_name(l->full_record_id, full_name, sizeof full_name) < 0)
                full_name[0] = '\0';
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
                        continue;
                /* "<id>.json", or "~<hash>.json" with the id inside */
                if (de->d_name[0] != '~') {
                        char id[NAME_MAX + 1];
                        snprintf(id, sizeof id, "%.*s", (int) (nl - 5), de->d_name);
                        if (!container_id_is_valid(id))
                                continue;
                }
                _cleanup_free_ char *buf = NULL;
                size_t len;
                struct mg_error e = {0};
                int r = read_file_at(cfd, de->d_name, MEMGUARD_MAX_RECORD_BYTES, &buf, &len);
                struct record rec;
                if (r == 0)
                        r = record_parse(buf, len, STREQ(full_name, de->d_name), &rec, &e);
                else
                        mg_error_set(&e, r, "%s", strerror(-r));
                char want[NAME_MAX + 1];
                if (r == 0 && (record_file_name(rec.id, want, sizeof want) < 0 || !STREQ(want, de->d_name))) {
                        record_free(&rec);
                        r = mg_error_set(&e, -EINVAL, "id does not match the file name");
                }
                if (r < 0) {
                        outcome_error(l->out, "record containers/%s is corrupt (%s): moved aside, what it held is given back", de->d_name, e.msg);
                        move_aside(l, "containers", de->d_name);
                        continue;
                }
                if (grow_recs(l) < 0) {
                        record_free(&rec);
                        closedir(d);
                        return -ENOMEM;
                }
                l->recs[l->n_recs] = rec;
                l->rec_state[l->n_recs++] = REC_KEEP;
        }
        closedir(d);
        return 0;
}

/* ---- ledger.json ------------------------------------------------------ */

struct lentry *ledger_entry_find(struct ledger *l, const char *path) {
        for (size_t i = 0; i < l->n_entries; i++)
                if (STREQ(l->entries[i].path, path))
                        return &l->entries[i];
        return NULL;
}

struct lentry *ledger_entry_add(struct ledger *l, const char *path) {
        struct lentry *ne = realloc(l->entries, (l->n_entries + 1) * sizeof *ne);
        if (!ne)
                return NULL;
        l->entries = ne;
        struct lentry *e = &l->entries[l->n_entries];
        *e = (struct lentry) {0};
        e->path = strdup(path);
        if (!e->path)
                return NULL;
        l->n_entries++;
        return e;
}

static int load_ledger(struct ledger *l) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(l->dirfd, "ledger.json", MEMGUARD_MAX_RECORD_BYTES * 16, &buf, &len);
        if (r == -ENOENT)
                return 0;
        struct mg_error e = {0};
        _cleanup_json_ struct json_node *root = NULL;
        if (r == 0)
                r = json_parse(buf, len, &(const struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true }, &root, &e);
        else
                mg_error_set(&e, r, "%s", strerror(-r));
        if (r == 0 && root->type != JSON_OBJECT)
                r = mg_error_set(&e, -EINVAL, "not an object");
        if (r == 0) {
                /* what is on disk: save_ledger writes only a change */
                free(l->saved);
                l->saved_len = len;
                l->saved = TAKE_PTR(buf);
        }
        if (r < 0) {
                /* The originals are lost with it: say so loudly. Values the
                 * hook raised stay raised until an operator looks. */
                outcome_error(l->out, "ledger.json is corrupt (%s): moved aside; original values it held are unknown", e.msg);
                l->loaded_ledger_corrupt = true;
                move_aside(l, NULL, "ledger.json");
                return 0;
        }
        const struct json_node *cg = json_get(root, "cgroups");
        if (cg && cg->type == JSON_OBJECT) {
                for (size_t i = 0; i < cg->n; i++) {
                        char path[1024];
                        copy_str(path, sizeof path, cg->keys[i]);
                        if (cgroup_path_normalize(path) < 0 || STREQ(path, "/"))
                                continue;
                        struct lentry *en = ledger_entry_add(l, path);
                        if (!en)
                                return -ENOMEM;
                        for (int v = 0; v < LV_N; v++)
                                held_value_json_parse(json_get(cg->items[i], plan_value_file[v]), &en->v[v]);
                }
        }
        held_value_json_parse(json_get(root, "vm.swappiness"), &l->swappiness);
        return 0;
}

int ledger_save(struct ledger *l) {
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        strbuf_puts(&sb, "{\"version\":1,\"cgroups\":{");
        unsigned n = 0;
        for (size_t i = 0; i < l->n_entries; i++) {
                const struct lentry *e = &l->entries[i];
                if (!e->v[LV_MIN].managed && !e->v[LV_LOW].managed)
                        continue;
                strbuf_puts(&sb, n++ ? ",\n" : "\n");
                strbuf_json_string(&sb, e->path);
                strbuf_puts(&sb, ":{");
                bool first = true;
                for (int v = 0; v < LV_N; v++) {
                        if (!e->v[v].managed)
                                continue;
                        if (!first)
                                strbuf_puts(&sb, ",");
                        first = false;
                        held_value_json_format(&sb, plan_value_file[v], &e->v[v]);
                }
                strbuf_puts(&sb, "}");
        }
        strbuf_puts(&sb, "}");
        if (l->swappiness.managed) {
                strbuf_puts(&sb, ",\n");
                held_value_json_format(&sb, "vm.swappiness", &l->swappiness);
        }
        strbuf_puts(&sb, "}\n");
        if (sb.oom)
                return -ENOMEM;
        /* Unchanged (a run that changes no claim, or the final save after
         * the intent save): no write, no fsync. */
        if (l->saved && l->saved_len == sb.len && memcmp(l->saved, sb.buf, sb.len) == 0)
                return 0;
        int r = write_file_atomic_at(l->dirfd, "ledger.json", sb.buf, sb.len, 0600);
        free(l->saved);
        l->saved = NULL;
        if (r == 0) {
                l->saved_len = sb.len;
                l->saved = TAKE_PTR(sb.buf);
                sb.len = sb.cap = 0;
        }
        return r;
}

int ledger_load(struct ledger *l) {
        if (l->dirfd < 0)
                return 0;
        int r = load_records(l);
        if (r < 0)
                return r;
        return load_ledger(l);
}

/* ---- liveness --------------------------------------------------------- */

int proc_starttime(const char *sysroot, int64_t pid, uint64_t *ret) {
        char rel[64], path[PATH_MAX], buf[1024];
        snprintf(rel, sizeof rel, "/proc/%" PRId64 "/stat", pid);
        int r = path_join(path, sizeof path, sysroot, rel);
        if (r < 0)
                return r;
        r = read_small_at(AT_FDCWD, path, buf, sizeof buf);
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
                if (l->rec_state[i] != REC_KEEP)
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
                if (l->rec_state[i] != REC_REMOVED && STREQ(l->recs[i].id, id))
                        return &l->recs[i];
        return NULL;
}

int ledger_add(struct ledger *l, struct record *rec) {
        for (size_t i = 0; i < l->n_recs; i++)
                if (STREQ(l->recs[i].id, rec->id)) {
                        /* A second start of the same id (createRuntime after
                         * prestart, a restart): the newer record wins. */
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
                if (l->rec_state[i] != REC_REMOVED && STREQ(l->recs[i].id, id)) {
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
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        r = record_format(&l->recs[i], &sb);
        if (r == 0)
                r = write_file_atomic_at(l->dirfd, name, sb.buf, sb.len, 0600);
        if (r == 0)
                l->rec_state[i] = REC_KEEP;
        return r;
}

void ledger_unlink_record(struct ledger *l, size_t i) {
        assert(l);
        char file[NAME_MAX + 1], name[NAME_MAX + 16];
        if (record_file_name(l->recs[i].id, file, sizeof file) < 0)
                return;
        snprintf(name, sizeof name, "containers/%s", file);
        if (unlinkat(l->dirfd, name, 0) < 0 && errno != ENOENT)
                outcome_error(l->out, "remove record %s: %m", name);
        sample_unlink_at(l->dirfd, l->recs[i].id);
}

uint64_t ledger_swappiness_expiry(uint64_t now_monotonic_usec) {
        /* The one place the lifetime enters (a host setting can replace
         * the default here). */
        return now_monotonic_usec + MEMGUARD_SWAPPINESS_LIFETIME_USEC;
}

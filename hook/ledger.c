/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ledger.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "killpoint.h"
#include "sysctl.h"
#include "systemd.h"

const char *const ledger_value_file[LV_N] = { "memory.min", "memory.low" };

#define LOCK_TIMEOUT_USEC (10u * 1000u * 1000u)
/* A start must not hang on a wedged bus: fall back to a direct write. */
#define SYSTEMD_TIMEOUT_USEC (2u * 1000u * 1000u)

void record_free(struct record *r) {
        free(r->extra_json);
        free(r->policies_json);
        r->extra_json = r->policies_json = NULL;
}

static int mkdir_p_at_root(const char *path, mode_t last_mode) {
        /* The common case: it exists (one syscall, not one per component). */
        if (mkdir(path, last_mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        char buf[PATH_MAX];
        int n = snprintf(buf, sizeof buf, "%s", path);
        if (n < 0 || (size_t) n >= sizeof buf)
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, last_mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void lock_alarm(int sig) { (void) sig; }

int ledger_open(struct ledger *l, const char *state_dir, const char *sysroot, const struct cgroup_host *host, struct outcome *out, bool dry_run, struct mg_error *err) {
        *l = (struct ledger) { .dirfd = -1, .lockfd = -1, .sysroot = sysroot, .host = host, .out = out, .dry_run = dry_run };
        l->swappiness = (struct lvalue) {0};
        long ps = sysconf(_SC_PAGESIZE);
        l->page_size = ps > 0 ? (uint64_t) ps : 4096;
        if (!dry_run) {
                int r = mkdir_p_at_root(state_dir, 0700);
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
        uint64_t t0 = now_usec_monotonic();
        struct sigaction sa = { .sa_handler = lock_alarm }, old_sa;
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGALRM, &sa, &old_sa); /* no SA_RESTART */
        struct itimerval it = { .it_value = { LOCK_TIMEOUT_USEC / 1000000u, LOCK_TIMEOUT_USEC % 1000000u } }, old_it;
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
                return mg_error_set(err, -ETIMEDOUT, "lock %s/lock: timed out after %us", state_dir, LOCK_TIMEOUT_USEC / 1000000u);
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
        { "protect", NULL }, { "min", NULL }, { "low", NULL }, { "swappiness", NULL }, { "build", NULL },
        { "build_signal", NULL }, { "image", NULL }, { "started_realtime_usec", NULL }, { "started_monotonic_usec", NULL },
        { NULL, NULL },
};

static int record_parse(const char *buf, size_t len, bool whole, struct record *ret, struct mg_error *err) {
        _cleanup_json_ struct json_node *root = NULL;
        const struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = whole ? NULL : keep_claims, .arena = true };
        int r = json_parse(buf, len, &opts, &root, err);
        if (r < 0)
                return r;
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "type: record must be an object");
        struct record rec = { .swappiness = LEDGER_NO_SWAPPINESS };
        const char *s;
        if (json_get_string(root, "id", &s, err) < 0 || !container_id_is_valid(s))
                return mg_error_set(err, -EINVAL, "invalid 'id'");
        copy_str(rec.id, sizeof rec.id, s);
        if (json_get_string(root, "cgroup", &s, NULL) == 0)
                copy_str(rec.cgroup, sizeof rec.cgroup, s);
        if (json_get_string(root, "cgroup_dir", &s, NULL) == 0)
                copy_str(rec.cgroup_dir, sizeof rec.cgroup_dir, s);
        if (json_get_string(root, "image", &s, NULL) == 0)
                copy_str(rec.image, sizeof rec.image, s);
        if (json_get_string(root, "build_signal", &s, NULL) == 0)
                copy_str(rec.build_signal, sizeof rec.build_signal, s);
        if (json_get_string(root, "build_source", &s, NULL) == 0)
                copy_str(rec.build_source, sizeof rec.build_source, s);
        if (json_get_string(root, "image_source", &s, NULL) == 0)
                copy_str(rec.image_source, sizeof rec.image_source, s);
        (void) json_get_bool(root, "build_trusted", &rec.build_trusted, NULL);
        (void) json_get_bool(root, "image_trusted", &rec.image_trusted, NULL);
        int64_t i64;
        uint64_t u;
        if (json_get_i64(root, "pid", &i64, NULL) == 0)
                rec.pid = i64;
        if (json_get_u64(root, "starttime", &u, NULL) == 0)
                rec.starttime = u;
        (void) json_get_bool(root, "protect", &rec.protect, NULL);
        (void) json_get_bool(root, "build", &rec.build, NULL);
        if (json_get_u64(root, "min", &u, NULL) == 0)
                rec.min = u;
        if (json_get_u64(root, "low", &u, NULL) == 0)
                rec.low = u;
        if (json_get_i64(root, "swappiness", &i64, NULL) == 0 && i64 >= 0 && i64 <= 200)
                rec.swappiness = (int) i64;
        if (json_get_u64(root, "started_realtime_usec", &u, NULL) == 0)
                rec.started_realtime_usec = u;
        if (json_get_u64(root, "started_monotonic_usec", &u, NULL) == 0)
                rec.started_monotonic_usec = u;
        const struct json_node *n = json_get(root, "extra");
        if (n && n->type == JSON_OBJECT) {
                struct strbuf sb = {0};
                if (json_serialize(n, false, &sb) < 0) {
                        strbuf_free(&sb);
                        return -ENOMEM;
                }
                rec.extra_json = sb.buf;
        }
        n = json_get(root, "policies");
        if (n && n->type == JSON_ARRAY) {
                struct strbuf sb = {0};
                if (json_serialize(n, false, &sb) < 0) {
                        strbuf_free(&sb);
                        record_free(&rec);
                        return -ENOMEM;
                }
                rec.policies_json = sb.buf;
        }
        *ret = rec;
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
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
                        continue;
                char id[1100];
                snprintf(id, sizeof id, "%.*s", (int) (nl - 5), de->d_name);
                if (!container_id_is_valid(id))
                        continue;
                _cleanup_free_ char *buf = NULL;
                size_t len;
                struct mg_error e = {0};
                int r = read_file_at(cfd, de->d_name, MEMGUARD_MAX_RECORD_BYTES, &buf, &len);
                struct record rec;
                if (r == 0)
                        r = record_parse(buf, len, l->full_record_id && STREQ(l->full_record_id, id), &rec, &e);
                else
                        mg_error_set(&e, r, "%s", strerror(-r));
                if (r == 0 && !STREQ(rec.id, id)) {
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

static void lvalue_parse(const struct json_node *n, struct lvalue *v) {
        *v = (struct lvalue) {0};
        if (!n || n->type != JSON_OBJECT)
                return;
        uint64_t u;
        const char *s;
        v->managed = true;
        if (json_get_string(n, "orig", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0)
                v->orig = u;
        else
                v->managed = false;
        if (json_get_string(n, "set", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0)
                v->set = u;
        else
                v->managed = false;
        if (json_get_string(n, "prev", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0)
                v->prev = u;
        else
                v->prev = v->set;
        (void) json_get_bool(n, "foreign", &v->foreign, NULL);
}

static void lvalue_format(struct strbuf *sb, const char *key, const struct lvalue *v) {
        /* pieces rather than one printf: formatted for every held value on
         * every run, to compare with what is on disk */
        char a[32];
        strbuf_puts(sb, "\"");
        strbuf_puts(sb, key);
        strbuf_puts(sb, "\":{\"orig\":\"");
        strbuf_puts(sb, format_cgroup_value(v->orig, a, sizeof a));
        strbuf_puts(sb, "\",\"set\":\"");
        strbuf_puts(sb, format_cgroup_value(v->set, a, sizeof a));
        strbuf_puts(sb, "\",\"prev\":\"");
        strbuf_puts(sb, format_cgroup_value(v->prev, a, sizeof a));
        strbuf_puts(sb, v->foreign ? "\",\"foreign\":true}" : "\",\"foreign\":false}");
}

static ssize_t entry_find(struct ledger *l, const char *path) {
        for (size_t i = 0; i < l->n_entries; i++)
                if (STREQ(l->entries[i].path, path))
                        return (ssize_t) i;
        return -1;
}

static struct lentry *entry_add(struct ledger *l, const char *path) {
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
                        struct lentry *en = entry_add(l, path);
                        if (!en)
                                return -ENOMEM;
                        for (int v = 0; v < LV_N; v++)
                                lvalue_parse(json_get(cg->items[i], ledger_value_file[v]), &en->v[v]);
                }
        }
        lvalue_parse(json_get(root, "vm.swappiness"), &l->swappiness);
        return 0;
}

static int save_ledger(struct ledger *l) {
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
                        lvalue_format(&sb, ledger_value_file[v], &e->v[v]);
                }
                strbuf_puts(&sb, "}");
        }
        strbuf_puts(&sb, "}");
        if (l->swappiness.managed) {
                strbuf_puts(&sb, ",\n");
                lvalue_format(&sb, "vm.swappiness", &l->swappiness);
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

/* ---- recompute and apply ---------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Is a strictly below b? ("/a/b" below "/a", not "/ab") */
static bool path_below(const char *a, const char *b) {
        size_t lb = strlen(b);
        return strncmp(a, b, lb) == 0 && a[lb] == '/';
}

static unsigned path_depth(const char *p) {
        unsigned d = 0;
        for (; *p; p++)
                d += *p == '/';
        return d;
}

static bool rec_live(const struct ledger *l, size_t i) { return l->rec_state[i] != REC_REMOVED; }

/* Makes sure every cgroup in the chain of every live protecting record has an
 * entry (leaf and ancestors below the root; the root has no memory.min). */
static int ensure_entries(struct ledger *l) {
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *rec = &l->recs[i];
                /* After a corrupt ledger the chains of the records pruned
                 * in this run still hold their raise: give it back too. */
                bool held = l->loaded_ledger_corrupt && l->rec_state[i] == REC_REMOVED;
                if ((!rec_live(l, i) && !held) || !rec->protect || !rec->cgroup[0])
                        continue;
                char path[1024];
                copy_str(path, sizeof path, rec->cgroup);
                while (path[0] && !STREQ(path, "/")) {
                        if (entry_find(l, path) < 0 && !entry_add(l, path))
                                return -ENOMEM;
                        char *slash = strrchr(path, '/');
                        if (slash == path)
                                break;
                        *slash = '\0';
                }
        }
        return 0;
}

/* A held cgroup this run cannot change, so its values need not be read:
 * no record at or below it starts or stops in this run, and every value it
 * needs is held and settled (the last run that wrote it finished: set ==
 * prev) or someone else's. Its value is then what the ledger says. A start
 * thus reads its own chain, not every neighbour's leaf (two files each);
 * a value someone else changed under a quiet leaf is noticed when a run
 * next touches that chain, which is when it would be written anyway.
 * If the value the ledger says turns out not to be the target after all,
 * the run reads everything (ledger_apply_once). */
static bool entry_is_quiet(const struct ledger *l, const struct lentry *e, const bool wants[LV_N]) {
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *rec = &l->recs[i];
                if (!rec->protect || !(STREQ(rec->cgroup, e->path) || path_below(rec->cgroup, e->path)))
                        continue;
                if (l->rec_state[i] != REC_KEEP)
                        return false;
        }
        for (int v = 0; v < LV_N; v++) {
                const struct lvalue *lv = &e->v[v];
                if (lv->managed != wants[v])
                        return false;
                if (lv->managed && !lv->foreign && lv->set != lv->prev)
                        return false;
        }
        return true;
}

struct plan {
        size_t entry;
        int v;
        uint64_t cur, target;
        bool done;
};

static void fmt_val(uint64_t v, char *buf, size_t n) { format_cgroup_value(v, buf, n); }

/* One pass; *ret_retry is set when a container's own leaf refused its
 * raise, so the ancestors raised for it must be given back at once. */
static int ledger_apply_once(struct ledger *l, struct systemd_client *sd, bool *ret_retry) {
        int r = ensure_entries(l);
        if (r < 0)
                return r;

        size_t n_plans = 0;
        _cleanup_free_ struct plan *plans = calloc(l->n_entries * LV_N + 1, sizeof *plans);
        if (!plans)
                return -ENOMEM;
        _cleanup_free_ bool *drop = calloc(l->n_entries + 1, sizeof *drop);
        if (!drop)
                return -ENOMEM;

        _cleanup_free_ uint64_t *cur = calloc(l->n_entries * LV_N + 1, sizeof *cur);
        _cleanup_free_ bool *have = calloc(l->n_entries * LV_N + 1, sizeof *have);
        _cleanup_free_ bool *claimed = calloc(l->n_entries + 1, sizeof *claimed);
        _cleanup_free_ bool *quiet = calloc(l->n_entries + 1, sizeof *quiet);
        _cleanup_free_ bool *read_done = calloc(l->n_entries + 1, sizeof *read_done);
        if (!cur || !have || !claimed || !quiet || !read_done)
                return -ENOMEM;
        bool quiet_ok = !l->reconcile_all && !l->loaded_ledger_corrupt;
reconcile:
        /* Phase 1: read every held or needed value (not those of quiet
         * entries), adopting originals. */
        for (size_t ei = 0; ei < l->n_entries; ei++) {
                struct lentry *e = &l->entries[ei];
                if (read_done[ei])
                        continue; /* the second round reads only what the first skipped */
                bool wants[LV_N] = { false, false };
                for (size_t i = 0; i < l->n_recs; i++) {
                        const struct record *rec = &l->recs[i];
                        if (!rec_live(l, i) || !rec->protect)
                                continue;
                        if (STREQ(rec->cgroup, e->path) || path_below(rec->cgroup, e->path)) {
                                claimed[ei] = true;
                                wants[LV_MIN] |= rec->min > 0;
                                wants[LV_LOW] |= rec->low > 0;
                        }
                }
                /* ledger.json was corrupt: the originals are lost, but every
                 * raise of an ancestor was its original plus the claims of
                 * the recorded containers below it (new ones excepted: not
                 * applied yet). Take that as the original, so live claims
                 * are not counted twice and stopped ones are given back;
                 * an error errs upwards (never below what the hook found). */
                uint64_t held[LV_N] = { 0, 0 };
                if (l->loaded_ledger_corrupt)
                        for (size_t i = 0; i < l->n_recs; i++) {
                                const struct record *rec = &l->recs[i];
                                if (l->rec_state[i] == REC_NEW || !rec->protect || !path_below(rec->cgroup, e->path))
                                        continue;
                                held[LV_MIN] = sat_add(held[LV_MIN], rec->min);
                                held[LV_LOW] = sat_add(held[LV_LOW], rec->low);
                        }
                quiet[ei] = quiet_ok && entry_is_quiet(l, e, wants);
                if (quiet[ei]) {
                        for (int v = 0; v < LV_N; v++)
                                if (e->v[v].managed) {
                                        cur[ei * LV_N + v] = e->v[v].set;
                                        have[ei * LV_N + v] = true;
                                }
                        continue;
                }
                read_done[ei] = true;
                for (int v = 0; v < LV_N; v++) /* what a quiet first round assumed */
                        have[ei * LV_N + v] = false;
                _cleanup_close_ int fd = -1;
                int ro = cgroup_open(l->host, e->path, &fd);
                if (ro < 0) {
                        /* The cgroup is gone (a stopped container's leaf):
                         * nothing left to give back. */
                        if (ro != -ENOENT)
                                outcome_error(l->out, "open cgroup %s: %s", e->path, strerror(-ro));
                        drop[ei] = true;
                        continue;
                }
                for (int v = 0; v < LV_N; v++) {
                        struct lvalue *lv = &e->v[v];
                        const char *file = ledger_value_file[v];
                        if (!lv->managed && !wants[v] && held[v] == 0)
                                continue;
                        uint64_t c;
                        int rr = cgroup_read_value(fd, file, &c);
                        if (rr < 0) {
                                char why[512];
                                if (rr == -ENOENT)
                                        cgroup_explain_missing(l->host, e->path, why, sizeof why);
                                else
                                        snprintf(why, sizeof why, "%s", strerror(-rr));
                                outcome_error(l->out, "read %s of %s: %s", file, e->path, why);
                                l->write_errors++;
                                lv->managed = false;
                                continue;
                        }
                        if (!lv->managed) {
                                uint64_t o = c;
                                if (held[v] > 0 && c != MEMGUARD_VALUE_MAX && c >= held[v]) {
                                        char a[32], b[32];
                                        o = c - held[v];
                                        fmt_val(o, a, sizeof a);
                                        fmt_val(c, b, sizeof b);
                                        outcome_skip(l->out, "ledger.json was corrupt: original %s of %s taken as %s (%s less the recorded claims below it)",
                                                     file, e->path, a, b);
                                }
                                *lv = (struct lvalue) { .managed = true, .orig = o, .set = c, .prev = c };
                        } else if (!lv->foreign && c != lv->set && c != lv->prev) {
                                char a[32], b[32];
                                fmt_val(c, a, sizeof a);
                                fmt_val(lv->set, b, sizeof b);
                                outcome_skip(l->out, "%s of %s was changed by someone else (%s, the hook set %s): leaving it alone", file,
                                             e->path, a, b);
                                lv->foreign = true;
                        }
                        cur[ei * LV_N + v] = c;
                        have[ei * LV_N + v] = true;
                }
        }

        /* Originals are adopted: a later pass of this run must not take
         * them again. */
        l->loaded_ledger_corrupt = false;

        /* Phase 2: the value each cgroup should have. A container's
         * protection is what its leaf really declares: the policy's value,
         * or more when the leaf had more before (never lowered). */
        for (size_t ei = 0; ei < l->n_entries; ei++) {
                struct lentry *e = &l->entries[ei];
                uint64_t own[LV_N] = {0}, below[LV_N] = {0};
                for (size_t i = 0; i < l->n_recs; i++) {
                        const struct record *rec = &l->recs[i];
                        if (!rec_live(l, i) || !rec->protect)
                                continue;
                        bool mine = STREQ(rec->cgroup, e->path);
                        if (!mine && !path_below(rec->cgroup, e->path))
                                continue;
                        ssize_t li = mine ? (ssize_t) ei : entry_find(l, rec->cgroup);
                        uint64_t val[LV_N] = { rec->min, rec->low };
                        for (int v = 0; v < LV_N; v++) {
                                uint64_t eff = val[v];
                                /* A leaf that cannot be opened or read (gone,
                                 * a symlink, no permission) cannot hold the
                                 * claim: it raises no ancestor either. */
                                if (eff > 0 && li >= 0 && !have[(size_t) li * LV_N + v])
                                        continue;
                                if (eff > 0 && li >= 0 && l->entries[li].v[v].managed && !l->entries[li].v[v].foreign &&
                                    l->entries[li].v[v].orig > eff)
                                        eff = l->entries[li].v[v].orig;
                                if (mine)
                                        own[v] = eff > own[v] ? eff : own[v];
                                else
                                        below[v] = sat_add(below[v], eff);
                        }
                }
                for (int v = 0; v < LV_N; v++) {
                        struct lvalue *lv = &e->v[v];
                        if (!have[ei * LV_N + v])
                                continue;
                        uint64_t c = cur[ei * LV_N + v];
                        if (lv->foreign) {
                                if (!claimed[ei])
                                        lv->managed = false;
                                continue;
                        }
                        uint64_t target = claimed[ei] ? sat_add(lv->orig > own[v] ? lv->orig : own[v], below[v]) : lv->orig;
                        /* The kernel keeps pages: write what it will read back,
                         * but never round below the original (a value the
                         * hook found is never lowered). */
                        if (target != MEMGUARD_VALUE_MAX) {
                                target -= target % l->page_size;
                                if (target < lv->orig)
                                        target = lv->orig;
                        }
                        if (quiet[ei] && target != c) {
                                /* The ledger's value is not the target after
                                 * all: read everything not read yet. */
                                quiet_ok = false;
                                n_plans = 0;
                                goto reconcile;
                        }
                        if (target == c) {
                                if (!claimed[ei])
                                        lv->managed = false; /* back at the original */
                                else
                                        lv->set = lv->prev = c;
                                continue;
                        }
                        plans[n_plans++] = (struct plan) { .entry = ei, .v = v, .cur = c, .target = target };
                }
        }

        /* Intent first: if this run dies between the writes, the next one
         * recognises its own values (set or prev) and carries on. */
        for (size_t p = 0; p < n_plans; p++) {
                struct lvalue *lv = &l->entries[plans[p].entry].v[plans[p].v];
                lv->prev = plans[p].cur;
                lv->set = plans[p].target;
        }

        /* vm.swappiness: the most conservative claim of the running builds. */
        int swp_claim = LEDGER_NO_SWAPPINESS;
        for (size_t i = 0; i < l->n_recs; i++)
                if (rec_live(l, i) && l->recs[i].swappiness >= 0 && (swp_claim < 0 || l->recs[i].swappiness < swp_claim))
                        swp_claim = l->recs[i].swappiness;
        bool swp_write = false;
        uint64_t swp_cur = 0, swp_target = 0;
        if (swp_claim >= 0 || l->swappiness.managed) {
                int rr = sysctl_swappiness_get(l->sysroot, &swp_cur);
                if (rr < 0) {
                        outcome_error(l->out, "read vm.swappiness: %s", strerror(-rr));
                        if (swp_claim >= 0)
                                l->write_errors++;
                } else {
                        struct lvalue *lv = &l->swappiness;
                        if (!lv->managed && swp_claim >= 0)
                                *lv = (struct lvalue) { .managed = true, .orig = swp_cur, .set = swp_cur, .prev = swp_cur };
                        else if (lv->managed && !lv->foreign && swp_cur != lv->set && swp_cur != lv->prev) {
                                outcome_skip(l->out, "vm.swappiness was changed by someone else (%" PRIu64 ", the hook set %" PRIu64
                                                     ") while builds ran: leaving it alone, claim dropped",
                                             swp_cur, lv->set);
                                lv->foreign = true;
                        }
                        if (lv->managed && lv->foreign) {
                                if (swp_claim < 0)
                                        *lv = (struct lvalue) {0};
                        } else if (lv->managed) {
                                swp_target = swp_claim >= 0 ? (uint64_t) swp_claim : lv->orig;
                                if (swp_target != swp_cur) {
                                        swp_write = true;
                                        lv->prev = swp_cur;
                                        lv->set = swp_target;
                                } else if (swp_claim < 0)
                                        *lv = (struct lvalue) {0};
                        }
                }
        }

        if (l->dry_run) {
                for (size_t p = 0; p < n_plans; p++) {
                        char a[32], b[32];
                        fmt_val(plans[p].cur, a, sizeof a);
                        fmt_val(plans[p].target, b, sizeof b);
                        outcome_action(l->out, l->entries[plans[p].entry].path, ledger_value_file[plans[p].v], a, b, "planned");
                }
                if (swp_write) {
                        char a[32], b[32];
                        snprintf(a, sizeof a, "%" PRIu64, swp_cur);
                        snprintf(b, sizeof b, "%" PRIu64, swp_target);
                        outcome_action(l->out, "vm.swappiness", "/proc/sys/vm/swappiness", a, b, "planned");
                }
                return 0;
        }

        /* Records first (a new container's claims must survive our death),
         * then the ledger with intents, then the writes. */
        for (size_t i = 0; i < l->n_recs; i++) {
                char name[1100];
                snprintf(name, sizeof name, "containers/%s.json", l->recs[i].id);
                if (l->rec_state[i] == REC_NEW) {
                        _cleanup_(strbuf_free) struct strbuf sb = {0};
                        r = record_format(&l->recs[i], &sb);
                        if (r == 0)
                                r = write_file_atomic_at(l->dirfd, name, sb.buf, sb.len, 0600);
                        if (r < 0) {
                                outcome_error(l->out, "write record %s: %s", name, strerror(-r));
                                l->write_errors++;
                        } else
                                l->rec_state[i] = REC_KEEP;
                }
        }
        KILLPOINT("apply-records-saved");
        r = save_ledger(l);
        KILLPOINT("apply-intent-saved");
        if (r < 0) {
                /* Without the ledger the originals could not be restored:
                 * change nothing. */
                outcome_error(l->out, "write ledger.json: %s: changing nothing", strerror(-r));
                l->write_errors++;
                return r;
        }

        /* Raises top-down, lowers bottom-up: an ancestor never drops below
         * what its children still claim, even for an instant. */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t k = 0; k < n_plans; k++) {
                        /* pick the next plan in depth order */
                        size_t best = SIZE_MAX;
                        for (size_t p = 0; p < n_plans; p++) {
                                if (plans[p].done)
                                        continue;
                                bool raise = plans[p].target > plans[p].cur;
                                if ((pass == 0) != raise)
                                        continue;
                                unsigned d = path_depth(l->entries[plans[p].entry].path);
                                unsigned bd = best == SIZE_MAX ? 0 : path_depth(l->entries[plans[best].entry].path);
                                if (best == SIZE_MAX || (pass == 0 ? d < bd : d > bd))
                                        best = p;
                        }
                        if (best == SIZE_MAX)
                                break;
                        struct plan *pl = &plans[best];
                        pl->done = true;
                        struct lentry *e = &l->entries[pl->entry];
                        struct lvalue *lv = &e->v[pl->v];
                        const char *file = ledger_value_file[pl->v];
                        char a[32], b[32], res[600];
                        fmt_val(pl->cur, a, sizeof a);
                        fmt_val(pl->target, b, sizeof b);
                        _cleanup_close_ int fd = -1;
                        uint64_t actual = pl->target;
                        int wr = cgroup_open(l->host, e->path, &fd);
                        const char *via = "";
                        char unit[256];
                        struct mg_error serr = {0};
                        int kind = wr == 0 ? systemd_client_resolve(sd, e->path, unit, sizeof unit, &serr) : SYSTEMD_CGROUP_PLAIN;
                        if (kind == SYSTEMD_CGROUP_MISPLACED)
                                /* a directory that only carries a unit's name
                                 * is a plain cgroup: changing the unit would
                                 * change another cgroup */
                                outcome_skip(l->out, "%s of %s: named like the systemd unit %s, but not its cgroup: written directly", file, e->path, unit);
                        if (kind < 0 || kind == SYSTEMD_CGROUP_UNIT) {
                                int sr = kind < 0 ? kind : systemd_client_set_memory_protection(sd, unit, fd, file, pl->target, &actual, &serr);
                                if (sr == 0)
                                        via = " via systemd";
                                else {
                                        /* Loud: systemd will reset this value the
                                         * next time it realizes the unit. */
                                        outcome_error(l->out, "set %s of %s through systemd: %s: written directly instead, systemd may reset it",
                                                      file, e->path, serr.msg);
                                        wr = cgroup_write_value(fd, file, pl->target, &actual);
                                        via = " (direct, not via systemd)"; /* unreachable or refused: the error says which */
                                }
                        } else if (wr == 0)
                                wr = cgroup_write_value(fd, file, pl->target, &actual);
                        if (wr < 0) {
                                char why[512];
                                if (wr == -ENOENT)
                                        cgroup_explain_missing(l->host, e->path, why, sizeof why);
                                else
                                        snprintf(why, sizeof why, "%s", strerror(-wr));
                                snprintf(res, sizeof res, "error: %s", why);
                                outcome_action(l->out, e->path, file, a, b, res);
                                outcome_error(l->out, "write %s to %s of %s: %s", b, file, e->path, why);
                                l->write_errors++;
                                /* What is there now is what we hold. */
                                lv->set = pl->cur;
                                /* A leaf that refuses its own raise (EACCES,
                                 * EINVAL, removed under us) is not protected:
                                 * its claim must not keep the ancestors raised
                                 * (in memory only: the next run tries again). */
                                if (pl->target > pl->cur)
                                        for (size_t i = 0; i < l->n_recs; i++) {
                                                struct record *rec = &l->recs[i];
                                                if (!rec_live(l, i) || !rec->protect || !STREQ(rec->cgroup, e->path))
                                                        continue;
                                                uint64_t *claim = pl->v == LV_MIN ? &rec->min : &rec->low;
                                                if (*claim > 0) {
                                                        *claim = 0;
                                                        *ret_retry = true;
                                                }
                                        }
                                continue;
                        }
                        if (actual != pl->target) {
                                char c[32];
                                fmt_val(actual, c, sizeof c);
                                snprintf(res, sizeof res, "ok%s (kernel reads back %s)", via, c);
                                lv->set = actual;
                        } else
                                snprintf(res, sizeof res, "ok%s", via);
                        outcome_action(l->out, e->path, file, a, b, res);
                        KILLPOINT("apply-after-write");
                }
        }

        KILLPOINT("apply-cgroups-written");
        if (swp_write) {
                char a[32], b[32];
                snprintf(a, sizeof a, "%" PRIu64, swp_cur);
                snprintf(b, sizeof b, "%" PRIu64, swp_target);
                int wr = sysctl_swappiness_set(l->sysroot, swp_target);
                if (wr < 0) {
                        char res[300];
                        snprintf(res, sizeof res, "error: %s", strerror(-wr));
                        outcome_action(l->out, "vm.swappiness", "/proc/sys/vm/swappiness", a, b, res);
                        outcome_error(l->out, "write %s to vm.swappiness: %s", b, strerror(-wr));
                        l->swappiness.set = swp_cur;
                        if (swp_claim >= 0)
                                l->write_errors++;
                } else {
                        outcome_action(l->out, "vm.swappiness", "/proc/sys/vm/swappiness", a, b, "ok");
                        if (swp_claim < 0)
                                l->swappiness = (struct lvalue) {0};
                }
        }

        /* Values back at their original with no claims left are no longer
         * held. */
        for (size_t ei = 0; ei < l->n_entries; ei++) {
                struct lentry *e = &l->entries[ei];
                if (drop[ei]) {
                        e->v[LV_MIN].managed = e->v[LV_LOW].managed = false;
                        continue;
                }
                for (int v = 0; v < LV_N; v++) {
                        if (e->v[v].managed && !e->v[v].foreign && e->v[v].set == e->v[v].orig && !claimed[ei])
                                e->v[v].managed = false;
                        /* Written or found in place: settled (entry_is_quiet). */
                        e->v[v].prev = e->v[v].set;
                }
        }
        KILLPOINT("apply-before-final-save");
        r = save_ledger(l);
        if (r < 0) {
                outcome_error(l->out, "write ledger.json: %s", strerror(-r));
                l->write_errors++;
        }
        KILLPOINT("apply-before-unlink");
        for (size_t i = 0; i < l->n_recs; i++) {
                if (l->rec_state[i] != REC_REMOVED)
                        continue;
                char name[1100];
                snprintf(name, sizeof name, "containers/%s.json", l->recs[i].id);
                if (unlinkat(l->dirfd, name, 0) < 0 && errno != ENOENT)
                        outcome_error(l->out, "remove record %s: %m", name);
        }
        return 0;
}

int ledger_apply(struct ledger *l) {
        bool retry = false;
        /* One systemd client for the run: a bus that failed once is not
         * tried again for the second pass. */
        _cleanup_(systemd_client_freep) struct systemd_client *sd = NULL;
        int r = systemd_client_new(l->sysroot, SYSTEMD_TIMEOUT_USEC, UINT64_MAX, &sd);
        if (r < 0) {
                outcome_error(l->out, "systemd client: %s", strerror(-r));
                return r;
        }
        r = ledger_apply_once(l, sd, &retry);
        if (r == 0 && retry && !l->dry_run) {
                /* Give back at once what was raised for a claim its leaf
                 * refused: once, the second pass raises nothing new. */
                bool again = false;
                l->reconcile_all = true;
                r = ledger_apply_once(l, sd, &again);
        }
        return r;
}

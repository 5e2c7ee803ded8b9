/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `oci-memguard explain`: the container as the hook would see it,
 * the policies that match and every write it would make, old → new — by
 * running the start stage's own path with --dry-run, so what explain says
 * is what prestart does. Nothing is written; the log is not touched. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "budget_view.h"
#include "cli.h"
#include "json.h"
#include "state.h"

static int add_annotation(struct annotations *a, const char *key, const char *value) {
        char **k = realloc(a->keys, (a->n + 1) * sizeof *k);
        if (!k)
                return -ENOMEM;
        a->keys = k;
        char **v = realloc(a->values, (a->n + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        a->values = v;
        a->keys[a->n] = strdup(key);
        a->values[a->n] = strdup(value);
        a->n++;
        return a->keys[a->n - 1] && a->values[a->n - 1] ? 0 : -ENOMEM;
}

/* --image REF [--annotation K=V]... [--command ARG0] [--build]: a container
 * described on the command line. */
static int view_from_args(struct container_view *v, const struct cli *c) {
        v->state.id = strdup("explain");
        v->no_cgroup = true;
        v->has_oci = true;
        if (!v->state.id)
                return -ENOMEM;
        /* The operator describes the container: image and build are taken
         * as attested, not as the container's claims. */
        v->asserted_image = c->image;
        v->asserted_build = c->build;
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_annotations; i++) {
                const char *eq = strchr(c->annotations[i], '='); /* main checked there is one */
                _cleanup_free_ char *key = strndup(c->annotations[i], eq ? (size_t) (eq - c->annotations[i]) : 0);
                r = key ? add_annotation(&v->oci.annotations, key, eq ? eq + 1 : "") : -ENOMEM;
        }
        if (r == 0 && c->command) {
                v->oci.args = calloc(1, sizeof(char *));
                if (!v->oci.args || !(v->oci.args[0] = strdup(c->command)))
                        return -ENOMEM;
                v->oci.n_args = 1;
        }
        return r;
}

static const char *fmt_size(const struct policy_size *s, char *buf, size_t n) {
        if (!s->set)
                snprintf(buf, n, "-");
        else if (s->percent)
                snprintf(buf, n, "%" PRIu64 "%%", s->value);
        else
                snprintf(buf, n, "%" PRIu64, s->value);
        return buf;
}

static const char *trust_note(bool claim, bool trusted) {
        if (!claim)
                return "attested";
        return trusted ? "a claim, trusted by a matching policy" : "a claim no matching policy trusts";
}

static void print_human(const struct container_view *v, const struct outcome *out, const char *record) {
        _cleanup_json_ struct json_node *rec = NULL;
        (void) json_parse(record, strlen(record), NULL, &rec, NULL);
        printf("container %s\n", v->state.id);
        if (!v->img.image[0])
                printf("  image:   \"\" (unknown)\n");
        else if (v->asserted_image)
                printf("  image:   %s (from explain --image)\n", v->img.image);
        else
                printf("  image:   %s (from %s: %s)\n", v->img.image, v->img.source, trust_note(v->img.claim != POLICY_CLAIM_NONE, v->image_trusted));
        if (v->no_cgroup)
                printf("  cgroup:  none (described on the command line)\n");
        else
                printf("  cgroup:  %s (from %s), cgroup %s, memory_recursiveprot %s\n", v->cgroup[0] ? v->cgroup : "-",
                       v->cgroup_from ? v->cgroup_from : "-", out->cgroup_mode, out->recursiveprot ? "on" : "off");
        if (v->asserted_build)
                printf("  build:   yes (explain --build)\n");
        else if (v->build)
                printf("  build:   yes (%s; from %s: %s)\n", v->build_signal, v->build_source,
                       trust_note(policy_claim_from_name(v->build_source) != POLICY_CLAIM_NONE, true));
        else if (v->build_source[0])
                printf("  build:   no (claim %s: no matching policy trusts it)\n", v->build_source);
        else
                printf("  build:   no\n");

        printf("policies (in order):\n");
        if (v->policies.n == 0)
                printf("  none found\n");
        for (size_t i = 0; i < v->policies.n; i++) {
                bool m = false;
                for (size_t j = 0; j < v->n_matched; j++)
                        m |= v->matched[j] == i;
                printf("  %-9s %s\n", m ? "matched" : "no match", v->policies.items[i]->path);
        }
        for (size_t i = 0; i < v->policies.n_errors; i++)
                printf("  invalid   %s (ignored)\n", v->policies.errors[i].msg);
        if (v->n_matched == 0)
                printf("  no policy matches: nothing would be done for this container\n");

        const struct policy *p = v->merged;
        char a[32], b[32], cbuf[32], d[32];
        printf("merged policy:\n");
        printf("  memory.min %s, memory.low %s -> claims min=%" PRIu64 " low=%" PRIu64 " bytes\n", fmt_size(&p->min, a, sizeof a),
               fmt_size(&p->low, b, sizeof b), v->min, v->low);
        printf("  overrides: annotations %s, max_min %s, max_low %s; on_error %s\n",
               p->overrides.annotations == POLICY_TRUE ? "allowed" : "not allowed", fmt_size(&p->overrides.max_min, cbuf, sizeof cbuf),
               fmt_size(&p->overrides.max_low, d, sizeof d), p->on_error == POLICY_ON_ERROR_FAIL ? "fail" : "ignore");
        if (v->build) {
                static const char *const when[] = { "auto", "auto", "always", "never" };
                printf("  build: swappiness %s, reclaim when=%s available_below=%s order=%u drop_caches=%u compact=%s\n",
                       p->build.has_swappiness ? (snprintf(a, sizeof a, "%u", p->build.swappiness), a) : "unchanged",
                       when[p->build.reclaim.when], p->build.reclaim.available_below.set ? fmt_size(&p->build.reclaim.available_below, b, sizeof b) : "10%",
                       p->build.reclaim.has_order ? p->build.reclaim.order : 4, p->build.reclaim.has_drop_caches ? p->build.reclaim.drop_caches : 1,
                       p->build.reclaim.compact == POLICY_FALSE ? "no" : "yes");
                const struct json_node *lim = json_get(rec, "limit");
                if (lim && lim->type == JSON_OBJECT) {
                        const char *mf = "none", *sf = "none";
                        uint64_t mx = MEMGUARD_VALUE_MAX, sw = MEMGUARD_VALUE_MAX;
                        bool og = false;
                        (void) json_get_string(lim, "max_from", &mf, NULL);
                        (void) json_get_string(lim, "swap_from", &sf, NULL);
                        (void) json_get_u64(lim, "max", &mx, NULL);
                        (void) json_get_u64(lim, "swap_max", &sw, NULL);
                        (void) json_get_bool(lim, "oom_group", &og, NULL);
                        printf("  build limit: memory.max %s (%s), swap %s (%s), oom.group %s\n", budget_format_bytes(mx, a, sizeof a), mf,
                               budget_format_bytes(sw, b, sizeof b), sf, og ? "on: a step the limit stops is killed whole" : "off");
                }
                const struct json_node *bg = json_get(rec, "build_guard");
                const struct json_node *dec = json_get(bg, "decision");
                if (dec && dec->type == JSON_STRING)
                        printf("  build guard decision: %s\n", dec->str);
        }

        printf("planned writes (nothing was written):\n");
        const struct json_node *acts = json_get(rec, "actions");
        if (!acts || acts->n == 0)
                printf("  none\n");
        for (size_t i = 0; acts && i < acts->n; i++) {
                const char *t = "", *f = "", *o = "", *n = "";
                (void) json_get_string(acts->items[i], "target", &t, NULL);
                (void) json_get_string(acts->items[i], "file", &f, NULL);
                (void) json_get_string(acts->items[i], "old", &o, NULL);
                (void) json_get_string(acts->items[i], "new", &n, NULL);
                printf("  %s %s: %s -> %s\n", t, f, o[0] ? o : "-", n);
        }
        static const char *const lists[] = { "skipped", "errors" };
        for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
                const struct json_node *l = json_get(rec, lists[k]);
                for (size_t i = 0; l && i < l->n; i++)
                        if (l->items[i]->type == JSON_STRING)
                                printf("%s: %s\n", lists[k], l->items[i]->str);
        }
}

/* The state's id is not in config.json: engines name the bundle directory
 * after it — containerd (Docker) .../moby/<id>, runc's own callers alike —
 * except Podman and CRI-O, whose bundle is .../overlay-containers/<id>/userdata.
 * The ledger is keyed by it, so a running container is found as itself. */
static void bundle_container_id(const char *bundle, char *ret, size_t size) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", bundle);
        char *slash = strrchr(tmp, '/');
        const char *base = slash ? slash + 1 : tmp;
        if (STREQ(base, "userdata") && slash && slash != tmp) {
                *slash = '\0';
                slash = strrchr(tmp, '/');
                base = slash ? slash + 1 : tmp;
        }
        snprintf(ret, size, "%s", container_id_is_valid(base) ? base : "explain");
}

/* What the protection budget would grant this container now, and why. */
struct explain_budget {
        bool shown;
        char why_not[256];
        struct budget_limits limits;
        uint64_t mem_total;
        struct budget_top top;
        struct budget_decision d;
};

static void explain_budget_done(struct explain_budget *eb) { budget_top_free(&eb->top); }

static void explain_budget_compute(const struct container_view *v, const struct hook_opts *o, struct explain_budget *eb) {
        if (!v->host.v2_memory || v->host.v2_fd < 0) {
                snprintf(eb->why_not, sizeof eb->why_not, "not applicable: no cgroup v2 memory controller");
                return;
        }
        (void) budget_limits_for_host(o->sysroot, &v->host_config, &eb->limits, &eb->mem_total);
        int r = budget_top_read(&v->host, &eb->top);
        if (r < 0 && r != -E2BIG) {
                snprintf(eb->why_not, sizeof eb->why_not, "cannot read the root's children: %s", strerror(-r));
                return;
        }
        /* "used" is what the root's children hold now, the same figure a
         * start fits its claim beside (budget_admit in hook.c); for a
         * container already running its own grant is counted in. */
        struct budget_claim req = { .min = v->min, .low = v->low };
        bool refuse = v->merged && v->merged->on_error == POLICY_ON_ERROR_FAIL;
        long ps = sysconf(_SC_PAGESIZE);
        budget_grant(&eb->limits, &eb->top.used, &req, ps > 0 ? (uint64_t) ps : 4096, refuse, &eb->d);
        eb->shown = true;
}

static void print_budget(const struct container_view *v, const struct hook_opts *o, const struct explain_budget *eb) {
        char path[PATH_MAX];
        if (path_join(path, sizeof path, o->sysroot, HOST_CONFIG_PATH) < 0)
                snprintf(path, sizeof path, "%s", HOST_CONFIG_PATH);
        printf("budget (%s%s):\n", v->host_config.from_file ? "from " : "defaults, no valid ", path);
        if (!eb->shown) {
                printf("  %s\n", eb->why_not);
                return;
        }
        char a[96], b[96], m[32], u1[32], u2[32];
        printf("  caps: memory.min at most %s, min or low together at most %s; MemTotal %s\n",
               budget_cap_describe(&v->host_config.budget.min, eb->limits.min, a, sizeof a),
               budget_cap_describe(&v->host_config.budget.protection, eb->limits.protection, b, sizeof b),
               budget_format_bytes(eb->mem_total, m, sizeof m));
        printf("  held at the top of the tree now: memory.min %s, min or low together %s", budget_format_bytes(eb->top.used.min, u1, sizeof u1),
               budget_format_bytes(eb->top.used.protection, u2, sizeof u2));
        for (size_t i = 0; i < eb->top.n_holders && i < 8; i++)
                printf("%s%s min %s low %s", i ? ", " : " (", eb->top.holders[i].name, budget_format_bytes(eb->top.holders[i].min, u1, sizeof u1),
                       budget_format_bytes(eb->top.holders[i].low, u2, sizeof u2));
        printf("%s\n", eb->top.n_holders > 8 ? ", ...)" : eb->top.n_holders ? ")" : "");
        char line[512];
        budget_decision_describe(&eb->d, line, sizeof line);
        printf("  this container: %s\n", line);
}

int explain_main(struct cli *c) {
        if (!c->bundle == !c->image) {
                fprintf(stderr, "oci-memguard: explain takes --bundle DIR [--pid N] or --image REF [--annotation K=V]... [--command ARG0] [--build]\n");
                return 2;
        }
        struct hook_opts o = c->opts;
        o.dry_run = true;
        struct outcome out;
        outcome_init(&out, "explain");
        out.dry_run = true;
        _cleanup_(container_view_free) struct container_view v = { .host.v2_fd = -1, .swappiness = LEDGER_NO_SWAPPINESS };
        struct mg_error err = {0};
        int r;
        if (c->bundle) {
                char real[PATH_MAX];
                if (!realpath(c->bundle, real)) {
                        fprintf(stderr, "oci-memguard: explain: %s: %m\n", c->bundle);
                        outcome_free(&out);
                        return 1;
                }
                char id[PATH_MAX];
                bundle_container_id(real, id, sizeof id);
                v.state.id = strdup(id);
                v.state.bundle = strdup(real);
                if (c->pid > 0) {
                        v.state.has_pid = true;
                        v.state.pid = c->pid;
                }
                r = v.state.id && v.state.bundle ? oci_info_load(real, &v.oci, &err) : -ENOMEM;
                if (r < 0) {
                        fprintf(stderr, "oci-memguard: explain: %s\n", err.msg[0] ? err.msg : strerror(-r));
                        outcome_free(&out);
                        return 1;
                }
                v.has_oci = true;
        } else if ((r = view_from_args(&v, c)) < 0) {
                fprintf(stderr, "oci-memguard: explain: %s\n", strerror(-r));
                outcome_free(&out);
                return 1;
        }
        snprintf(out.id, sizeof out.id, "%s", v.state.id);
        struct mg_error derr = {0};
        r = container_decide(&v, &o, &out, &derr);
        if (r >= 0)
                (void) container_protect(&v, &o, &out);
        _cleanup_(explain_budget_done) struct explain_budget eb = {0};
        if (r >= 0) {
                explain_budget_compute(&v, &o, &eb);
                if (eb.shown)
                        budget_outcome(&out, &eb.d);
        }
        _cleanup_(strbuf_free) struct strbuf rec = {0};
        (void) outcome_format(&out, &rec);
        if (r < 0) {
                fprintf(stderr, "oci-memguard: explain: cannot decide: %s\n", derr.msg);
                outcome_free(&out);
                return 1;
        }
        if (c->json)
                printf("%s\n", rec.buf ? rec.buf : "{}");
        else {
                print_human(&v, &out, rec.buf ? rec.buf : "{}");
                print_budget(&v, &o, &eb);
        }
        outcome_free(&out);
        return 0;
}

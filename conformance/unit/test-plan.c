/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger's plan (hook/plan.c), case by case: the records' claims, what
 * the ledger holds, what the host has, and the exact writes expected (in
 * order), the notes, and how many values had to be read. The driver plays
 * apply's part: it answers the plan's reads from the host column until the
 * plan can decide. TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "test-helpers.h"

#define K 1024ull
#define M (1024ull * 1024ull)
#define G (1024ull * M)
#define MAXV UINT64_MAX

/* held values: a settled one (set == prev), an interrupted write, foreign */
#define HELD(o, s) { .managed = true, .orig = (o), .set = (s), .prev = (s) }
#define MIDWRITE(o, s, p) { .managed = true, .orig = (o), .set = (s), .prev = (p) }
#define FOREIGN(o, s) { .managed = true, .foreign = true, .orig = (o), .set = (s), .prev = (s) }

struct claim_spec {
        const char *cgroup;
        uint64_t min, low;
        enum claim_state state;
        bool applied_min, applied_low;
};
struct node_spec {
        const char *path;
        struct held_value held[LV_N];
        uint64_t host[LV_N];      /* what the host has */
        bool gone;                /* the cgroup cannot be opened */
        bool unreadable[LV_N];    /* reading fails */
};
struct cgroup_case {
        const char *name;
        struct claim_spec claims[8];
        struct node_spec nodes[8];
        bool observe_all, rebuild;
        uint64_t page_size;  /* 0: 4096 */
        const char *writes;  /* "path file from->to; ..." in order */
        const char *notes;   /* "kind path file a b; ..." */
        bool check_reads;
        int reads;           /* values read before the plan could decide */
        const char *held;    /* optional: "path file orig/set/prev[ F]; ..." of managed values after the plan */
};

static const struct cgroup_case cgroup_cases[] = {
        /* ---- one container ---- */
        { .name = "new container: leaf written, ancestors raised top-down",
          .claims = { { "/a/b/c", 512 * M, 1 * G, CLAIM_NEW } },
          .nodes = { { "/a/b/c" }, { "/a/b" }, { "/a" } },
          .writes = "/a memory.min 0->536870912; /a memory.low 0->1073741824; /a/b memory.min 0->536870912; /a/b memory.low 0->1073741824; "
                    "/a/b/c memory.min 0->536870912; /a/b/c memory.low 0->1073741824",
          .check_reads = true, .reads = 6 },
        { .name = "additive: someone else's protection on an ancestor is kept under ours",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a", .host = { 4 * K, 0 } } },
          .writes = "/a memory.min 4096->536875008; /a/c memory.min 0->536870912",
          .held = "/a/c memory.min 0/536870912/0; /a memory.min 4096/536875008/4096" },
        { .name = "only min claimed: memory.low is neither read nor held",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a" } },
          .writes = "/a memory.min 0->536870912; /a/c memory.min 0->536870912",
          .check_reads = true, .reads = 2 },
        { .name = "stop: lowered bottom-up, originals restored, released",
          .claims = { { "/a/b/c", 512 * M, 0, CLAIM_REMOVED } },
          .nodes = { { "/a/b/c", .held = { HELD(0, 512 * M) }, .host = { 512 * M } },
                     { "/a/b", .held = { HELD(0, 512 * M) }, .host = { 512 * M } },
                     { "/a", .held = { HELD(64 * M, 576 * M) }, .host = { 576 * M } } },
          .writes = "/a/b/c memory.min 536870912->0; /a/b memory.min 536870912->0; /a memory.min 603979776->67108864",
          .held = "/a/b/c memory.min 0/0/536870912; /a/b memory.min 0/0/536870912; /a memory.min 67108864/67108864/603979776" },
        { .name = "stop after the runtime removed the leaf: nothing to give back there",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_REMOVED } },
          .nodes = { { "/a/c", .held = { HELD(0, 512 * M) }, .gone = true }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->0",
          .held = "/a memory.min 0/0/536870912" },
        { .name = "a new container whose leaf already holds its claim: the leaf is not rewritten, the ancestor adds it to its own",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .host = { 512 * M } }, { "/a", .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->1073741824",
          .held = "/a/c memory.min 536870912/536870912/536870912; /a memory.min 536870912/1073741824/536870912" },
        { .name = "a second start of the same container (createRuntime after prestart): nothing written",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "",
          .held = "/a/c memory.min 0/536870912/536870912; /a memory.min 0/536870912/536870912" },
        { .name = "a leaf above its claim keeps its value; the ancestors cover only the claim",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .host = { 2 * G } }, { "/a" } },
          .writes = "/a memory.min 0->536870912",
          .notes = "leaf-above-claim /a/c memory.min 2147483648 536870912" },
        { .name = "a leaf at max keeps max; the ancestors cover only the claim",
          .claims = { { "/m.slice/c", 64 * M, 0, CLAIM_NEW } },
          .nodes = { { "/m.slice/c", .host = { MAXV } }, { "/m.slice" } },
          .writes = "/m.slice memory.min 0->67108864",
          .notes = "leaf-above-claim /m.slice/c memory.min max 67108864" },
        { .name = "a leaf below its claim is raised to the claim",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .host = { 100 * M } }, { "/a" } },
          .writes = "/a memory.min 0->536870912; /a/c memory.min 104857600->536870912" },
        { .name = "an ancestor at max stays max (saturating sum, no write)",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a", .host = { MAXV } } },
          .writes = "/a/c memory.min 0->536870912" },

        /* ---- page rounding ---- */
        { .name = "page rounding: the target is rounded down to the page",
          .claims = { { "/a/c", 512 * M + 100, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a" } },
          .writes = "/a memory.min 0->536870912; /a/c memory.min 0->536870912" },
        { .name = "page rounding never goes below the original",
          .claims = { { "/a/c", 10, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a", .host = { 100 } } },
          .writes = "" },
        { .name = "page rounding with 64 KiB pages",
          .claims = { { "/a/c", 100 * K, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a" } },
          .page_size = 64 * K,
          .writes = "/a memory.min 0->65536; /a/c memory.min 0->65536" },

        /* ---- shared parents, nested ---- */
        { .name = "two siblings: the parent covers the sum",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 256 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->805306368; /a/y memory.min 0->268435456" },
        { .name = "one of two siblings stops: the parent keeps the other's share",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 256 * M, 0, CLAIM_REMOVED } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } },
                     { "/a/y", .held = { HELD(0, 256 * M) }, .gone = true },
                     { "/a", .held = { HELD(0, 768 * M) }, .host = { 768 * M } } },
          .writes = "/a memory.min 805306368->536870912" },
        { .name = "a sibling's leaf is not read on a start (quiet)",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 256 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->805306368; /a/y memory.min 0->268435456",
          .check_reads = true, .reads = 2 },
        { .name = "a quiet sibling whose ledger value does not add up is read after all",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 256 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 256 * M) }, .host = { 512 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->805306368; /a/y memory.min 0->268435456",
          .notes = "foreign /a/x memory.min 536870912 268435456",
          .check_reads = true, .reads = 3 },
        { .name = "observe_all reads every held value",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 256 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .observe_all = true,
          .writes = "/a memory.min 536870912->805306368; /a/y memory.min 0->268435456",
          .check_reads = true, .reads = 3 },
        { .name = "nested container: the outer leaf is an ancestor of the inner",
          .claims = { { "/a/outer", 512 * M, 0, CLAIM_KEPT }, { "/a/outer/inner", 128 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/outer/inner" }, { "/a/outer", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->671088640; /a/outer memory.min 536870912->671088640; /a/outer/inner memory.min 0->134217728" },
        { .name = "nested container stops: the outer keeps its own claim",
          .claims = { { "/a/outer", 512 * M, 0, CLAIM_KEPT }, { "/a/outer/inner", 128 * M, 0, CLAIM_REMOVED } },
          .nodes = { { "/a/outer/inner", .held = { HELD(0, 128 * M) }, .gone = true },
                     { "/a/outer", .held = { HELD(0, 640 * M) }, .host = { 640 * M } },
                     { "/a", .held = { HELD(0, 640 * M) }, .host = { 640 * M } } },
          .writes = "/a/outer memory.min 671088640->536870912; /a memory.min 671088640->536870912" },
        { .name = "prestart then createRuntime: two claims at one leaf count once (the larger)",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_KEPT }, { "/a/c", 256 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a memory.min 536870912->805306368" },
        { .name = "two chains under different parents: both raised, order top-down across them",
          .claims = { { "/p/x/c", 1 * M, 0, CLAIM_NEW }, { "/q/c", 2 * M, 0, CLAIM_NEW } },
          .nodes = { { "/p/x/c" }, { "/p/x" }, { "/p" }, { "/q/c" }, { "/q" } },
          .writes = "/p memory.min 0->1048576; /q memory.min 0->2097152; /p/x memory.min 0->1048576; /q/c memory.min 0->2097152; "
                    "/p/x/c memory.min 0->1048576" },
        { .name = "a start beside a stop: raises first (top-down), then lowerings (bottom-up)",
          .claims = { { "/p/old", 1 * M, 0, CLAIM_REMOVED }, { "/q/new", 2 * M, 0, CLAIM_NEW } },
          .nodes = { { "/p/old", .held = { HELD(0, 1 * M) }, .host = { 1 * M } }, { "/p", .held = { HELD(0, 1 * M) }, .host = { 1 * M } }, { "/q/new" }, { "/q" } },
          .writes = "/q memory.min 0->2097152; /q/new memory.min 0->2097152; /p/old memory.min 1048576->0; /p memory.min 1048576->0" },

        /* ---- foreign changes ---- */
        { .name = "an ancestor changed by someone else is left alone, the claim still held",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 1 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 2 * G } } },
          .writes = "/a/y memory.min 0->1048576",
          .notes = "foreign /a memory.min 2147483648 536870912",
          .held = "/a/x memory.min 0/536870912/536870912; /a/y memory.min 0/1048576/0; /a memory.min 0/536870912/536870912 F" },
        { .name = "a foreign value is released (never restored) when no claim needs it",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_REMOVED } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .gone = true }, { "/a", .held = { FOREIGN(0, 512 * M) }, .host = { 3 * G } } },
          .writes = "",
          .held = "" },
        { .name = "a foreign leaf still counts its claim for the ancestors",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 1 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 100 * M } }, { "/a/y" }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .observe_all = true,
          .writes = "/a memory.min 536870912->537919488; /a/y memory.min 0->1048576",
          .notes = "foreign /a/x memory.min 104857600 536870912" },

        /* ---- interrupted writes ---- */
        { .name = "interrupted raise (prev != set, value still prev): written again",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_KEPT } },
          .nodes = { { "/a/c", .held = { MIDWRITE(0, 512 * M, 0) }, .host = { 0 } }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "/a/c memory.min 0->536870912",
          .check_reads = true, .reads = 1 },
        { .name = "interrupted raise that landed (value == set): settled, nothing written",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_KEPT } },
          .nodes = { { "/a/c", .held = { MIDWRITE(0, 512 * M, 0) }, .host = { 512 * M } }, { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .writes = "",
          .held = "/a/c memory.min 0/536870912/536870912; /a memory.min 0/536870912/536870912" },
        { .name = "killed stop: the record is gone, the ledger still holds the raise; given back",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } },
                     { "/a/y", .held = { MIDWRITE(0, 0, 256 * M) }, .host = { 256 * M } },
                     { "/a", .held = { MIDWRITE(0, 512 * M, 768 * M) }, .host = { 768 * M } } },
          .writes = "/a/y memory.min 268435456->0; /a memory.min 805306368->536870912" },
        { .name = "interrupted lowering that landed on the ancestor: nothing left to do there",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .host = { 512 * M } }, { "/a", .held = { MIDWRITE(0, 512 * M, 768 * M) }, .host = { 512 * M } } },
          .writes = "" },

        /* ---- unreadable, gone ---- */
        { .name = "a leaf that cannot be read raises nothing",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .unreadable = { true, false } }, { "/a" } },
          .writes = "",
          .held = "/a memory.min 0/0/0" },
        { .name = "a leaf that cannot be opened raises nothing",
          .claims = { { "/a/c", 512 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/c", .gone = true }, { "/a" } },
          .writes = "" },
        { .name = "an unreadable neighbour's claim no longer counts: the parent is lowered",
          .claims = { { "/a/x", 512 * M, 0, CLAIM_KEPT }, { "/a/y", 1 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .held = { HELD(0, 512 * M) }, .unreadable = { true, false } }, { "/a/y" },
                     { "/a", .held = { HELD(0, 512 * M) }, .host = { 512 * M } } },
          .observe_all = true,
          .writes = "/a/y memory.min 0->1048576; /a memory.min 536870912->1048576" },

        /* ---- a lost (corrupt) ledger: rebuild ---- */
        { .name = "rebuild: an ancestor's original is its value less the applied claims below",
          .claims = { { "/a/x", 64 * M, 0, CLAIM_KEPT, true }, { "/a/y", 64 * M, 0, CLAIM_NEW } },
          .nodes = { { "/a/x", .host = { 64 * M } }, { "/a/y" }, { "/a", .host = { 4 * K + 64 * M } } },
          .rebuild = true,
          .writes = "/a memory.min 67112960->134221824; /a/y memory.min 0->67108864",
          .notes = "rebuilt /a memory.min 4096 67112960",
          .held = "/a/x memory.min 67108864/67108864/67108864; /a/y memory.min 0/67108864/0; /a memory.min 4096/134221824/67112960" },
        { .name = "rebuild: a claim never applied is not subtracted (errs upwards, never below the admin's value)",
          .claims = { { "/a/x", 128 * M, 0, CLAIM_KEPT, false } },
          .nodes = { { "/a/x", .unreadable = { true, false } }, { "/a", .host = { 512 * M } } },
          .rebuild = true,
          .writes = "",
          .notes = "",
          .held = "/a memory.min 536870912/536870912/536870912" },
        { .name = "rebuild: a stopped container's applied claim is given back",
          .claims = { { "/a/x", 64 * M, 0, CLAIM_REMOVED, true } },
          .nodes = { { "/a/x", .gone = true }, { "/a", .host = { 4 * K + 64 * M } } },
          .rebuild = true,
          .writes = "/a memory.min 67112960->4096",
          .notes = "rebuilt /a memory.min 4096 67112960" },
        { .name = "rebuild: a value below the applied claims is taken as it is (never negative)",
          .claims = { { "/a/x", 64 * M, 0, CLAIM_KEPT, true } },
          .nodes = { { "/a/x", .host = { 64 * M } }, { "/a", .host = { 1 * M } } },
          .rebuild = true,
          .writes = "/a memory.min 1048576->68157440" },
        { .name = "rebuild: the leaf keeps its current value as original",
          .claims = { { "/a/x", 64 * M, 0, CLAIM_KEPT, true } },
          .nodes = { { "/a/x", .host = { 64 * M } }, { "/a", .host = { 64 * M } } },
          .rebuild = true,
          .writes = "",
          .notes = "rebuilt /a memory.min 0 67108864",
          .held = "/a/x memory.min 67108864/67108864/67108864; /a memory.min 0/67108864/67108864" },
        { .name = "rebuild: only the applied half (min) of a claim is subtracted",
          .claims = { { "/a/x", 64 * M, 64 * M, CLAIM_KEPT, true, false } },
          .nodes = { { "/a/x", .host = { 64 * M, 64 * M } }, { "/a", .host = { 64 * M, 64 * M } } },
          .rebuild = true,
          .writes = "/a memory.low 67108864->134217728",
          .notes = "rebuilt /a memory.min 0 67108864" },

        /* ---- systemd units and cgroupfs: the plan is the same ---- */
        { .name = "systemd slice and scope: planned like any cgroup (the backend differs)",
          .claims = { { "/system.slice/docker-d1.scope", 128 * M, 256 * M, CLAIM_NEW } },
          .nodes = { { "/system.slice/docker-d1.scope" }, { "/system.slice" } },
          .writes = "/system.slice memory.min 0->134217728; /system.slice memory.low 0->268435456; "
                    "/system.slice/docker-d1.scope memory.min 0->134217728; /system.slice/docker-d1.scope memory.low 0->268435456" },
        { .name = "crun's container sub-cgroup below a scope: three levels",
          .claims = { { "/machine.slice/libpod-1.scope/container", 1 * M, 0, CLAIM_NEW } },
          .nodes = { { "/machine.slice/libpod-1.scope/container" }, { "/machine.slice/libpod-1.scope" }, { "/machine.slice" } },
          .writes = "/machine.slice memory.min 0->1048576; /machine.slice/libpod-1.scope memory.min 0->1048576; "
                    "/machine.slice/libpod-1.scope/container memory.min 0->1048576" },
        { .name = "no claims at all and nothing held: nothing read, nothing written",
          .nodes = { { "/a" } },
          .writes = "",
          .check_reads = true, .reads = 0 },
        { .name = "a claim of 0 (protection impossible): the chain is held for nothing",
          .claims = { { "/a/c", 0, 0, CLAIM_NEW } },
          .nodes = { { "/a/c" }, { "/a" } },
          .writes = "",
          .check_reads = true, .reads = 0 },
        { .name = "paths that share a prefix are not ancestors (/ab is not below /a)",
          .claims = { { "/ab/c", 1 * M, 0, CLAIM_NEW } },
          .nodes = { { "/ab/c" }, { "/ab" }, { "/a", .held = { HELD(0, 5 * M) }, .host = { 5 * M } } },
          .writes = "/ab memory.min 0->1048576; /ab/c memory.min 0->1048576; /a memory.min 5242880->0" },
};

static const char *kind_name(enum plan_note_kind k) {
        switch (k) {
        case NOTE_FOREIGN:
                return "foreign";
        case NOTE_REBUILT_ORIG:
                return "rebuilt";
        case NOTE_LEAF_ABOVE_CLAIM:
                return "leaf-above-claim";
        }
        return "?";
}

static const char *val(uint64_t v, char *buf) {
        if (v == MAXV)
                return "max";
        snprintf(buf, 24, "%llu", (unsigned long long) v);
        return buf;
}

static void run_cgroup_case(const struct cgroup_case *tc) {
        struct plan_node nodes[8];
        struct plan_claim claims[8];
        size_t n_nodes = 0, n_claims = 0;
        for (; n_nodes < 8 && tc->nodes[n_nodes].path; n_nodes++) {
                nodes[n_nodes] = (struct plan_node) { .path = tc->nodes[n_nodes].path };
                memcpy(nodes[n_nodes].held, tc->nodes[n_nodes].held, sizeof nodes[n_nodes].held);
        }
        for (; n_claims < 8 && tc->claims[n_claims].cgroup; n_claims++) {
                const struct claim_spec *c = &tc->claims[n_claims];
                claims[n_claims] = (struct plan_claim) { .cgroup = c->cgroup, .value = { c->min, c->low }, .applied = { c->applied_min, c->applied_low },
                                                         .state = c->state };
        }
        struct plan_cgroup_input in = { .nodes = nodes, .n_nodes = n_nodes, .claims = claims, .n_claims = n_claims,
                                        .page_size = tc->page_size ? tc->page_size : 4096, .observe_all = tc->observe_all, .rebuild = tc->rebuild };
        struct plan_cgroups p = {0};
        int reads = 0, rounds = 0, r;
        /* apply's part: answer the reads until the plan decides */
        for (;;) {
                r = plan_cgroups(&in, &p);
                if (r < 0 || p.n_reads == 0 || ++rounds > 4)
                        break;
                for (size_t i = 0; i < n_nodes; i++)
                        for (int v = 0; v < LV_N; v++) {
                                if (!p.need_read[i][v])
                                        continue;
                                if (tc->nodes[i].gone)
                                        nodes[i].gone = true;
                                else if (tc->nodes[i].unreadable[v])
                                        nodes[i].read_failed[v] = true;
                                else {
                                        nodes[i].observed[v] = true;
                                        nodes[i].cur[v] = tc->nodes[i].host[v];
                                        reads++;
                                }
                        }
                plan_cgroups_free(&p);
        }
        if (r < 0 || p.n_reads > 0) {
                CHECK(false, "%s: the plan decides (r=%d, reads pending %zu)", tc->name, r, p.n_reads);
                plan_cgroups_free(&p);
                return;
        }
        char got[2048] = "", a[24], b[24];
        size_t o = 0;
        for (size_t k = 0; k < p.n_writes; k++)
                o += (size_t) snprintf(got + o, sizeof got - o, "%s%s %s %s->%s", k ? "; " : "", nodes[p.writes[k].node].path,
                                       plan_value_file[p.writes[k].v], val(p.writes[k].from, a), val(p.writes[k].to, b));
        CHECK(strcmp(got, tc->writes) == 0, "%s: writes\n#   got:  %s\n#   want: %s", tc->name, got, tc->writes);
        if (tc->notes) {
                char notes[1024] = "";
                o = 0;
                for (size_t k = 0; k < p.n_notes; k++)
                        o += (size_t) snprintf(notes + o, sizeof notes - o, "%s%s %s %s %s %s", k ? "; " : "", kind_name(p.notes[k].kind),
                                               nodes[p.notes[k].node].path, plan_value_file[p.notes[k].v], val(p.notes[k].a, a), val(p.notes[k].b, b));
                CHECK(strcmp(notes, tc->notes) == 0, "%s: notes\n#   got:  %s\n#   want: %s", tc->name, notes, tc->notes);
        }
        if (tc->check_reads)
                CHECK(reads == tc->reads, "%s: %d values read (want %d)", tc->name, reads, tc->reads);
        if (tc->held) {
                char held[2048] = "", c[24];
                o = 0;
                for (size_t i = 0; i < n_nodes; i++)
                        for (int v = 0; v < LV_N; v++) {
                                const struct held_value *hv = &p.held[i][v];
                                if (!hv->managed)
                                        continue;
                                o += (size_t) snprintf(held + o, sizeof held - o, "%s%s %s %s/%s/%s%s", o ? "; " : "", nodes[i].path, plan_value_file[v],
                                                       val(hv->orig, a), val(hv->set, b), val(hv->prev, c), hv->foreign ? " F" : "");
                        }
                CHECK(strcmp(held, tc->held) == 0, "%s: ledger after the plan\n#   got:  %s\n#   want: %s", tc->name, held, tc->held);
        }
        plan_cgroups_free(&p);
}

/* ---- vm.swappiness ---- */

struct swappiness_case {
        const char *name;
        struct held_value held;
        struct swappiness_claim claims[4];
        uint64_t now, cur;
        const char *want; /* "write A->B" or "none"; then " foreign", " lapsed=N", " held=orig/set" or " released" */
};

static const struct swappiness_case swappiness_cases[] = {
        { "a build claims 10: adopted and written", {0}, { { 10, 0, true } }, 100, 60, "write 60->10 held=60/10" },
        { "two builds hold the smallest", HELD(60, 10), { { 10, 0, true }, { 5, 0, true } }, 100, 10, "write 10->5 held=60/5" },
        { "the last build stops: the original is restored", HELD(60, 10), { { 10, 0, false } }, 100, 10, "write 10->60 held=60/60" },
        { "changed by someone else while held: left alone", HELD(60, 10), { { 10, 0, true } }, 100, 30, "none foreign held=60/10" },
        { "foreign and no claim left: released, never restored", FOREIGN(60, 10), { { 10, 0, false } }, 100, 30, "none released" },
        { "a claim past its lifetime lapses: the original is restored", HELD(60, 10), { { 10, 50, true } }, 100, 10, "write 10->60 lapsed=1 held=60/60" },
        { "a lapsed claim beside a live one: the live one holds", HELD(60, 5), { { 5, 50, true }, { 20, 1000, true } }, 100, 5,
          "write 5->20 lapsed=1 held=60/20" },
        { "a claim within its lifetime holds", HELD(60, 10), { { 10, 1000, true } }, 100, 10, "none held=60/10" },
        { "no claim and nothing held: not even read", {0}, { { PLAN_NO_SWAPPINESS, 0, true } }, 100, 60, "none unread" },
        { "interrupted write (value still prev): written again", MIDWRITE(60, 10, 60), { { 10, 0, true } }, 100, 60, "write 60->10 held=60/10" },
        { "a new build's claim equal to the value: held, nothing written", {0}, { { 60, 0, true } }, 100, 60, "none held=60/60" },
};

static void run_swappiness_case(const struct swappiness_case *tc) {
        size_t n = 0;
        while (n < 4 && (tc->claims[n].live || tc->claims[n].value != 0))
                n++;
        struct plan_swappiness_input in = { .held = tc->held, .claims = tc->claims, .n_claims = n, .now_usec = tc->now };
        struct plan_swappiness p;
        plan_swappiness(&in, &p);
        bool unread = !p.needs_read;
        if (p.needs_read) {
                in.observed = true;
                in.cur = tc->cur;
                plan_swappiness(&in, &p);
        }
        char got[256];
        size_t o = 0;
        if (p.write)
                o += (size_t) snprintf(got + o, sizeof got - o, "write %llu->%llu", (unsigned long long) p.from, (unsigned long long) p.to);
        else
                o += (size_t) snprintf(got + o, sizeof got - o, "none");
        if (p.foreign_seen || (p.held.foreign && !p.write && strstr(tc->want, "foreign")))
                o += (size_t) snprintf(got + o, sizeof got - o, " foreign");
        if (p.n_lapsed)
                o += (size_t) snprintf(got + o, sizeof got - o, " lapsed=%zu", p.n_lapsed);
        if (unread)
                o += (size_t) snprintf(got + o, sizeof got - o, " unread");
        else if (p.held.managed)
                o += (size_t) snprintf(got + o, sizeof got - o, " held=%llu/%llu", (unsigned long long) p.held.orig, (unsigned long long) p.held.set);
        else
                o += (size_t) snprintf(got + o, sizeof got - o, " released");
        CHECK(strcmp(got, tc->want) == 0, "swappiness: %s\n#   got:  %s\n#   want: %s", tc->name, got, tc->want);
}

static void test_rules(void) {
        struct held_value hv = {0};
        CHECK(held_value_observe(&hv, 7, 7) == OBSERVE_ADOPTED && hv.managed && hv.orig == 7 && hv.set == 7, "observe: an unheld value is adopted");
        hv = (struct held_value) HELD(0, 5);
        CHECK(held_value_observe(&hv, 5, 5) == OBSERVE_UNCHANGED && !hv.foreign, "observe: the hook's own value");
        hv = (struct held_value) MIDWRITE(0, 5, 3);
        CHECK(held_value_observe(&hv, 3, 3) == OBSERVE_UNCHANGED && !hv.foreign, "observe: the value before an interrupted write is ours");
        CHECK(held_value_observe(&hv, 4, 4) == OBSERVE_FOREIGN && hv.foreign, "observe: anything else is foreign");
        CHECK(held_value_observe(&hv, 9, 9) == OBSERVE_UNCHANGED, "observe: foreign once, reported once");
        hv = (struct held_value) HELD(2, 5);
        CHECK(held_value_decide(&hv, 5, true, 8) && hv.prev == 5 && hv.set == 8, "decide: a write carries its intent (prev, set)");
        hv = (struct held_value) HELD(2, 5);
        CHECK(!held_value_decide(&hv, 2, false, 2) && !hv.managed, "decide: back at the original, unclaimed: released");
        CHECK(cgroup_path_is_below("/a/b", "/a") && !cgroup_path_is_below("/ab", "/a") && !cgroup_path_is_below("/a", "/a"), "path_is_below");
        CHECK(cgroup_path_depth("/a/b/c") == 3 && cgroup_path_depth("/a") == 1, "path depth");
}

int main(void) {
        test_rules();
        for (size_t i = 0; i < sizeof cgroup_cases / sizeof cgroup_cases[0]; i++)
                run_cgroup_case(&cgroup_cases[i]);
        for (size_t i = 0; i < sizeof swappiness_cases / sizeof swappiness_cases[0]; i++)
                run_swappiness_case(&swappiness_cases[i]);
        printf("# plan cases: %zu cgroup, %zu vm.swappiness\n", sizeof cgroup_cases / sizeof cgroup_cases[0],
               sizeof swappiness_cases / sizeof swappiness_cases[0]);
        return test_report();
}

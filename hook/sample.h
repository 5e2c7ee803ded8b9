/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The periodic sample: runc and crun remove the container's cgroup before
 * they run poststop hooks, so the stop cannot read the leaf's counters.
 * `oci-memguard sample` (a systemd timer, or cron) stores the latest
 * reading of every managed container in samples/<record file name>; the
 * stop, and the pruning of a stale record, judge from it when the leaf is
 * gone, marked with its age. One file per container: the records are
 * never rewritten by the sampler. */

#include <stdbool.h>
#include <stdint.h>

#include "evidence.h"
#include "outcome.h"

#define SAMPLE_DIR "samples"
/* a sample is ~400 bytes; anything past this is not one the sampler wrote */
#define SAMPLE_MAX_FILE_BYTES (8u * 1024u)
/* a state dir with more records than this is not one the hook made */
#define SAMPLE_MAX_RECORDS 100000u

struct sample_file {
        char id[1025];
        uint64_t sampled_realtime_usec;
        struct ev_sample s;
        /* the record's start snapshot, copied: a stale record is pruned
         * without its own extra being read */
        bool have_start;
        struct ev_sample start;
        uint64_t min, low;
};

/* Pure: the sample file's text -> struct; -EBADMSG on junk, -EFBIG over
 * the cap, -ESTALE when it belongs to another id. */
int sample_parse(const char *buf, size_t len, const char *id, struct sample_file *ret);
void sample_format(const struct sample_file *f, struct strbuf *sb);

/* The sample of id in the state dir, for the stop. -ENOENT: none; other
 * -errno: unusable (the caller says so once in the outcome). */
int sample_load_at(int state_dirfd, const char *id, struct sample_file *ret);
/* Removes the sample of id (with its record); absent is fine. */
void sample_unlink_at(int state_dirfd, const char *id);

struct sample_stats {
        unsigned records, sampled, gone, errors;
};
/* One sample run over the state dir (no lock: records are read only;
 * a sample whose record vanished meanwhile is removed again). */
int sample_run(const char *state_dir, const char *sysroot, struct sample_stats *ret);

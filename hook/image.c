/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && STREQ(s + a - b, suffix);
}

/* Engine metadata is a regular file. The paths to it are derived from what
 * the container's spec says (mount sources, root.path), so whatever sits
 * there is opened without blocking — a FIFO would otherwise hold the hook,
 * and the container's start, until the runtime's timeout — and anything but
 * a regular file is refused. */
static int read_engine_json(const char *sysroot, const char *rel, const struct json_keep *keep, struct json_node **ret) {
        assert(sysroot && rel && keep && ret);
        char path[PATH_MAX];
        if (path_join(path, sizeof path, sysroot, rel) < 0)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_fd_bounded(fd, MEMGUARD_MAX_CONFIG_BYTES, &buf, &len);
        if (r < 0)
                return r;
        const struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep, .arena = true };
        return json_parse(buf, len, &opts, ret, NULL);
}

/* <docker-root>/containers/<id>/hostname → <docker-root>/containers/<id> */
static bool docker_dir_from_mounts(const struct oci_info *oci, const char *id, char *buf, size_t size) {
        char suffix[1200];
        static const char *const files[] = { "hostname", "hosts", "resolv.conf" };
        for (size_t f = 0; f < ELEMENTSOF(files); f++) {
                snprintf(suffix, sizeof suffix, "/containers/%s/%s", id, files[f]);
                for (size_t i = 0; i < oci->n_mount_sources; i++) {
                        const char *src = oci->mount_sources[i];
                        if (!ends_with(src, suffix) || strstr(src, "/../"))
                                continue;
                        size_t l = strlen(src) - strlen(files[f]) - 1;
                        if (l >= size)
                                continue;
                        memcpy(buf, src, l);
                        buf[l] = '\0';
                        return true;
                }
        }
        return false;
}

static int docker_lookup(const char *sysroot, const char *dir, struct image_info *ret) {
        char rel[PATH_MAX];
        int n = snprintf(rel, sizeof rel, "%s/config.v2.json", dir);
        if (n < 0 || (size_t) n >= sizeof rel)
                return -ENAMETOOLONG;
        _cleanup_json_ struct json_node *root = NULL;
        /* Only Config.Image and Config.Cmd are read. */
        static const struct json_keep keep_cfg[] = { { "Image", NULL }, { "Cmd", NULL }, { NULL, NULL } };
        static const struct json_keep keep_v2[] = { { "Config", keep_cfg }, { NULL, NULL } };
        int r = read_engine_json(sysroot, rel, keep_v2, &root);
        if (r < 0)
                return r;
        ret->docker = true;
        const char *cfg_keys[] = { "Config", "Image", NULL };
        const struct json_node *img = json_get_path(root, cfg_keys);
        if (img && img->type == JSON_STRING && img->str[0]) {
                snprintf(ret->image, sizeof ret->image, "%s", img->str);
                /* "sha256:<64 hex>" or a bare 64-hex id */
                const char *h = strncmp(img->str, "sha256:", 7) == 0 ? img->str + 7 : img->str;
                size_t hl = strspn(h, "0123456789abcdef");
                ret->docker_image_is_id = hl == 64 && h[64] == '\0';
        }
        const char *cmd_keys[] = { "Config", "Cmd", NULL };
        const struct json_node *cmd = json_get_path(root, cmd_keys);
        if (cmd && cmd->type == JSON_ARRAY && cmd->n >= 2 && cmd->items[0]->type == JSON_STRING && cmd->items[1]->type == JSON_STRING) {
                snprintf(ret->docker_cmd0, sizeof ret->docker_cmd0, "%s", cmd->items[0]->str);
                snprintf(ret->docker_cmd1, sizeof ret->docker_cmd1, "%s", cmd->items[1]->str);
        }
        return 0;
}

/* <graphroot>/<driver>/<layer>/merged (overlay, fuse-overlayfs) or
 * <graphroot>/vfs/dir/<layer> → <graphroot>/<driver>-containers/containers.json */
static int storage_lookup(const char *sysroot, const char *id, const char *root_path, char *ret, size_t size) {
        char p[PATH_MAX];
        if (!root_path || strlen(root_path) >= sizeof p)
                return -ENOENT;
        strcpy(p, root_path);
        char *s, driver[64];
        if (ends_with(p, "/merged")) {
                p[strlen(p) - 7] = '\0';
                if (!(s = strrchr(p, '/')))
                        return -ENOENT;
                *s = '\0'; /* drop <layer> */
        } else if ((s = strstr(p, "/vfs/dir/"))) {
                s[4] = '\0'; /* keep ".../vfs" */
        } else
                return -ENOENT;
        if (!(s = strrchr(p, '/')) || s == p)
                return -ENOENT;
        snprintf(driver, sizeof driver, "%s", s + 1);
        *s = '\0'; /* p = graphroot */
        char rel[PATH_MAX];
        int n = snprintf(rel, sizeof rel, "%s/%s-containers/containers.json", p, driver);
        if (n < 0 || (size_t) n >= sizeof rel)
                return -ENAMETOOLONG;
        _cleanup_json_ struct json_node *root = NULL;
        /* Only each container's id and metadata are read (the file lists
         * every container of the store: layers, names, flags are skipped). */
        static const struct json_keep keep_ctr[] = { { "id", NULL }, { "metadata", NULL }, { NULL, NULL } };
        int r = read_engine_json(sysroot, rel, keep_ctr, &root);
        if (r < 0)
                return r;
        if (root->type != JSON_ARRAY)
                return -EBADMSG;
        for (size_t i = 0; i < root->n; i++) {
                const char *cid = NULL, *meta = NULL;
                if (json_get_string(root->items[i], "id", &cid, NULL) < 0 || !STREQ(cid, id))
                        continue;
                if (json_get_string(root->items[i], "metadata", &meta, NULL) < 0)
                        return -ENOENT;
                _cleanup_json_ struct json_node *m = NULL;
                if (json_parse(meta, strlen(meta), &(const struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true }, &m, NULL) < 0)
                        return -EBADMSG;
                const char *name = NULL;
                if (json_get_string(m, "image-name", &name, NULL) < 0 || !name[0])
                        return -ENOENT;
                snprintf(ret, size, "%s", name);
                return 0;
        }
        return -ENOENT;
}

const struct image_signal *image_choose(const struct image_signal *sig, size_t n) {
        assert(sig || n == 0);
        const struct image_signal *claim = NULL;
        for (size_t i = 0; i < n; i++) {
                if (!sig[i].value || !sig[i].value[0])
                        continue;
                if (sig[i].claim == POLICY_CLAIM_NONE)
                        return &sig[i];
                if (!claim)
                        claim = &sig[i];
        }
        return claim;
}

/* containerd keeps a task's bundle at <state>/io.containerd.runtime.v2.task/
 * <namespace>/<id>; its CRI plugin uses the namespace "k8s.io" (Docker uses
 * "moby"). A bundle path is the engine's choice, not the container's. */
bool image_bundle_is_containerd_cri(const char *bundle, const char *id) {
        static const char mark[] = "/io.containerd.runtime.v2.task/k8s.io/";
        if (!bundle || !id || !id[0])
                return false;
        const char *p = strstr(bundle, mark);
        return p && STREQ(p + strlen(mark), id);
}

static const char *annotation_of(const struct oci_info *oci, const struct annotations *state_ann, const char *key) {
        const char *v = oci ? annotations_get(&oci->annotations, key) : NULL;
        if (!v && state_ann)
                v = annotations_get(state_ann, key);
        return v;
}

int image_identify(const char *sysroot, const char *id, const char *bundle, const struct oci_info *oci, const struct annotations *state_ann,
                   struct image_info *ret) {
        assert(sysroot);
        assert(ret);
        *ret = (struct image_info) {0};
        /* Docker's metadata is read whatever else names the image: it also
         * says whether this is a classic-builder step. */
        char docker_image[sizeof ret->image] = "", storage_image[sizeof ret->image] = "";
        char dir[PATH_MAX];
        if (oci && id && docker_dir_from_mounts(oci, id, dir, sizeof dir)) {
                struct image_info d = {0};
                if (docker_lookup(sysroot, dir, &d) == 0) {
                        ret->docker = true;
                        ret->docker_image_is_id = d.docker_image_is_id;
                        memcpy(ret->docker_cmd0, d.docker_cmd0, sizeof d.docker_cmd0);
                        memcpy(ret->docker_cmd1, d.docker_cmd1, sizeof d.docker_cmd1);
                        memcpy(docker_image, d.image, sizeof d.image);
                }
        } else if (oci && id)
                (void) storage_lookup(sysroot, id, oci->root_path, storage_image, sizeof storage_image);

        const char *cri = annotation_of(oci, state_ann, "io.kubernetes.cri.image-name");
        bool cri_attested = image_bundle_is_containerd_cri(bundle, id);
        /* Claims in the order they are believed: the key meant for this hook
         * first; the OCI ref name last, as every image can carry one (often
         * only a tag) and Podman copies it into the spec. */
        const struct image_signal sig[] = {
                { "docker-config", POLICY_CLAIM_NONE, docker_image },
                { "containers-storage", POLICY_CLAIM_NONE, storage_image },
                { "containerd-cri", POLICY_CLAIM_NONE, cri_attested ? cri : NULL },
                { "oci-memguard.image", POLICY_CLAIM_IMAGE_ANNOTATION, annotation_of(oci, state_ann, "oci-memguard.image") },
                { "io.kubernetes.cri.image-name", POLICY_CLAIM_CRI_IMAGE, cri_attested ? NULL : cri },
                { "io.kubernetes.cri-o.ImageName", POLICY_CLAIM_CRIO_IMAGE, annotation_of(oci, state_ann, "io.kubernetes.cri-o.ImageName") },
                { "org.opencontainers.image.ref.name", POLICY_CLAIM_REF_NAME,
                  annotation_of(oci, state_ann, "org.opencontainers.image.ref.name") },
        };
        const struct image_signal *c = image_choose(sig, ELEMENTSOF(sig));
        if (!c)
                return 0;
        snprintf(ret->image, sizeof ret->image, "%s", c->value);
        snprintf(ret->source, sizeof ret->source, "%s", c->source);
        ret->claim = c->claim;
        /* A claim that disagrees with the engine's record is worth a line
         * in the log: it is what an attempt to borrow a policy looks like. */
        for (size_t i = 0; c->claim == POLICY_CLAIM_NONE && i < ELEMENTSOF(sig); i++)
                if (sig[i].claim != POLICY_CLAIM_NONE && sig[i].value && sig[i].value[0] && !STREQ(sig[i].value, c->value)) {
                        snprintf(ret->ignored, sizeof ret->ignored, "%s=%.1000s", sig[i].source, sig[i].value);
                        break;
                }
        return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

static const char *const image_annotations[] = {
        "io.kubernetes.cri.image-name",
        "io.kubernetes.cri-o.ImageName",
        "org.opencontainers.image.ref.name",
        "oci-memguard.image",
};

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && STREQ(s + a - b, suffix);
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
        char rel[PATH_MAX], path[PATH_MAX];
        int n = snprintf(rel, sizeof rel, "%s/config.v2.json", dir);
        if (n < 0 || (size_t) n >= sizeof rel || path_join(path, sizeof path, sysroot, rel) < 0)
                return -ENAMETOOLONG;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, MEMGUARD_MAX_CONFIG_BYTES, &buf, &len);
        if (r < 0)
                return r;
        _cleanup_json_ struct json_node *root = NULL;
        /* Only Config.Image and Config.Cmd are read. */
        static const struct json_keep keep_cfg[] = { { "Image", NULL }, { "Cmd", NULL }, { NULL, NULL } };
        static const struct json_keep keep_v2[] = { { "Config", keep_cfg }, { NULL, NULL } };
        const struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep_v2, .arena = true };
        r = json_parse(buf, len, &opts, &root, NULL);
        if (r < 0)
                return r;
        ret->docker = true;
        const char *cfg_keys[] = { "Config", "Image", NULL };
        const struct json_node *img = json_get_path(root, cfg_keys);
        if (img && img->type == JSON_STRING && img->str[0]) {
                snprintf(ret->image, sizeof ret->image, "%s", img->str);
                snprintf(ret->source, sizeof ret->source, "docker config.v2.json");
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
static int storage_lookup(const char *sysroot, const char *id, const char *root_path, struct image_info *ret) {
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
        char rel[PATH_MAX], path[PATH_MAX];
        int n = snprintf(rel, sizeof rel, "%s/%s-containers/containers.json", p, driver);
        if (n < 0 || (size_t) n >= sizeof rel || path_join(path, sizeof path, sysroot, rel) < 0)
                return -ENAMETOOLONG;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, MEMGUARD_MAX_CONFIG_BYTES, &buf, &len);
        if (r < 0)
                return r;
        _cleanup_json_ struct json_node *root = NULL;
        /* Only each container's id and metadata are read (the file lists
         * every container of the store: layers, names, flags are skipped). */
        static const struct json_keep keep_ctr[] = { { "id", NULL }, { "metadata", NULL }, { NULL, NULL } };
        const struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep_ctr, .arena = true };
        r = json_parse(buf, len, &opts, &root, NULL);
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
                snprintf(ret->image, sizeof ret->image, "%s", name);
                snprintf(ret->source, sizeof ret->source, "containers-storage");
                return 0;
        }
        return -ENOENT;
}

int image_identify(const char *sysroot, const char *id, const struct oci_info *oci, const struct annotations *state_ann, struct image_info *ret) {
        *ret = (struct image_info) {0};
        for (size_t i = 0; i < ELEMENTSOF(image_annotations); i++) {
                const char *v = oci ? annotations_get(&oci->annotations, image_annotations[i]) : NULL;
                if (!v && state_ann)
                        v = annotations_get(state_ann, image_annotations[i]);
                if (v && *v) {
                        snprintf(ret->image, sizeof ret->image, "%s", v);
                        snprintf(ret->source, sizeof ret->source, "annotation %s", image_annotations[i]);
                        break;
                }
        }
        if (!oci)
                return 0;
        /* Docker's metadata is read even when an annotation named the image:
         * it also says whether this is a classic-builder step. */
        char dir[PATH_MAX];
        if (docker_dir_from_mounts(oci, id, dir, sizeof dir)) {
                struct image_info d = {0};
                if (docker_lookup(sysroot, dir, &d) == 0) {
                        ret->docker = true;
                        ret->docker_image_is_id = d.docker_image_is_id;
                        memcpy(ret->docker_cmd0, d.docker_cmd0, sizeof d.docker_cmd0);
                        memcpy(ret->docker_cmd1, d.docker_cmd1, sizeof d.docker_cmd1);
                        if (!ret->image[0] && d.image[0]) {
                                memcpy(ret->image, d.image, sizeof d.image);
                                memcpy(ret->source, d.source, sizeof d.source);
                        }
                }
                return 0;
        }
        if (!ret->image[0])
                (void) storage_lookup(sysroot, id, oci->root_path, ret);
        return 0;
}

/* The image store on disk: imports of every format (the busybox test image
 * of tests/images/make-busybox.sh, and tarballs written here with
 * libarchive), unpacking rules, refused archives, removal and overlayfs
 * root filesystems.  Runs as root (device nodes, trusted.* xattrs, mounts).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "image_store.h"

#ifndef KRAAL_SOURCE_DIR
#error KRAAL_SOURCE_DIR must name the source tree
#endif

struct fx {
    char dir[64];
    char root[96];
    rc_images_t *s;
};

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

/* The busybox test images, built once for every test. */
static char g_img[64];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_img, sizeof g_img, "/tmp/kraal-imgsrc-XXXXXX");
    if (mkdtemp(g_img) == NULL)
        return -1;
    const char *mk = KRAAL_SOURCE_DIR "/tests/images/make-busybox.sh";
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "bash %s %s/layout oci-layout && bash %s %s/oci.tar oci-archive && "
             "bash %s %s/docker.tar docker-archive && bash %s %s/rootfs.tar rootfs-tar",
             mk, g_img, mk, g_img, mk, g_img, mk, g_img);
    return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_img);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-images-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->root, sizeof f->root, "%s/images", f->dir);
    kr_error_t err;
    rc_images_opts_t o = {.root = f->root};
    f->s = rc_images_open(&o, &err);
    if (f->s == NULL) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rc_images_close(&f->s);
    char cmd[256];
    /* a failed test may leave a mount behind */
    snprintf(cmd, sizeof cmd,
             "for m in $(awk '$2 ~ \"^%s\" {print $2}' /proc/mounts); do umount -l $m; done; "
             "rm -rf '%s'",
             f->dir, f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* The config digest of the busybox layout: what every import must find. */
static void busybox_id(char out[72])
{
    char path[128], *data = NULL;
    snprintf(path, sizeof path, "%s/layout/index.json", g_img);
    kr_error_t err;
    assert_int_equal(rc_file_read(path, 1 << 20, &data, NULL, &err), 0);
    const char *m = strstr(data, "sha256:");
    assert_non_null(m);
    char manifest[256];
    snprintf(manifest, sizeof manifest, "%s/layout/blobs/sha256/%.64s", g_img, m + 7);
    free(data);
    assert_int_equal(rc_file_read(manifest, 1 << 20, &data, NULL, &err), 0);
    const char *c = strstr(data, "\"config\"");
    assert_non_null(c);
    c = strstr(c, "sha256:");
    snprintf(out, 72, "%.71s", c);
    free(data);
}

static size_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Nothing of a refused import may stay. */
static void assert_store_empty(struct fx *f)
{
    char p[256];
    snprintf(p, sizeof p, "%s/blobs/sha256", f->root);
    assert_int_equal(count_dir(p), 0);
    snprintf(p, sizeof p, "%s/layers", f->root);
    assert_int_equal(count_dir(p), 0);
    kr_rt_image_t *imgs = NULL;
    size_t n = 9;
    kr_error_t err;
    assert_int_equal(rc_images_list(f->s, &imgs, &n, &err), 0);
    assert_int_equal(n, 0);
    kr_rt_image_list_free(imgs, n);
}

static void import_ok(struct fx *f, const char *path, kr_rt_image_format_t fmt, const char *name,
                      char id[72])
{
    char **ids = NULL;
    kr_error_t err;
    if (rc_images_import(f->s, path, fmt, name, &ids, &err) < 0)
        fail_msg("import %s: %s", path, err.message);
    assert_non_null(ids);
    assert_non_null(ids[0]);
    assert_null(ids[1]);
    snprintf(id, 72, "%s", ids[0]);
    kr_rt_strv_free(ids);
}

static void import_fails(struct fx *f, const char *path, kr_rt_image_format_t fmt,
                         const char *needle)
{
    char **ids = (char **)1;
    kr_error_t err;
    assert_true(rc_images_import(f->s, path, fmt, "bad", &ids, &err) < 0);
    assert_null(ids);
    printf("refused as it should be: %s\n", err.message);
    if (strstr(err.message, needle) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.message, needle);
}

/* ---- formats --------------------------------------------------------------- */

static void test_import_layout(void **state)
{
    struct fx *f = *state;
    char want[72], id[72], path[128];
    busybox_id(want);
    snprintf(path, sizeof path, "%s/layout", g_img);
    import_ok(f, path, KR_RT_IMAGE_AUTO, "busybox", id);
    assert_string_equal(id, want);

    kr_rt_image_t img;
    kr_error_t err;
    assert_int_equal(rc_images_status(f->s, "busybox", &img, &err), 0);
    assert_string_equal(img.id, want);
    assert_string_equal(img.repo_tags[0], "docker.io/library/busybox:latest");
    assert_null(img.repo_tags[1]);
    assert_non_null(img.repo_digests[0]);
    assert_true(strncmp(img.repo_digests[0], "docker.io/library/busybox@sha256:", 33) == 0);
    assert_non_null(img.cmd);
    assert_string_equal(img.cmd[0], "sh");
    assert_null(img.cmd[1]);
    assert_null(img.entrypoint);
    assert_true(strncmp(img.env[0], "PATH=", 5) == 0);
    assert_null(img.working_dir);
    assert_true(img.size > 1000000); /* the busybox binary */
    char digest_ref[160];
    snprintf(digest_ref, sizeof digest_ref, "%s", img.repo_digests[0]);
    kr_rt_image_free(&img);

    /* by id, by a prefix of it, by digest, by the full name */
    const char *refs[] = {want, want + 7, "docker.io/library/busybox:latest", digest_ref};
    char prefix[20];
    snprintf(prefix, sizeof prefix, "%.12s", want + 7);
    refs[1] = prefix;
    for (size_t i = 0; i < 4; i++) {
        if (rc_images_status(f->s, refs[i], &img, &err) < 0)
            fail_msg("%s: %s", refs[i], err.message);
        assert_string_equal(img.id, want);
        kr_rt_image_free(&img);
    }
    assert_int_equal(rc_images_status(f->s, "busybox:2", &img, &err), -KR_E_NOT_FOUND);
    assert_string_equal(err.message, "no such image \"busybox:2\" present");
    assert_int_equal(rc_images_status(f->s, "Busybox", &img, &err), -KR_E_INVALID);

    /* the layer is unpacked with its links */
    char p[256];
    snprintf(p, sizeof p, "%s/layers", f->root);
    assert_int_equal(count_dir(p), 1);
}

static void test_import_archives(void **state)
{
    struct fx *f = *state;
    char want[72], id[72], path[128];
    busybox_id(want);
    snprintf(path, sizeof path, "%s/oci.tar", g_img);
    import_ok(f, path, KR_RT_IMAGE_AUTO, "example.com/bb", id);
    assert_string_equal(id, want);
    /* docker-archive: skopeo keeps the config bytes, so the same id */
    snprintf(path, sizeof path, "%s/docker.tar", g_img);
    import_ok(f, path, KR_RT_IMAGE_AUTO, NULL, id);
    assert_string_equal(id, want);
    kr_rt_image_t img;
    kr_error_t err;
    assert_int_equal(rc_images_status(f->s, want, &img, &err), 0);
    assert_true(rc_strv_has(img.repo_tags, "example.com/bb:latest"));
    assert_true(rc_strv_has(img.repo_tags, "docker.io/library/busybox:latest"));
    kr_rt_image_free(&img);
    /* forcing the wrong format fails clearly */
    import_fails(f, path, KR_RT_IMAGE_OCI_ARCHIVE, "not an oci-archive");
    /* stray files of the archives are gone: manifest(s), config, layer */
    char p[256];
    snprintf(p, sizeof p, "%s/blobs/sha256", f->root);
    size_t n = count_dir(p);
    assert_true(n >= 3 && n <= 5);
}

static void test_import_rootfs(void **state)
{
    struct fx *f = *state;
    char id[72], id2[72], path[128];
    snprintf(path, sizeof path, "%s/rootfs.tar", g_img);
    import_ok(f, path, KR_RT_IMAGE_AUTO, "rootfs:1", id);
    kr_rt_image_t img;
    kr_error_t err;
    assert_int_equal(rc_images_status(f->s, "docker.io/library/rootfs:1", &img, &err), 0);
    assert_null(img.cmd);
    assert_null(img.entrypoint);
    assert_null(img.env);
    assert_string_equal(img.repo_tags[0], "docker.io/library/rootfs:1");
    kr_rt_image_free(&img);
    /* deterministic: the same tarball is the same image */
    import_ok(f, path, KR_RT_IMAGE_ROOTFS_TAR, "rootfs:2", id2);
    assert_string_equal(id, id2);
    assert_int_equal(rc_images_status(f->s, "rootfs:1", &img, &err), 0);
    assert_int_equal(rc_strv_len(img.repo_tags), 2);
    kr_rt_image_free(&img);
}

/* ---- hand-made layers ------------------------------------------------------ */

struct entry {
    const char *path;
    mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, 0 = hard link */
    unsigned mode;
    const char *data; /* file content, link target */
    unsigned uid, gid;
    const char *xattr; /* "name=value" */
};

static void write_tar(const char *path, const struct entry *es, size_t n, bool gzip)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, es[i].path);
        archive_entry_set_mtime(e, 1000000 + (time_t)i, 0);
        archive_entry_set_uid(e, es[i].uid);
        archive_entry_set_gid(e, es[i].gid);
        if (es[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, es[i].data);
        } else {
            archive_entry_set_filetype(e, es[i].type);
            archive_entry_set_perm(e, es[i].mode);
        }
        if (es[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, es[i].data);
        if (es[i].type == AE_IFREG && es[i].data != NULL)
            archive_entry_set_size(e, (la_int64_t)strlen(es[i].data));
        if (es[i].xattr != NULL) {
            const char *eq = strchr(es[i].xattr, '=');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(eq - es[i].xattr), es[i].xattr);
            archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (es[i].type == AE_IFREG && es[i].data != NULL)
            archive_write_data(a, es[i].data, strlen(es[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static const struct entry layer1[] = {
    {"./", AE_IFDIR, 0755, NULL, 0, 0, NULL},
    {"etc/", AE_IFDIR, 0755, NULL, 0, 0, NULL},
    {"etc/gone", AE_IFREG, 0644, "bye", 0, 0, NULL},
    {"etc/kept", AE_IFREG, 0644, "kept", 0, 0, NULL},
    {"opq/", AE_IFDIR, 0755, NULL, 0, 0, NULL},
    {"opq/hidden", AE_IFREG, 0644, "hidden", 0, 0, NULL},
    {"bin/", AE_IFDIR, 0755, NULL, 0, 0, NULL},
    {"bin/tool", AE_IFREG, 04755, "#!/bin/sh\n", 1000, 1001, "user.kraal=yes"},
    {"bin/tool-link", 0, 0, "bin/tool", 0, 0, NULL},
    {"bin/sym", AE_IFLNK, 0777, "/bin/tool", 7, 8, NULL},
    {"/abs/file", AE_IFREG, 0600, "abs", 0, 0, NULL},
    {"dev/null", AE_IFCHR, 0666, NULL, 0, 0, NULL},
};

static const struct entry layer2[] = {
    {"etc/.wh.gone", AE_IFREG, 0644, NULL, 0, 0, NULL},
    {"opq/.wh..wh..opq", AE_IFREG, 0644, NULL, 0, 0, NULL},
    {"opq/new", AE_IFREG, 0644, "new", 0, 0, NULL},
    {"etc/kept", AE_IFREG, 0640, "changed", 0, 0, NULL},
};

/* Writes an OCI layout with the given layer tarballs (blobs by digest). */
static void write_layout(const char *dir, const char *const *layers, size_t n, const char *bad_diff)
{
    run("mkdir -p %s/blobs/sha256 && printf '{\"imageLayoutVersion\":\"1.0.0\"}' >%s/oci-layout",
        dir, dir);
    kr_buf_t diffs = KR_BUF_INIT, descs = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t len = 0;
        kr_error_t err;
        assert_int_equal(rc_file_read(layers[i], 64 << 20, &data, &len, &err), 0);
        char blob[72], diff[72];
        rc_sha256_data(data, len, blob);
        free(data);
        /* the diff id: the uncompressed tar */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "zcat -f %s | sha256sum", layers[i]);
        FILE *p = popen(cmd, "r");
        char hex[65] = "";
        assert_int_equal(fscanf(p, "%64s", hex), 1);
        pclose(p);
        snprintf(diff, sizeof diff, "sha256:%s", hex);
        if (bad_diff != NULL && i == n - 1)
            snprintf(diff, sizeof diff, "%s", bad_diff);
        run("cp %s %s/blobs/sha256/%s", layers[i], dir, blob + 7);
        kr_buf_printf(&diffs, "%s\"%s\"", i ? "," : "", diff);
        kr_buf_printf(&descs,
                      "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                      "\"digest\":\"%s\",\"size\":%lld}",
                      i ? "," : "", blob, (long long)len);
    }
    char *cfg = rc_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
                             "\"Entrypoint\":[\"/bin/tool\"],\"WorkingDir\":\"/etc\",\"User\":"
                             "\"1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
                             diffs.data ? diffs.data : "");
    char cd[72], md[72];
    rc_sha256_data(cfg, strlen(cfg), cd);
    char *man = rc_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
                             "manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci."
                             "image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":"
                             "[%s]}",
                             cd, strlen(cfg), descs.data ? descs.data : "");
    rc_sha256_data(man, strlen(man), md);
    char path[512];
    kr_error_t err;
    snprintf(path, sizeof path, "%s/blobs/sha256/%s", dir, cd + 7);
    assert_int_equal(kr_file_write_atomic(path, cfg, strlen(cfg), 0600, &err), 0);
    snprintf(path, sizeof path, "%s/blobs/sha256/%s", dir, md + 7);
    assert_int_equal(kr_file_write_atomic(path, man, strlen(man), 0600, &err), 0);
    char *index = rc_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
                               "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                               "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
                               md, strlen(man));
    snprintf(path, sizeof path, "%s/index.json", dir);
    assert_int_equal(kr_file_write_atomic(path, index, strlen(index), 0600, &err), 0);
    free(index);
    free(man);
    free(cfg);
    kr_buf_free(&diffs);
    kr_buf_free(&descs);
}

static void make_two_layer_image(struct fx *f, char *layout, size_t cap)
{
    char l1[128], l2[128];
    snprintf(l1, sizeof l1, "%s/l1.tar.gz", f->dir);
    snprintf(l2, sizeof l2, "%s/l2.tar", f->dir);
    write_tar(l1, layer1, sizeof layer1 / sizeof layer1[0], true);
    write_tar(l2, layer2, sizeof layer2 / sizeof layer2[0], false);
    snprintf(layout, cap, "%s/two", f->dir);
    const char *ls[] = {l1, l2};
    write_layout(layout, ls, 2, NULL);
}

static void test_unpack_rules(void **state)
{
    struct fx *f = *state;
    char layout[128], id[72];
    make_two_layer_image(f, layout, sizeof layout);
    import_ok(f, layout, KR_RT_IMAGE_OCI_LAYOUT, "two", id);

    rc_record_t rec;
    kr_error_t err;
    assert_int_equal(rc_images_resolve(f->s, "two:v1", &rec, &err), 0);
    assert_int_equal(rc_strv_len(rec.layers), 2);
    char *l1 = rc_layer_path(f->s, rec.layers[0]), *l2 = rc_layer_path(f->s, rec.layers[1]);
    char p[512];
    struct stat st, st2;

    /* ownership, set-id mode, xattrs, times, hard and symbolic links */
    snprintf(p, sizeof p, "%s/bin/tool", l1);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_mtime, 1000000 + 7);
    char xv[16] = "";
    assert_int_equal(getxattr(p, "user.kraal", xv, sizeof xv), 3);
    assert_memory_equal(xv, "yes", 3);
    snprintf(p, sizeof p, "%s/bin/tool-link", l1);
    assert_int_equal(lstat(p, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    snprintf(p, sizeof p, "%s/bin/sym", l1);
    char target[64] = "";
    assert_int_equal(readlink(p, target, sizeof target), 9);
    assert_string_equal(target, "/bin/tool");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_uid, 7);
    snprintf(p, sizeof p, "%s/abs/file", l1); /* a leading "/" stays inside */
    assert_int_equal(lstat(p, &st), 0);
    snprintf(p, sizeof p, "%s/dev/null", l1);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    snprintf(p, sizeof p, "%s/etc", l1);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mtime, 1000000 + 1); /* set after its files */
    assert_int_equal(lstat(l1, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    /* whiteouts as overlayfs has them */
    snprintf(p, sizeof p, "%s/etc/gone", l2);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    snprintf(p, sizeof p, "%s/etc/.wh.gone", l2);
    assert_int_equal(lstat(p, &st), -1);
    snprintf(p, sizeof p, "%s/opq", l2);
    char y[4] = "";
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", y, sizeof y), 1);
    assert_int_equal(y[0], 'y');
    snprintf(p, sizeof p, "%s/opq/.wh..wh..opq", l2);
    assert_int_equal(lstat(p, &st), -1);
    free(l1);
    free(l2);

    kr_rt_image_t img;
    assert_int_equal(rc_images_status(f->s, id, &img, &err), 0);
    assert_string_equal(img.entrypoint[0], "/bin/tool");
    assert_string_equal(img.working_dir, "/etc");
    assert_string_equal(img.user, "1000");
    assert_string_equal(img.repo_tags[0], "docker.io/library/two:v1");
    kr_rt_image_free(&img);
    rc_record_clear(&rec);
}

static void test_rootfs(void **state)
{
    struct fx *f = *state;
    char layout[128], id[72];
    make_two_layer_image(f, layout, sizeof layout);
    import_ok(f, layout, KR_RT_IMAGE_OCI_LAYOUT, "two", id);
    char dir[128], p[256];
    snprintf(dir, sizeof dir, "%s/ctr1", f->dir);
    char *image_id = NULL;
    kr_error_t err;
    if (rc_rootfs_create(f->s, "two:v1", dir, &image_id, &err) < 0)
        fail_msg("rootfs: %s", err.message);
    assert_string_equal(image_id, id);
    free(image_id);
    char *data = NULL;
    struct stat st;
    /* the upper layer's version, the whiteout and the opaque directory */
    snprintf(p, sizeof p, "%s/rootfs/etc/kept", dir);
    assert_int_equal(rc_file_read(p, 100, &data, NULL, &err), 0);
    assert_string_equal(data, "changed");
    free(data);
    snprintf(p, sizeof p, "%s/rootfs/etc/gone", dir);
    assert_int_equal(lstat(p, &st), -1);
    snprintf(p, sizeof p, "%s/rootfs/opq/hidden", dir);
    assert_int_equal(lstat(p, &st), -1);
    snprintf(p, sizeof p, "%s/rootfs/opq/new", dir);
    assert_int_equal(lstat(p, &st), 0);
    /* writes land in upper, not in the shared layer */
    snprintf(p, sizeof p, "%s/rootfs/etc/written", dir);
    assert_int_equal(kr_file_write_atomic(p, "x", 1, 0600, &err), 0);
    snprintf(p, sizeof p, "%s/upper/etc/written", dir);
    assert_int_equal(lstat(p, &st), 0);

    assert_int_equal(rc_rootfs_create(f->s, "nothere", dir, &image_id, &err), -KR_E_NOT_FOUND);
    assert_null(image_id);

    assert_int_equal(rc_rootfs_remove(dir, &err), 0);
    snprintf(p, sizeof p, "%s/rootfs", dir);
    assert_int_equal(lstat(p, &st), -1);
    snprintf(p, sizeof p, "%s/upper", dir);
    assert_int_equal(lstat(p, &st), -1);
    assert_int_equal(rc_rootfs_remove(dir, &err), 0); /* again: nothing to do */
}

/* More layers than one page of mount options holds. */
static void test_rootfs_many_layers(void **state)
{
    struct fx *f = *state;
    enum { N = 80 };
    char paths[N][128];
    const char *ls[N];
    for (int i = 0; i < N; i++) {
        char name[32], data[32];
        snprintf(name, sizeof name, "f%02d", i);
        snprintf(data, sizeof data, "layer %d", i);
        struct entry e[] = {{name, AE_IFREG, 0644, data, 0, 0, NULL},
                            {"top", AE_IFREG, 0644, data, 0, 0, NULL}};
        snprintf(paths[i], sizeof paths[i], "%s/m%02d.tar", f->dir, i);
        write_tar(paths[i], e, 2, true);
        ls[i] = paths[i];
    }
    char layout[128], id[72], dir[128], p[256];
    snprintf(layout, sizeof layout, "%s/many", f->dir);
    write_layout(layout, ls, N, NULL);
    import_ok(f, layout, KR_RT_IMAGE_OCI_LAYOUT, "many", id);
    snprintf(dir, sizeof dir, "%s/ctr", f->dir);
    char *image_id = NULL;
    kr_error_t err;
    if (rc_rootfs_create(f->s, "many:v1", dir, &image_id, &err) < 0)
        fail_msg("rootfs: %s", err.message);
    free(image_id);
    char *data = NULL;
    snprintf(p, sizeof p, "%s/rootfs/top", dir);
    assert_int_equal(rc_file_read(p, 100, &data, NULL, &err), 0);
    assert_string_equal(data, "layer 79"); /* the top layer wins */
    free(data);
    snprintf(p, sizeof p, "%s/rootfs/f00", dir);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(rc_rootfs_remove(dir, &err), 0);
}

/* ---- refused input leaves nothing ------------------------------------------ */

static void test_refused(void **state)
{
    struct fx *f = *state;
    char path[256], layout[128];

    /* ".." */
    struct entry up[] = {{"a/../../evil", AE_IFREG, 0644, "x", 0, 0, NULL}};
    snprintf(path, sizeof path, "%s/up.tar", f->dir);
    write_tar(path, up, 1, false);
    import_fails(f, path, KR_RT_IMAGE_ROOTFS_TAR, "leaves the layer");
    assert_store_empty(f);

    /* through a symbolic link */
    struct entry sym[] = {{"link", AE_IFLNK, 0777, f->dir, 0, 0, NULL},
                          {"link/evil", AE_IFREG, 0644, "x", 0, 0, NULL}};
    snprintf(path, sizeof path, "%s/sym.tar", f->dir);
    write_tar(path, sym, 2, false);
    import_fails(f, path, KR_RT_IMAGE_ROOTFS_TAR, "symbolic link");
    char evil[128];
    snprintf(evil, sizeof evil, "%s/evil", f->dir);
    assert_int_equal(access(evil, F_OK), -1);
    assert_store_empty(f);

    /* a hard link to outside */
    struct entry hl[] = {{"x", 0, 0, "../../../etc/passwd", 0, 0, NULL}};
    snprintf(path, sizeof path, "%s/hl.tar", f->dir);
    write_tar(path, hl, 1, false);
    import_fails(f, path, KR_RT_IMAGE_ROOTFS_TAR, "leaves the layer");
    assert_store_empty(f);

    /* a truncated archive */
    snprintf(path, sizeof path, "%s/trunc.tar", f->dir);
    run("head -c 300000 %s/oci.tar >%s", g_img, path);
    import_fails(f, path, KR_RT_IMAGE_OCI_ARCHIVE, "");
    assert_store_empty(f);
    snprintf(path, sizeof path, "%s/trunc.tar.gz", f->dir);
    run("gzip -c %s/rootfs.tar | head -c 200000 >%s", g_img, path);
    import_fails(f, path, KR_RT_IMAGE_ROOTFS_TAR, "");
    assert_store_empty(f);

    /* a blob that is not what its digest says */
    snprintf(layout, sizeof layout, "%s/corrupt", f->dir);
    run("cp -a %s/layout %s && for b in %s/blobs/sha256/*; do "
        "if [ $(stat -c %%s $b) -gt 100000 ]; then printf 'X' | dd of=$b bs=1 seek=5000 "
        "conv=notrunc status=none; fi; done",
        g_img, layout, layout);
    import_fails(f, layout, KR_RT_IMAGE_OCI_LAYOUT, "digest mismatch");
    assert_store_empty(f);

    /* a layer whose content is not the config's diff id */
    char l1[128];
    snprintf(l1, sizeof l1, "%s/l1.tar.gz", f->dir);
    write_tar(l1, layer1, 3, true);
    snprintf(layout, sizeof layout, "%s/baddiff", f->dir);
    const char *ls[] = {l1};
    write_layout(layout, ls, 1,
                 "sha256:0000000000000000000000000000000000000000000000000000000000000000");
    import_fails(f, layout, KR_RT_IMAGE_OCI_LAYOUT, "diff id mismatch");
    assert_store_empty(f);

    /* not an image at all */
    import_fails(f, f->dir, KR_RT_IMAGE_AUTO, "not an OCI image layout");
    snprintf(path, sizeof path, "%s/missing", f->dir);
    import_fails(f, path, KR_RT_IMAGE_AUTO, "No such file");
    assert_store_empty(f);
}

/* ---- removal ---------------------------------------------------------------- */

static void test_remove(void **state)
{
    struct fx *f = *state;
    char id[72], rid[72], path[128];
    snprintf(path, sizeof path, "%s/layout", g_img);
    import_ok(f, path, KR_RT_IMAGE_OCI_LAYOUT, "busybox", id);
    import_ok(f, path, KR_RT_IMAGE_OCI_LAYOUT, "example.com/other:9", id);
    snprintf(path, sizeof path, "%s/rootfs.tar", g_img);
    import_ok(f, path, KR_RT_IMAGE_ROOTFS_TAR, "rootfs", rid);

    kr_error_t err;
    kr_rt_image_t img;
    /* a name goes, the image stays while it has another */
    assert_int_equal(rc_images_remove(f->s, "busybox", &err), 0);
    assert_int_equal(rc_images_status(f->s, "busybox", &img, &err), -KR_E_NOT_FOUND);
    assert_int_equal(rc_images_status(f->s, "example.com/other:9", &img, &err), 0);
    assert_string_equal(img.id, id);
    assert_null(img.repo_tags[1]);
    assert_null(img.repo_digests[1]); /* busybox's digest went with its name */
    kr_rt_image_free(&img);
    assert_int_equal(rc_images_remove(f->s, "example.com/other:9", &err), 0);
    assert_int_equal(rc_images_status(f->s, id, &img, &err), -KR_E_NOT_FOUND);
    assert_int_equal(rc_images_remove(f->s, id, &err), -KR_E_NOT_FOUND);
    /* the rootfs image and its blobs are still whole */
    assert_int_equal(rc_images_status(f->s, "rootfs", &img, &err), 0);
    kr_rt_image_free(&img);
    char p[256];
    snprintf(p, sizeof p, "%s/layers", f->root);
    assert_int_equal(count_dir(p), 1);
    /* by id: every name at once */
    assert_int_equal(rc_images_remove(f->s, rid + 7, &err), 0);
    assert_store_empty(f);
}

/* ---- concurrency ------------------------------------------------------------ */

struct par {
    struct fx *f;
    const char *path;
    const char *name;
    int rc;
    char msg[KR_ERROR_MSG_MAX];
};

static void *par_import(void *arg)
{
    struct par *p = arg;
    char **ids = NULL;
    kr_error_t err;
    p->rc = rc_images_import(p->f->s, p->path, KR_RT_IMAGE_AUTO, p->name, &ids, &err);
    if (p->rc < 0)
        snprintf(p->msg, sizeof p->msg, "%s", err.message);
    kr_rt_strv_free(ids);
    return NULL;
}

static void test_parallel_imports(void **state)
{
    struct fx *f = *state;
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/layout", g_img);
    snprintf(b, sizeof b, "%s/oci.tar", g_img);
    snprintf(c, sizeof c, "%s/docker.tar", g_img);
    struct par ps[] = {
        {f, a, "p1", 0, ""}, {f, b, "p2", 0, ""}, {f, c, "p3", 0, ""}, {f, a, "p4", 0, ""}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, par_import, &ps[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (ps[i].rc < 0)
            fail_msg("import %d: %s", i, ps[i].msg);
    }
    kr_rt_image_t *imgs = NULL;
    size_t n = 0;
    kr_error_t err;
    assert_int_equal(rc_images_list(f->s, &imgs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(rc_strv_has(imgs[0].repo_tags, "docker.io/library/p1:latest"));
    assert_true(rc_strv_has(imgs[0].repo_tags, "docker.io/library/p4:latest"));
    kr_rt_image_list_free(imgs, n);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_runc_images: needs root (mknod, trusted xattrs, mount); skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_archives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_rootfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rootfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rootfs_many_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_imports, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

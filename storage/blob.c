/* The blob interface: hex checks and the layout shared by every backend,
 * then the backend's ops. */
#include "storage/blob_impl.h"

#include <stdio.h>
#include <string.h>

bool store_hex_valid(const char *s)
{
    if (!s || strnlen(s, 65) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static fg_result check_hex(const char *hex, fg_reason *r)
{
    if (!store_hex_valid(hex))
        return fg_fail(r, FG_EUSAGE, "blob name is not 64 lowercase hex");
    return FG_OK;
}

fg_result store_blob_relpath(const char *hex, char out[STORE_BLOB_REL_MAX],
                             fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    snprintf(out, STORE_BLOB_REL_MAX, "sha256/%.2s/%.2s/%s", hex, hex + 2, hex);
    return FG_OK;
}

void store_blob_free(store_blob *b)
{
    if (b)
        b->ops->free(b);
}

const char *store_blob_tmp_dir(const store_blob *b)
{
    return b->ops->tmp_dir ? b->ops->tmp_dir(b) : NULL;
}

fg_result store_blob_put_file(store_blob *b, const char *src_path,
                              const char *sha256, char hex_out[STORE_HEX_MAX],
                              int64_t *size_out, fg_reason *r)
{
    fg_result rc;
    if (!src_path || !*src_path)
        return fg_fail(r, FG_EUSAGE, "no file to store");
    if (sha256 && (rc = check_hex(sha256, r)))
        return rc;
    char hex[STORE_HEX_MAX];
    int64_t size = 0;
    if ((rc = b->ops->put_file(b, src_path, sha256, NULL, hex, NULL, &size, r)))
        return rc;
    if (hex_out)
        memcpy(hex_out, hex, STORE_HEX_MAX);
    if (size_out)
        *size_out = size;
    return FG_OK;
}

fg_result store_blob_put_file_committed(store_blob *b, const char *src_path,
                                        const unsigned char *salt,
                                        char hex_out[STORE_HEX_MAX],
                                        char commit_out[STORE_HEX_MAX],
                                        int64_t *size_out, fg_reason *r)
{
    fg_result rc;
    char hex[STORE_HEX_MAX], commit[STORE_HEX_MAX];
    int64_t size = 0;
    if (!src_path || !*src_path)
        return fg_fail(r, FG_EUSAGE, "no file to store");
    if (!salt)
        return fg_fail(r, FG_EUSAGE, "no salt for the commitment");
    if ((rc = b->ops->put_file(b, src_path, NULL, salt, hex, commit, &size, r)))
        return rc;
    if (hex_out)
        memcpy(hex_out, hex, STORE_HEX_MAX);
    if (commit_out)
        memcpy(commit_out, commit, STORE_HEX_MAX);
    if (size_out)
        *size_out = size;
    return FG_OK;
}

fg_result store_blob_writer_new(store_blob *b, store_blob_writer **out,
                                fg_reason *r)
{
    *out = NULL;
    return b->ops->writer_new(b, out, r);
}

fg_result store_blob_writer_write(store_blob_writer *w, const void *buf,
                                  size_t len, fg_reason *r)
{
    if (w->committed)
        return fg_fail(r, FG_EUSAGE, "blob writer is committed already");
    if (len == 0)
        return FG_OK;
    fg_result rc = w->ops->write(w, buf, len, r);
    if (rc == FG_OK)
        w->size += (int64_t)len;
    return rc;
}

int64_t store_blob_writer_size(const store_blob_writer *w)
{
    return w->size;
}

fg_result store_blob_writer_commit(store_blob_writer *w,
                                   char hex_out[STORE_HEX_MAX], fg_reason *r)
{
    if (w->committed)
        return fg_fail(r, FG_EUSAGE, "blob writer is committed already");
    fg_result rc = w->ops->commit(w, hex_out, r);
    /* Committed or failed, the temp file is gone either way: a writer
     * cannot be committed twice. */
    w->committed = true;
    return rc;
}

void store_blob_writer_free(store_blob_writer *w)
{
    if (w)
        w->ops->free(w);
}

fg_result store_blob_stat(store_blob *b, const char *hex, bool *exists,
                          int64_t *size, fg_reason *r)
{
    int64_t ignored;
    fg_result rc = check_hex(hex, r);
    *exists = false;
    if (rc)
        return rc;
    return b->ops->stat(b, hex, exists, size ? size : &ignored, r);
}

fg_result store_blob_open_read(store_blob *b, const char *hex, int *fd,
                               fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    *fd = -1;
    if (rc)
        return rc;
    return b->ops->open_read(b, hex, fd, r);
}

fg_result store_blob_local_path(store_blob *b, const char *hex, char *out,
                                size_t cap, fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    return b->ops->local_path(b, hex, out, cap, r);
}

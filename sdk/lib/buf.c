/* Growable heap byte buffer, always NUL-terminated, used by the encoders. */
#include <kraal/value.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kr_buf_reserve(kr_buf_t *buf, size_t extra)
{
    if (extra > SIZE_MAX - buf->len - 1) {
        fprintf(stderr, "kraal: buffer of %zu bytes is too large\n", extra);
        abort();
    }
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return;
    size_t cap = buf->cap < 64 ? 64 : buf->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(buf->data, cap);
    if (p == NULL) {
        fprintf(stderr, "kraal: out of memory (%zu bytes)\n", cap);
        abort();
    }
    if (buf->data == NULL)
        p[0] = '\0';
    buf->data = p;
    buf->cap = cap;
}

void kr_buf_append(kr_buf_t *buf, const void *data, size_t len)
{
    kr_buf_reserve(buf, len);
    if (len > 0)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void kr_buf_puts(kr_buf_t *buf, const char *s)
{
    kr_buf_append(buf, s, strlen(s));
}

void kr_buf_printf(kr_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        kr_buf_reserve(buf, 0);
        return;
    }
    kr_buf_reserve(buf, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

void kr_buf_reset(kr_buf_t *buf)
{
    buf->len = 0;
    if (buf->data != NULL)
        buf->data[0] = '\0';
}

void kr_buf_free(kr_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

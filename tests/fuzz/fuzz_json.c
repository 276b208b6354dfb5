/* libFuzzer: JSON decode, then encode/decode must give an equal tree. */
#include <kraal/value.h>

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check(kr_arena_t *a, const kr_value_t *v, int flags)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_error_t err;
    kr_value_t *again = NULL;
    if (kr_json_encode(v, &b, flags, &err) != 0) {
        fprintf(stderr, "re-encode failed: %s\n", err.message);
        abort();
    }
    if (kr_json_decode(a, b.data, b.len, &again, &err) != 0) {
        fprintf(stderr, "re-decode failed: %s\n%s\n", err.message, b.data);
        abort();
    }
    if (!kr_value_equal(v, again)) {
        fprintf(stderr, "round trip differs:\n%s\n", b.data);
        abort();
    }
    kr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL;
    if (kr_json_decode(a, (const char *)data, size, &v, NULL) == 0) {
        check(a, v, KR_JSON_COMPACT);
        check(a, v, KR_JSON_PRETTY);
    }
    kr_arena_destroy(&a);
    return 0;
}

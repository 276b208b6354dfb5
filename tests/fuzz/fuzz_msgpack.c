/* libFuzzer: msgpack decode, then encode/decode must give an equal tree;
 * JSON and YAML encoders must accept whatever msgpack decoded. */
#include <kraal/value.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_msgpack_decode(a, data, size, &v, NULL) == 0) {
        kr_buf_t b = KR_BUF_INIT;
        kr_value_t *again = NULL;
        if (kr_msgpack_encode(v, &b, &err) != 0) {
            fprintf(stderr, "re-encode failed: %s\n", err.message);
            abort();
        }
        if (kr_msgpack_decode(a, b.data, b.len, &again, &err) != 0) {
            fprintf(stderr, "re-decode failed: %s\n", err.message);
            abort();
        }
        if (!kr_value_equal(v, again))
            abort();
        /* Only NaN/Inf (and invalid UTF-8 for YAML) may be refused. */
        kr_buf_reset(&b);
        (void)kr_json_encode(v, &b, KR_JSON_PRETTY, &err);
        kr_buf_reset(&b);
        (void)kr_yaml_encode(v, &b, &err);
        kr_buf_free(&b);
    }
    kr_arena_destroy(&a);
    return 0;
}

/* libFuzzer: YAML stream decode; each document must encode and read back
 * equal, and survive msgpack and JSON round trips too. */
#include <kraal/value.h>

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(a, (const char *)data, size, &docs, NULL) == 0) {
        kr_buf_t b = KR_BUF_INIT;
        for (size_t i = 0; i < kr_value_len(docs); i++) {
            const kr_value_t *doc = kr_value_array_get(docs, i);
            kr_value_t *again = NULL;
            kr_buf_reset(&b);
            if (kr_yaml_encode(doc, &b, &err) != 0) {
                fprintf(stderr, "re-encode failed: %s\n", err.message);
                abort();
            }
            if (kr_yaml_decode(a, b.data, b.len, &again, &err) != 0) {
                fprintf(stderr, "re-decode failed: %s\n%s\n", err.message, b.data);
                abort();
            }
            if (kr_value_len(again) != 1 || !kr_value_equal(doc, kr_value_array_get(again, 0))) {
                fprintf(stderr, "round trip differs:\n%s\n", b.data);
                abort();
            }
            kr_buf_reset(&b);
            if (kr_json_encode(doc, &b, 0, &err) != 0 ||
                kr_json_decode(a, b.data, b.len, &again, &err) != 0 ||
                !kr_value_equal(doc, again)) {
                fprintf(stderr, "JSON round trip failed: %s\n", b.data);
                abort();
            }
        }
        kr_buf_free(&b);
    }
    kr_arena_destroy(&a);
    return 0;
}

/* REST gateway protobuf bodies (proto.h): whatever the bytes, decoding
 * stays inside them and either fails with BadRequest/RequestEntityTooLarge
 * or gives a tree that JSON encodes and decodes back to an equal tree (the
 * tree a JSON body would give). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/value.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan sees any read past them. */
    uint8_t *copy = malloc(size == 0 ? 1 : size);
    memcpy(copy, data, size);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL, *again = NULL;
    kr_error_t err;
    int rc = rest_proto_decode(a, copy, size, &v, &err);
    if (rc < 0) {
        if ((rc != -KR_E_BAD_REQUEST && rc != -KR_E_TOO_LARGE) || v != NULL) {
            fprintf(stderr, "unexpected failure %d: %s\n", rc, err.message);
            abort();
        }
    } else {
        kr_buf_t b = KR_BUF_INIT;
        if (v == NULL || kr_json_encode(v, &b, KR_JSON_COMPACT, &err) < 0 ||
            kr_json_decode(a, b.data, b.len, &again, &err) < 0 || !kr_value_equal(v, again)) {
            fprintf(stderr, "decoded tree does not round-trip through JSON: %s\n",
                    b.data ? b.data : err.message);
            abort();
        }
        kr_buf_free(&b);
    }
    kr_arena_destroy(&a);
    free(copy);
    return 0;
}

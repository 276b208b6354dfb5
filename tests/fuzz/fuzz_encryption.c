/* Fuzzes encryption at rest's decoders (core/encryption.c): the first byte
 * picks the EncryptionConfiguration parser (an operator's file) or the
 * opening of a stored value (what the store hands back: the envelope,
 * plaintext, or anything a damaged disk holds) under a config with two
 * aesgcm keys and identity. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "encryption.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config[] = "apiVersion: apiserver.config.k8s.io/v1\n"
                             "kind: EncryptionConfiguration\n"
                             "resources:\n"
                             "  - resources: [secrets]\n"
                             "    providers:\n"
                             "      - aesgcm:\n"
                             "          keys:\n"
                             "            - name: k1\n"
                             "              secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                             "            - name: k2\n"
                             "              secret: MDEyMzQ1Njc4OWFiY2RlZg==\n"
                             "      - identity: {}\n";

static kr_encryption_t *enc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    kr_error_t err;
    if (data[0] & 1) {
        kr_encryption_t *e =
            kr_encryption_parse("fuzz.yaml", (const char *)data + 1, size - 1, &err);
        kr_encryption_destroy(&e);
        return 0;
    }
    if (enc == NULL)
        enc = kr_encryption_parse("fuzz.yaml", config, strlen(config), &err);
    static const char key[] = "core/secrets/default/s";
    kr_buf_t out = KR_BUF_INIT;
    bool stale;
    kr_encryption_open(enc, key, sizeof key - 1, data + 1, size - 1, &out, &stale, &err);
    /* what opens seals again and opens back to the same bytes */
    kr_buf_t sealed = KR_BUF_INIT, again = KR_BUF_INIT;
    if (kr_encryption_seal(enc, key, sizeof key - 1, data + 1, size - 1, &sealed, &err) == 1 &&
        (kr_encryption_open(enc, key, sizeof key - 1, sealed.data, sealed.len, &again, &stale,
                            &err) != 1 ||
         again.len != size - 1 || memcmp(again.data, data + 1, size - 1) != 0))
        __builtin_trap();
    kr_buf_free(&out);
    kr_buf_free(&sealed);
    kr_buf_free(&again);
    return 0;
}

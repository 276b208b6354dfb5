/* The store as the core sees it when encryption at rest is on
 * (docs/secrets.md): a kr_store_ops_t wrapped around the store plugin's
 * that seals the values of covered keys on their way into txn and opens
 * them on their way out of range, history and read.  Every path between
 * the core and the store goes through the vtable, so a Secret's plaintext
 * never reaches the plugin, its files or its write-ahead log. */
#ifndef KRAAL_CORE_STORE_CRYPT_H
#define KRAAL_CORE_STORE_CRYPT_H

#include <kraal/store.h>

#include "encryption.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_store_crypt kr_store_crypt_t;

/* Wraps `ops`/`self` (the plugin's registration) with `enc`, which must
 * outlive the wrapper.  Caller owns the result. */
kr_store_crypt_t *kr_store_crypt_new(const kr_store_ops_t *ops, void *self, kr_encryption_t *enc);
void kr_store_crypt_destroy(kr_store_crypt_t **self_p);

/* The vtable to use instead of the plugin's (read is NULL when the
 * plugin has none), and its `self`: the wrapper.  Owned by the wrapper. */
const kr_store_ops_t *kr_store_crypt_ops(const kr_store_crypt_t *c);

/* Values whose open() said stale (written by a key that is no longer the
 * first) since the wrapper was made: the rotation's evidence. */
uint64_t kr_store_crypt_stale_reads(const kr_store_crypt_t *c);

#ifdef __cplusplus
}
#endif
#endif

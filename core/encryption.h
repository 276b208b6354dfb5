/* Encryption at rest (docs/secrets.md): upstream's EncryptionConfiguration
 * (apiserver.config.k8s.io/v1) and its value transformers.
 *
 * The config lists resources (by default only "secrets"), each with its
 * providers in order: the first one writes, every one reads.  Providers
 * are `aesgcm` (AES-GCM with nettle; keys of 16, 24 or 32 bytes) and
 * `identity` (plaintext); upstream's aescbc, secretbox and kms are refused
 * by name.  A value written by aesgcm is upstream's envelope:
 *
 *   "k8s:enc:aesgcm:v1:" <key name> ":" <12-byte random nonce> <ciphertext> <16-byte tag>
 *
 * with the store key ("core/secrets/<ns>/<name>") as the additional
 * authenticated data, so a value copied to another key does not decrypt.
 *
 * Thread safety: seal and open may run on any threads at once (the
 * committer seals, the loader and the broker's store reads open); the
 * rotation steps replace the keys under a write lock, so a value is sealed
 * entirely with the keys before or after a step, never a mix. */
#ifndef KRAAL_CORE_ENCRYPTION_H
#define KRAAL_CORE_ENCRYPTION_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The envelope's fixed prefix, and the one every encrypted value has. */
#define KR_ENC_AESGCM_PREFIX "k8s:enc:aesgcm:v1:"
#define KR_ENC_PREFIX        "k8s:enc:"
#define KR_ENC_NONCE_SIZE    12
#define KR_ENC_TAG_SIZE      16
/* The size of the key `kraal server` and the rotation generate. */
#define KR_ENC_KEY_SIZE 32

typedef struct kr_encryption kr_encryption_t;

/* Parses an EncryptionConfiguration document (`file` names it in
 * messages, as `file: resources[0].providers[1].aesgcm.keys[0].secret: ...`).
 * The result is written back to `file` by the rotation steps.  NULL with
 * err (KR_E_INVALID) for a config upstream would refuse, and for the
 * providers kraal does not have.  Caller owns the result. */
kr_encryption_t *kr_encryption_parse(const char *file, const char *text, size_t len,
                                     kr_error_t *err);
/* Reads `path`; when it does not exist and `create` is set, first writes a
 * config encrypting Secrets with one new random 32-byte key (named
 * "key-<UTC time>"), then identity, mode 0600.  An existing file readable
 * by group or others is set to 0600 (logged).  Caller owns the result. */
kr_encryption_t *kr_encryption_load(const char *path, bool create, kr_error_t *err);
void kr_encryption_destroy(kr_encryption_t **self_p);

/* Where the config lives (the rotation rewrites it).  Owned by `e`. */
const char *kr_encryption_path(const kr_encryption_t *e);

/* True when values of (group, resource) are transformed at all (a
 * resources entry matches them): "" or "core" for the core group. */
bool kr_encryption_covers(const kr_encryption_t *e, const char *group, const char *resource);

/* To storage: the value of store key `key` (<group>/<plural>/...) as it
 * goes to disk.  Returns 1 with `out` set to the sealed value (out is reset
 * first), 0 when the value is stored as is (not covered, or identity
 * writes), < 0 with err when sealing failed. */
int kr_encryption_seal(kr_encryption_t *e, const char *key, size_t key_len, const void *data,
                       size_t len, kr_buf_t *out, kr_error_t *err);
/* From storage: returns 1 with `out` set to the plaintext, 0 when `data`
 * is plaintext to use as it is, < 0 with err (KR_E_INTERNAL) when no
 * provider of the config can read it: a key not in the config, a value
 * altered on disk or moved to another key, encrypted data where only
 * identity reads.  `stale` (may be NULL) is set when the value was not
 * written by the first provider's first key (a rotation rewrites it). */
int kr_encryption_open(kr_encryption_t *e, const char *key, size_t key_len, const void *data,
                       size_t len, kr_buf_t *out, bool *stale, kr_error_t *err);

/* Key rotation, step 1: a new random key first in every resources entry
 * whose first provider is aesgcm, the others kept after it (they still
 * read), written to the config file (atomically, 0600) and then in force.
 * `name` gets the new key's name.  KR_E_INVALID when no entry writes with
 * aesgcm. */
int kr_encryption_rotate_add(kr_encryption_t *e, char *name, size_t name_size, kr_error_t *err);
/* Step 2, once every covered value has been rewritten with the new key:
 * every aesgcm key but the first of each such entry is dropped, written to
 * the file and in force.  `dropped` counts them (may be NULL). */
int kr_encryption_rotate_drop_old(kr_encryption_t *e, size_t *dropped, kr_error_t *err);

/* The config as YAML (what the file holds), appended to `out`. */
void kr_encryption_format(const kr_encryption_t *e, kr_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif

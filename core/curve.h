/* CURVE on the bus (docs/bus.md "Authentication", docs/auth.md): key pair
 * files, the broker's allow-list of client keys (<data_dir>/bus/clients)
 * and join tokens (`kraal token create` prints one, `kraal agent --token`
 * uses it).  No ZeroMQ socket here: the broker's ZAP handler and the SDK
 * client apply the keys. */
#ifndef KRAAL_CORE_CURVE_H
#define KRAAL_CORE_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_CURVE_KEY_LEN 40 /* Z85 text of a 32-byte key */

/* The user id ZAP gives a CURVE client whose key is not in the allow-list
 * is this prefix and its key: it may send `node.join` and nothing else. */
#define KR_CURVE_UNJOINED_PREFIX "system:kraal:unjoined:"

/* The group of remote plugins (`kraal plugin-host --token`): trusted as
 * in-process plugins are, so their own `auth` stands (a remote REST
 * gateway forwards its users so). */
#define KR_CURVE_PLUGINS_GROUP "system:kraal-plugins"

typedef struct kr_curve_keypair {
    char public_key[KR_CURVE_KEY_LEN + 1];
    char secret_key[KR_CURVE_KEY_LEN + 1];
} kr_curve_keypair_t;

/* Reads a key pair file ("public <z85>\nsecret <z85>\n").  When the file
 * does not exist and `create` is set, makes a new pair and writes it mode
 * 0600 (its directory is made 0700).  A file readable by others is set to
 * 0600 with a warning. */
int kr_curve_keypair_load(const char *path, bool create, kr_curve_keypair_t *kp, kr_error_t *err);

/* True when `s` is exactly 40 characters of Z85 (a 32-byte key). */
bool kr_curve_key_valid(const char *s);

/* Reads/writes a file holding one public key (the server's, kept by an
 * agent after it joined).  Written mode 0600. */
int kr_curve_pubkey_read(const char *path, char key[KR_CURVE_KEY_LEN + 1], kr_error_t *err);
int kr_curve_pubkey_write(const char *path, const char *key, kr_error_t *err);

/* ---- the allow-list ----------------------------------------------------
 *
 * One client a line: `<z85 public key> <identity> [group,group...]`;
 * blank lines and lines starting with '#' are ignored.  Not thread-safe:
 * the broker thread owns it. */
typedef struct kr_curve_client {
    char key[KR_CURVE_KEY_LEN + 1];
    char *identity;
    char **groups; /* NULL-terminated */
} kr_curve_client_t;

typedef struct kr_curve_clients kr_curve_clients_t;

/* Loads `path` (a missing file is an empty list, written on the first
 * add).  NULL with err on a malformed line (file:line: ...).  Caller owns
 * the list. */
kr_curve_clients_t *kr_curve_clients_load(const char *path, kr_error_t *err);
void kr_curve_clients_destroy(kr_curve_clients_t **self_p);
size_t kr_curve_clients_count(const kr_curve_clients_t *c);
/* By public key / by identity; NULL when absent.  Valid until the next
 * add. */
const kr_curve_client_t *kr_curve_clients_find(const kr_curve_clients_t *c, const char *key);
const kr_curve_client_t *kr_curve_clients_find_identity(const kr_curve_clients_t *c,
                                                        const char *identity);
/* Adds `key` as `identity` with `groups` (NULL-terminated), replacing any
 * entry with the same key or the same identity (a node that made a new key
 * pair loses its old one), and rewrites the file atomically (mode 0600). */
int kr_curve_clients_add(kr_curve_clients_t *c, const char *key, const char *identity,
                         const char *const *groups, kr_error_t *err);

/* Removes the key of `identity` and rewrites the file; KR_E_NOT_FOUND when
 * there is none. */
int kr_curve_clients_remove(kr_curve_clients_t *c, const char *identity, kr_error_t *err);

/* ---- join tokens -------------------------------------------------------
 *
 * `<token-id>.<token-secret>@<server public key as 64 hex digits>`: the
 * bootstrap token as upstream writes it ([a-z0-9]{6}.[a-z0-9]{16}) and the
 * key the agent must find at the server, in shell-safe characters (Z85
 * has '&', '$', '<' ...). */
#define KR_JOIN_TOKEN_MAX 96

typedef struct kr_join_token {
    char id[7];
    char secret[17];
    char server_key[KR_CURVE_KEY_LEN + 1]; /* Z85 */
} kr_join_token_t;

/* Random id and secret ([a-z0-9], getrandom), server_key copied. */
int kr_join_token_new(kr_join_token_t *t, const char *server_key, kr_error_t *err);
/* KR_E_INVALID saying what is wrong (never echoes the secret). */
int kr_join_token_parse(const char *s, kr_join_token_t *t, kr_error_t *err);
void kr_join_token_format(const kr_join_token_t *t, char out[KR_JOIN_TOKEN_MAX]);

#ifdef __cplusplus
}
#endif
#endif

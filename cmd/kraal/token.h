/* `kraal token create` and the join that `kraal agent --token` and
 * `kraal plugin-host --token` do before their plugins connect (token.c,
 * docs/bus.md "Joining"). */
#ifndef KRAAL_CMD_TOKEN_H
#define KRAAL_CMD_TOKEN_H

/* argv[0] is "token"; returns the exit status (0, 1 failure, 2 usage). */
int kraal_cmd_token(int argc, char **argv);

/* Sets up CURVE for this process's tcp connections to `server` and, with a
 * join token, joins: our key pair is <data_dir>/bus/client.key (made on
 * the first run, reused after), the server's key comes from the token and
 * is kept in <data_dir>/bus/server.pub for the next start, which then
 * needs no token.  `node` (an agent) or `plugin` (a plugin host) names
 * the identity asked for.  Nothing to do for ipc:// servers, nor for a
 * tcp one without a token or a kept server key (a plain-tcp loopback bus).
 * 0, or -1 after logging why. */
int kraal_bus_join(const char *server, const char *token, const char *data_dir, const char *node,
                   const char *plugin);

#endif

/* `kraal secrets` (secrets.c). */
#ifndef KRAAL_CMD_SECRETS_H
#define KRAAL_CMD_SECRETS_H

/* argv[0] is "secrets"; returns the exit status (0, 1 failure, 2 usage). */
int kraal_cmd_secrets(int argc, char **argv);

#endif

/* `kraal image` (image.c). */
#ifndef KRAAL_CMD_IMAGE_H
#define KRAAL_CMD_IMAGE_H

/* argv[0] is "image"; returns the exit status (0, 1 failure, 2 usage). */
int kraal_cmd_image(int argc, char **argv);

#endif

/* builtin_apps.c: being written (issue 3). */

/* builtin_core.c: being written (issue 3). */

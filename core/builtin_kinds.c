/* builtin_kinds.c: being written (issue 3). */

/* registry.c: being written (issue 3). */

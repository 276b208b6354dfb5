/* validation.c: being written (issue 3). */

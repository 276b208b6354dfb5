/* commit.c: being written (issue 3). */

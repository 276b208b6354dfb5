/* api.c: being written (issue 3). */

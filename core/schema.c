/* schema.c: being written (issue 3). */

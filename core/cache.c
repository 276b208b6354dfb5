/* cache.c: being written (issue 3). */

/* watch.c: being written (issue 3). */

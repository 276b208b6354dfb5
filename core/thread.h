/* Threads of the core and of plugin instances. */
#ifndef KRAAL_CORE_THREAD_H
#define KRAAL_CORE_THREAD_H

#include <pthread.h>

/* pthread_create with every asynchronous signal blocked in the new thread
 * (faults stay deliverable): signals meant for the process — SIGTERM to
 * the server — must only reach the thread that waits for them, whatever
 * the caller's mask is.  Returns pthread_create's result. */
int kr_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif

/* Event loop: timer order, cancels from callbacks, fd callbacks, stop from
 * another thread, thousands of timers and fds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <kraal/loop.h>

typedef struct order {
    int seq[16];
    int n;
} order_t;

static order_t g_order;

static void record(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    g_order.seq[g_order.n++] = (int)(intptr_t)ud;
}

static void run_for(kr_loop_t *loop, uint64_t ms)
{
    uint64_t end = kr_time_ms() + ms;
    while (kr_time_ms() < end)
        assert_true(kr_loop_run_once(loop, 5, NULL) >= 0);
}

static void test_timer_order(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    assert_non_null(loop);
    g_order.n = 0;
    kr_loop_add_timer(loop, 60, 0, record, (void *)3);
    kr_loop_add_timer(loop, 10, 0, record, (void *)1);
    kr_loop_add_timer(loop, 30, 0, record, (void *)2);
    kr_loop_add_timer(loop, 30, 0, record, (void *)22); /* same deadline: creation order */
    run_for(loop, 120);
    assert_int_equal(g_order.n, 4);
    assert_int_equal(g_order.seq[0], 1);
    assert_int_equal(g_order.seq[1], 2);
    assert_int_equal(g_order.seq[2], 22);
    assert_int_equal(g_order.seq[3], 3);
    kr_loop_destroy(&loop);
    assert_null(loop);
}

static uint64_t victim_id;
static int victim_fired, repeat_fired;

static void victim(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    (void)ud;
    victim_fired++;
}

static void killer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    assert_true(kr_loop_cancel_timer(loop, victim_id));
}

static void self_cancel(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)ud;
    repeat_fired++;
    if (repeat_fired == 3)
        assert_true(kr_loop_cancel_timer(loop, id));
}

static void test_cancel_in_callback(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    victim_fired = repeat_fired = 0;
    /* both due in the same iteration: the earlier one cancels the later */
    kr_loop_add_timer(loop, 5, 0, killer, NULL);
    victim_id = kr_loop_add_timer(loop, 6, 0, victim, NULL);
    kr_loop_add_timer(loop, 1, 5, self_cancel, NULL);
    usleep(20 * 1000);
    run_for(loop, 100);
    assert_int_equal(victim_fired, 0);
    assert_int_equal(repeat_fired, 3);
    assert_false(kr_loop_cancel_timer(loop, victim_id));
    kr_loop_destroy(&loop);
}

typedef struct fdctx {
    int reads;
    int other_fd;
    char got;
} fdctx_t;

static fdctx_t fdc[2];

static void on_read(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    fdctx_t *c = ud;
    assert_true(events & KR_LOOP_READ);
    char ch;
    assert_int_equal(read(fd, &ch, 1), 1);
    c->got = ch;
    c->reads++;
    /* removing another fd that is also ready must keep its callback from
     * running in this iteration; removing our own fd is also allowed */
    kr_loop_remove_fd(loop, c->other_fd);
    kr_loop_remove_fd(loop, fd);
}

static void test_fd_callbacks(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    fdc[0] = (fdctx_t){.other_fd = b[0]};
    fdc[1] = (fdctx_t){.other_fd = a[0]};
    assert_int_equal(kr_loop_add_fd(loop, a[0], KR_LOOP_READ, on_read, &fdc[0], NULL), 0);
    assert_int_equal(kr_loop_add_fd(loop, b[0], KR_LOOP_READ, on_read, &fdc[1], NULL), 0);
    kr_error_t err;
    assert_true(kr_loop_add_fd(loop, a[0], KR_LOOP_READ, on_read, NULL, &err) < 0);
    assert_int_equal(err.reason, KR_E_ALREADY_EXISTS);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    run_for(loop, 30);
    assert_int_equal(fdc[0].reads + fdc[1].reads, 1);
    /* re-adding works after removal */
    int idx = fdc[0].reads ? 1 : 0;
    int fd = idx ? b[0] : a[0];
    fdc[idx].other_fd = -1;
    assert_int_equal(kr_loop_add_fd(loop, fd, KR_LOOP_READ, on_read, &fdc[idx], NULL), 0);
    run_for(loop, 30);
    assert_int_equal(fdc[idx].reads, 1);
    assert_int_equal(fdc[idx].got, idx ? 'y' : 'x');
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    kr_loop_destroy(&loop);
}

static void *stopper(void *arg)
{
    usleep(50 * 1000);
    kr_loop_stop(arg);
    return NULL;
}

static void test_stop_from_thread(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    pthread_t th;
    uint64_t t0 = kr_time_ms();
    pthread_create(&th, NULL, stopper, loop);
    assert_int_equal(kr_loop_run(loop, NULL), 0); /* nothing to wait for but the stop */
    uint64_t took = kr_time_ms() - t0;
    pthread_join(th, NULL);
    assert_true(kr_loop_stopped(loop));
    assert_true(took >= 40 && took < 2000);
    kr_loop_destroy(&loop);
}

static int many_fired, many_early;
static uint64_t due[20000];

static void many(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)id;
    /* never before its deadline */
    if (kr_time_ms() < due[(uintptr_t)ud])
        many_early++;
    many_fired++;
    if (many_fired == 10000)
        kr_loop_stop(loop);
}

static void test_many_timers(void **state)
{
    (void)state;
    kr_loop_t *loop = kr_loop_new(NULL);
    uint64_t ids[20000];
    many_fired = many_early = 0;
    srand(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t d = (uint64_t)(rand() % 200);
        due[i] = kr_time_ms() + d;
        ids[i] = kr_loop_add_timer(loop, d, 0, many, (void *)(uintptr_t)i);
    }
    /* cancel every other one: exactly the other 10000 fire */
    for (int i = 0; i < 20000; i += 2)
        assert_true(kr_loop_cancel_timer(loop, ids[i]));
    assert_int_equal(kr_loop_run(loop, NULL), 0);
    assert_int_equal(many_fired, 10000);
    assert_int_equal(many_early, 0);
    kr_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),  cmocka_unit_test(test_cancel_in_callback),
        cmocka_unit_test(test_fd_callbacks), cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_many_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

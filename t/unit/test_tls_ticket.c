#include "weir_config.h"
#include "event/tls.h"

#include <check.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/shm.h"
#include "event/tls-t.h"

/*
 * The session ticket key ring in shm (event/tls_ticket.c): a period's
 * key is made once and then the same for every process, the next period
 * gets another, a key is forgotten when its slot is reused, and a
 * process killed while holding the ring's mutex blocks nobody.
 * (Resumption across real workers: t/tls_sni.t.)
 */

static weir_shm_t *shm;

static void
setup(void)
{
    char err[256];

    shm = weir_shm_create(1024 * 1024, err, sizeof(err));
    ck_assert_msg(shm != NULL, "%s", err);
    ck_assert_int_eq(weir_tls_tickets_attach(shm, err, sizeof(err)),
                     WEIR_OK);
}

static void
teardown(void)
{
    weir_shm_destroy(shm);
}

START_TEST(periods)
{
    ck_assert_uint_eq(weir_tls_ticket_period(0), 1);
    ck_assert_uint_eq(weir_tls_ticket_period(WEIR_TLS_TICKET_ROTATE_SEC - 1),
                      1);
    ck_assert_uint_eq(weir_tls_ticket_period(WEIR_TLS_TICKET_ROTATE_SEC), 2);
}
END_TEST

START_TEST(rotation)
{
    weir_tls_ticket_key_t a, again, b, c;

    ck_assert_int_eq(weir_tls_ticket_key(10, 0, &a), WEIR_DECLINED);
    ck_assert_int_eq(weir_tls_ticket_key(10, 1, &a), WEIR_OK);
    ck_assert_int_eq(weir_tls_ticket_key(10, 0, &again), WEIR_OK);
    ck_assert_mem_eq(&a, &again, sizeof(a));
    ck_assert_int_eq(weir_tls_ticket_key(11, 1, &b), WEIR_OK);
    ck_assert(memcmp(a.name, b.name, sizeof(a.name)) != 0);
    ck_assert(memcmp(a.aes, b.aes, sizeof(a.aes)) != 0);
    /* the previous period's key still decrypts */
    ck_assert_int_eq(weir_tls_ticket_key(10, 0, &again), WEIR_OK);
    ck_assert_mem_eq(&a, &again, sizeof(a));
    /* four periods on, its slot is reused: the key is gone for good */
    ck_assert_int_eq(weir_tls_ticket_key(14, 1, &c), WEIR_OK);
    ck_assert_int_eq(weir_tls_ticket_key(10, 0, &again), WEIR_DECLINED);
    ck_assert_int_eq(weir_tls_ticket_key(0, 1, &again), WEIR_ERROR);
}
END_TEST

/* A key one process makes is the key every other process reads. */
START_TEST(shared)
{
    weir_tls_ticket_key_t mine, theirs;
    pid_t                 pid;
    int                   st;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(weir_tls_ticket_key(30, 1, &theirs) == WEIR_OK ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(weir_tls_ticket_key(30, 0, &mine), WEIR_OK);
    ck_assert_int_eq(weir_tls_ticket_key(30, 1, &theirs), WEIR_OK);
    ck_assert_mem_eq(&mine, &theirs, sizeof(mine));
}
END_TEST

/* A worker killed holding the ring's mutex: the next one gets the lock
 * (robust mutex) and makes its key. */
START_TEST(dead_owner)
{
    weir_tls_ticket_key_t k;
    pid_t                 pid;
    int                   st;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        weir_shm_lock(weir_tls_ticket_mutex());
        _exit(0);           /* dies holding it */
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(weir_tls_ticket_key(40, 1, &k), WEIR_OK);
    ck_assert_int_eq(weir_tls_ticket_key(41, 1, &k), WEIR_OK);
}
END_TEST

static Suite *
tls_ticket_suite(void)
{
    Suite *s = suite_create("tls_ticket");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, periods);
    tcase_add_test(tc, rotation);
    tcase_add_test(tc, shared);
    tcase_add_test(tc, dead_owner);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(tls_ticket_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

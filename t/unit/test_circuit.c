
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_circuit.h"


#define CLOSED     NGX_ASTRO_CIRCUIT_CLOSED
#define OPEN       NGX_ASTRO_CIRCUIT_OPEN
#define HALF_OPEN  NGX_ASTRO_CIRCUIT_HALF_OPEN


/* the tier balancer's kind: failures in a row or an error rate, 2 probes */

static const ngx_astro_circuit_conf_t  tier = {
    3,          /* failures */
    50,         /* error_rate */
    10,         /* min_requests */
    1000,       /* window */
    100,        /* open */
    350,        /* max_open */
    2,          /* probes */
    0           /* probe_timeout: the open time */
};

/* the Redis client's kind: failures in a row, one probe with a timeout */

static const ngx_astro_circuit_conf_t  redis = {
    3, 0, 0, 0, 1500, 30000, 1, 250
};


static ngx_astro_circuit_event_t  ev;


static int
allow(const ngx_astro_circuit_conf_t *c, ngx_astro_circuit_t *st,
    uintptr_t now, unsigned *probe)
{
    return ngx_astro_circuit_allow(c, st, now, probe, &ev);
}


static void
failed(const ngx_astro_circuit_conf_t *c, ngx_astro_circuit_t *st,
    uintptr_t now, uintptr_t n, unsigned probe)
{
    ngx_astro_circuit_failure(c, st, now, n, probe, &ev);
}


static void
succeeded(const ngx_astro_circuit_conf_t *c, ngx_astro_circuit_t *st,
    uintptr_t now, unsigned probe)
{
    ngx_astro_circuit_success(c, st, now, probe, &ev);
}


/* opens the tier circuit at "now" with three failures in a row */

static void
open_tier(ngx_astro_circuit_t *st, uintptr_t now)
{
    failed(&tier, st, now, 1, 0);
    failed(&tier, st, now, 1, 0);
    failed(&tier, st, now, 1, 0);
    assert_int_equal(st->state, OPEN);
}


static void
test_closed_lets_all_through(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    assert_int_equal(allow(&tier, &st, 5, &probe), 1);
    assert_int_equal(probe, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, 5), 0);
    assert_string_equal(ngx_astro_circuit_name(st.state), "closed");
}


static void
test_opens_on_failures_in_a_row(void **state)
{
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    failed(&tier, &st, 10, 1, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    failed(&tier, &st, 11, 1, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.consecutive, 2);
    assert_int_equal(st.state, CLOSED);

    failed(&tier, &st, 12, 1, 0);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_OPENED);
    assert_int_equal(ev.reason, NGX_ASTRO_CIRCUIT_FAILURES);
    assert_int_equal(ev.failures, 3);
    assert_int_equal(ev.open_for, 100);
    assert_int_equal(st.until, 112);
    assert_int_equal(st.opened, 1);
    assert_string_equal(ngx_astro_circuit_name(st.state), "open");
}


static void
test_success_breaks_the_row(void **state)
{
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    failed(&redis, &st, 0, 1, 0);
    failed(&redis, &st, 0, 1, 0);
    assert_int_equal(ngx_astro_circuit_success_changes(&redis, &st, 0), 1);
    succeeded(&redis, &st, 0, 0);
    assert_int_equal(st.consecutive, 0);
    assert_int_equal(ngx_astro_circuit_success_changes(&redis, &st, 0), 0);

    failed(&redis, &st, 0, 1, 0);
    failed(&redis, &st, 0, 1, 0);
    assert_int_equal(st.state, CLOSED);
    failed(&redis, &st, 0, 1, 0);
    assert_int_equal(st.state, OPEN);
}


static void
test_failures_of_a_batch(void **state)
{
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    /* a batch of 5 commands failed at once: more than "failures" */

    failed(&redis, &st, 7, 5, 0);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_OPENED);
    assert_int_equal(ev.failures, 5);
    assert_int_equal(st.until, 1507);
}


static void
test_opens_on_error_rate(void **state)
{
    int                  i;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    /* 4 of 9 failed, never 3 in a row: fewer than min_requests */

    for (i = 0; i < 4; i++) {
        succeeded(&tier, &st, 100, 0);
        failed(&tier, &st, 100, 1, 0);
    }

    succeeded(&tier, &st, 100, 0);
    assert_int_equal(st.requests, 9);
    assert_int_equal(st.state, CLOSED);

    /* the 10th request, a failure: 5 of 10, 50% */

    failed(&tier, &st, 100, 1, 0);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_OPENED);
    assert_int_equal(ev.reason, NGX_ASTRO_CIRCUIT_ERROR_RATE);
    assert_int_equal(ev.failures, 5);
    assert_int_equal(ev.requests, 10);
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.failures, 0);
}


static void
test_error_rate_below_stays_closed(void **state)
{
    int                  i;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    /* 4 of 10: 40% < 50% */

    for (i = 0; i < 6; i++) {
        succeeded(&tier, &st, 100, 0);
    }

    for (i = 0; i < 4; i++) {
        failed(&tier, &st, 100, 1, 0);
        succeeded(&tier, &st, 100, 0);
        assert_int_equal(st.state, CLOSED);
    }
}


static void
test_error_rate_window_rolls(void **state)
{
    int                  i;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    for (i = 0; i < 4; i++) {
        failed(&tier, &st, 100, 1, 0);
        succeeded(&tier, &st, 100, 0);
    }

    assert_int_equal(st.requests, 8);

    /* a window later: the counts start again */

    failed(&tier, &st, 1100, 1, 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.window_start, 1100);

    succeeded(&tier, &st, 1100, 0);
    failed(&tier, &st, 1101, 1, 0);
    assert_int_equal(st.state, CLOSED);
}


static void
test_error_rate_off(void **state)
{
    int                  i;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    /* the Redis kind: every other one failing never opens it */

    for (i = 0; i < 100; i++) {
        failed(&redis, &st, i, 1, 0);
        succeeded(&redis, &st, i, 0);
    }

    assert_int_equal(st.state, CLOSED);
}


static void
test_open_refuses_until_its_time(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    open_tier(&st, 1000);

    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, 1000), 1);
    assert_int_equal(allow(&tier, &st, 1000, &probe), 0);
    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, 1099), 1);
    assert_int_equal(allow(&tier, &st, 1099, &probe), 0);
    assert_int_equal(probe, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.state, OPEN);

    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, 1100), 0);
}


static void
test_half_open_lets_probes_through(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    open_tier(&st, 1000);

    assert_int_equal(allow(&tier, &st, 1100, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_HALF_OPENED);
    assert_int_equal(ev.open_for, 100);
    assert_int_equal(st.state, HALF_OPEN);
    assert_string_equal(ngx_astro_circuit_name(st.state), "half_open");

    assert_int_equal(allow(&tier, &st, 1101, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.probes, 2);

    /* both places taken */

    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, 1102), 1);
    assert_int_equal(allow(&tier, &st, 1102, &probe), 0);
    assert_int_equal(probe, 0);
}


static void
test_probe_success_closes(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    open_tier(&st, 1000);

    assert_int_equal(allow(&tier, &st, 1100, &probe), 1);
    assert_int_equal(ngx_astro_circuit_success_changes(&tier, &st, probe), 1);
    succeeded(&tier, &st, 1150, probe);

    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_CLOSED_AGAIN);
    assert_int_equal(st.state, CLOSED);
    assert_int_equal(st.probes, 0);
    assert_int_equal(st.open_for, 100);
    assert_int_equal(st.consecutive, 0);
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.window_start, 1150);
    assert_int_equal(st.opened, 1);

    assert_int_equal(allow(&tier, &st, 1151, &probe), 1);
    assert_int_equal(probe, 0);
}


static void
test_probe_failure_doubles_the_open_time(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    open_tier(&st, 1000);

    /* 100, then 200, then 350 (max_open), then 350 */

    assert_int_equal(allow(&tier, &st, 1100, &probe), 1);
    failed(&tier, &st, 1110, 1, probe);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_OPENED);
    assert_int_equal(ev.reason, NGX_ASTRO_CIRCUIT_PROBE);
    assert_int_equal(ev.open_for, 200);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(st.until, 1310);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.probes, 0);

    assert_int_equal(allow(&tier, &st, 1309, &probe), 0);
    assert_int_equal(allow(&tier, &st, 1310, &probe), 1);
    failed(&tier, &st, 1310, 1, probe);
    assert_int_equal(ev.open_for, 350);
    assert_int_equal(st.until, 1660);

    assert_int_equal(allow(&tier, &st, 1660, &probe), 1);
    failed(&tier, &st, 1660, 1, probe);
    assert_int_equal(ev.open_for, 350);
    assert_int_equal(st.opened, 4);

    /* a success closes it and the next opening is short again */

    assert_int_equal(allow(&tier, &st, 2010, &probe), 1);
    succeeded(&tier, &st, 2010, probe);
    assert_int_equal(st.state, CLOSED);

    open_tier(&st, 3000);
    assert_int_equal(ev.open_for, 100);
    assert_int_equal(st.until, 3100);
}


static void
test_late_answers_change_nothing(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    open_tier(&st, 1000);
    assert_int_equal(st.consecutive, 0);

    /* requests let through before it opened answer now */

    assert_int_equal(ngx_astro_circuit_success_changes(&tier, &st, 0), 0);
    succeeded(&tier, &st, 1010, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(ngx_astro_circuit_failure_changes(&st, 0), 0);
    failed(&tier, &st, 1020, 1, 0);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(st.until, 1100);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.consecutive, 0);

    /* and while half-open: only the probes decide */

    assert_int_equal(allow(&tier, &st, 1100, &probe), 1);
    failed(&tier, &st, 1101, 1, 0);
    succeeded(&tier, &st, 1101, 0);
    failed(&tier, &st, 1101, 1, 0);
    assert_int_equal(st.state, HALF_OPEN);
    assert_int_equal(st.probes, 1);
    assert_int_equal(st.consecutive, 0);

    /* a probe answering after another one closed it */

    assert_int_equal(allow(&tier, &st, 1102, &probe), 1);
    succeeded(&tier, &st, 1103, 1);
    assert_int_equal(st.state, CLOSED);
    assert_int_equal(ngx_astro_circuit_failure_changes(&st, 1), 1);
    failed(&tier, &st, 1104, 1, 1);
    assert_int_equal(ev.event, NGX_ASTRO_CIRCUIT_NO_CHANGE);
    assert_int_equal(st.state, CLOSED);
    assert_int_equal(st.probes, 0);
    assert_int_equal(st.consecutive, 0);

    /* the next failures in a row start from none */

    failed(&tier, &st, 1105, 1, 0);
    failed(&tier, &st, 1105, 1, 0);
    assert_int_equal(st.consecutive, 2);
    assert_int_equal(st.state, CLOSED);
}


static void
test_probe_abandoned(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    failed(&redis, &st, 0, 3, 0);

    assert_int_equal(allow(&redis, &st, 1500, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(allow(&redis, &st, 1501, &probe), 0);

    /* not sent: the next request probes */

    ngx_astro_circuit_abandon(&st);
    assert_int_equal(st.state, HALF_OPEN);
    assert_int_equal(st.probes, 0);
    assert_int_equal(ngx_astro_circuit_refuses(&redis, &st, 1502), 0);
    assert_int_equal(allow(&redis, &st, 1502, &probe), 1);
    assert_int_equal(probe, 1);

    ngx_astro_circuit_abandon(&st);
    ngx_astro_circuit_abandon(&st);
    assert_int_equal(st.probes, 0);
}


static void
test_probe_timeout(void **state)
{
    unsigned             probe;
    ngx_astro_circuit_t  st;

    (void) state;

    /* the Redis kind: 250 ms */

    memset(&st, 0, sizeof(st));
    failed(&redis, &st, 0, 3, 0);

    assert_int_equal(allow(&redis, &st, 1500, &probe), 1);
    assert_int_equal(ngx_astro_circuit_refuses(&redis, &st, 1749), 1);
    assert_int_equal(allow(&redis, &st, 1749, &probe), 0);
    assert_int_equal(ngx_astro_circuit_refuses(&redis, &st, 1750), 0);
    assert_int_equal(allow(&redis, &st, 1750, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(st.probes, 1);
    assert_int_equal(st.probe_at, 1750);

    /* the tier kind: the open time */

    memset(&st, 0, sizeof(st));
    open_tier(&st, 0);

    assert_int_equal(allow(&tier, &st, 100, &probe), 1);
    assert_int_equal(allow(&tier, &st, 150, &probe), 1);
    assert_int_equal(allow(&tier, &st, 249, &probe), 0);

    /* the last probe began at 150: both places come back at 250 */

    assert_int_equal(allow(&tier, &st, 250, &probe), 1);
    assert_int_equal(st.probes, 1);
    assert_int_equal(allow(&tier, &st, 250, &probe), 1);
    assert_int_equal(allow(&tier, &st, 250, &probe), 0);
}


static void
test_clock_wraps(void **state)
{
    unsigned             probe;
    uintptr_t            now;
    ngx_astro_circuit_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    now = UINTPTR_MAX - 50;
    st.window_start = now;
    open_tier(&st, now);
    assert_int_equal(st.until, 49);

    assert_int_equal(allow(&tier, &st, now + 99, &probe), 0);
    assert_int_equal(ngx_astro_circuit_refuses(&tier, &st, now + 99), 1);
    assert_int_equal(allow(&tier, &st, now + 100, &probe), 1);
    assert_int_equal(probe, 1);
}


static void
test_failures_off(void **state)
{
    int                       i;
    ngx_astro_circuit_t       st;
    ngx_astro_circuit_conf_t  c;

    (void) state;

    /* only the error rate: 20 in a row with min_requests 30 */

    c = tier;
    c.failures = 0;
    c.min_requests = 30;

    memset(&st, 0, sizeof(st));

    for (i = 0; i < 29; i++) {
        failed(&c, &st, 0, 1, 0);
    }

    assert_int_equal(st.state, CLOSED);
    assert_int_equal(st.consecutive, 29);

    failed(&c, &st, 0, 1, 0);
    assert_int_equal(st.state, OPEN);
    assert_int_equal(ev.reason, NGX_ASTRO_CIRCUIT_ERROR_RATE);
}


static void
test_names(void **state)
{
    (void) state;

    assert_string_equal(ngx_astro_circuit_name(CLOSED), "closed");
    assert_string_equal(ngx_astro_circuit_name(OPEN), "open");
    assert_string_equal(ngx_astro_circuit_name(HALF_OPEN), "half_open");
    assert_string_equal(ngx_astro_circuit_name(3), "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_closed_lets_all_through),
        cmocka_unit_test(test_opens_on_failures_in_a_row),
        cmocka_unit_test(test_success_breaks_the_row),
        cmocka_unit_test(test_failures_of_a_batch),
        cmocka_unit_test(test_opens_on_error_rate),
        cmocka_unit_test(test_error_rate_below_stays_closed),
        cmocka_unit_test(test_error_rate_window_rolls),
        cmocka_unit_test(test_error_rate_off),
        cmocka_unit_test(test_open_refuses_until_its_time),
        cmocka_unit_test(test_half_open_lets_probes_through),
        cmocka_unit_test(test_probe_success_closes),
        cmocka_unit_test(test_probe_failure_doubles_the_open_time),
        cmocka_unit_test(test_late_answers_change_nothing),
        cmocka_unit_test(test_probe_abandoned),
        cmocka_unit_test(test_probe_timeout),
        cmocka_unit_test(test_clock_wraps),
        cmocka_unit_test(test_failures_off),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

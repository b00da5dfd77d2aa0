
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_health_eval.h"


#define H  NGX_ASTRO_HEALTHY
#define D  NGX_ASTRO_DEGRADED
#define C  NGX_ASTRO_CRITICAL


/* the defaults of the original backend */

static const ngx_astro_health_figures_t  degraded = {
    70, 75, 20, 2000
};

static const ngx_astro_health_figures_t  critical = {
    90, 90, 50, NGX_ASTRO_LIMIT_OFF
};


static unsigned
classify(double cpu, double memory, double error_rate, double latency)
{
    ngx_astro_health_figures_t  f;

    f.cpu = cpu;
    f.memory = memory;
    f.error_rate = error_rate;
    f.latency = latency;

    return ngx_astro_health_classify(&f, &degraded, &critical);
}


static void
test_classify_healthy(void **state)
{
    (void) state;

    assert_int_equal(classify(0, 0, 0, 0), H);
    assert_int_equal(classify(50, 50, 5, 100), H);
}


static void
test_classify_degraded(void **state)
{
    (void) state;

    assert_int_equal(classify(70.01, 0, 0, 0), D);
    assert_int_equal(classify(71, 0, 0, 0), D);
    assert_int_equal(classify(0, 76, 0, 0), D);
    assert_int_equal(classify(0, 0, 21, 0), D);
    assert_int_equal(classify(0, 0, 0, 2001), D);
    assert_int_equal(classify(90, 90, 50, 0), D);

    /* no critical latency: any latency is at most degraded */
    assert_int_equal(classify(0, 0, 0, 1e9), D);
}


static void
test_classify_critical(void **state)
{
    (void) state;

    assert_int_equal(classify(90.5, 0, 0, 0), C);
    assert_int_equal(classify(100, 0, 0, 0), C);
    assert_int_equal(classify(0, 91, 0, 0), C);
    assert_int_equal(classify(0, 0, 51, 0), C);
    assert_int_equal(classify(95, 95, 95, 5000), C);

    /* one critical figure is enough */
    assert_int_equal(classify(10, 10, 60, 10), C);
}


static void
test_classify_strict(void **state)
{
    (void) state;

    /* equal to a limit does not exceed it */
    assert_int_equal(classify(70, 0, 0, 0), H);
    assert_int_equal(classify(0, 75, 0, 0), H);
    assert_int_equal(classify(0, 0, 20, 0), H);
    assert_int_equal(classify(0, 0, 0, 2000), H);
    assert_int_equal(classify(70, 75, 20, 2000), H);

    assert_int_equal(classify(90, 0, 0, 0), D);
    assert_int_equal(classify(0, 90, 0, 0), D);
    assert_int_equal(classify(0, 0, 50, 0), D);
}


static void
test_exceeds_bits(void **state)
{
    ngx_astro_health_figures_t  f;

    (void) state;

    f.cpu = 71;
    f.memory = 0;
    f.error_rate = 0;
    f.latency = 0;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 1);

    f.cpu = 0;
    f.memory = 76;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 2);

    f.memory = 0;
    f.error_rate = 21;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 4);

    f.error_rate = 0;
    f.latency = 2001;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 8);

    f.cpu = 100;
    f.memory = 100;
    f.error_rate = 100;
    f.latency = 1e6;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 15);
    assert_int_equal(ngx_astro_health_exceeds(&f, &critical), 7);

    f.cpu = 70;
    f.memory = 75;
    f.error_rate = 20;
    f.latency = 2000;
    assert_int_equal(ngx_astro_health_exceeds(&f, &degraded), 0);
}


static void
test_limit_off(void **state)
{
    ngx_astro_health_figures_t  f, off;

    (void) state;

    off.cpu = NGX_ASTRO_LIMIT_OFF;
    off.memory = NGX_ASTRO_LIMIT_OFF;
    off.error_rate = NGX_ASTRO_LIMIT_OFF;
    off.latency = NGX_ASTRO_LIMIT_OFF;

    f.cpu = 100;
    f.memory = 100;
    f.error_rate = 100;
    f.latency = 1e9;

    assert_int_equal(ngx_astro_health_exceeds(&f, &off), 0);
    assert_int_equal(ngx_astro_health_classify(&f, &off, &off), H);

    /* only cpu off */
    off.memory = 75;
    assert_int_equal(ngx_astro_health_exceeds(&f, &off), 2);
    assert_int_equal(ngx_astro_health_classify(&f, &off, &critical), C);

    /* a limit of 0 is a limit: any positive figure exceeds it */
    off.cpu = 0;
    f.cpu = 0.001;
    f.memory = 0;
    assert_int_equal(ngx_astro_health_exceeds(&f, &off), 1);

    f.cpu = 0;
    assert_int_equal(ngx_astro_health_exceeds(&f, &off), 0);
}


static void
test_name(void **state)
{
    (void) state;

    assert_string_equal(ngx_astro_health_name(H), "healthy");
    assert_string_equal(ngx_astro_health_name(D), "degraded");
    assert_string_equal(ngx_astro_health_name(C), "critical");
    assert_string_equal(ngx_astro_health_name(3), "unknown");
    assert_string_equal(ngx_astro_health_name(~0u), "unknown");
}


/* hysteresis */

static void
test_step_worse_at_once(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, H);

    assert_int_equal(ngx_astro_health_step(&st, D, 3), 1);
    assert_int_equal(st.status, D);

    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);
    assert_int_equal(st.status, C);

    memset(&st, 0, sizeof(st));

    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);
    assert_int_equal(st.status, C);
}


static void
test_step_better_after_recover(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, C);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, C);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 1);
    assert_int_equal(st.status, H);

    /* and stays */
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, H);
}


static void
test_step_worst_of_held(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);

    /* healthy, degraded, healthy: degraded, the worst of the three */
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, D, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 1);
    assert_int_equal(st.status, D);

    /* then three healthy ones more */
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 1);
    assert_int_equal(st.status, H);
}


static void
test_step_worst_first(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, C, 2), 1);

    /* degraded then healthy: degraded */
    assert_int_equal(ngx_astro_health_step(&st, D, 2), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 2), 1);
    assert_int_equal(st.status, D);
}


static void
test_step_pending_reset(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    /* a degraded sample of an earlier, broken hold does not count */

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, C, 2), 1);

    assert_int_equal(ngx_astro_health_step(&st, D, 2), 0);
    assert_int_equal(ngx_astro_health_step(&st, C, 2), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 2), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 2), 1);
    assert_int_equal(st.status, H);
}


static void
test_step_equal_resets(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);

    /* an equal sample: the count starts again */
    assert_int_equal(ngx_astro_health_step(&st, C, 3), 0);
    assert_int_equal(st.status, C);

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, C);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 1);
    assert_int_equal(st.status, H);
}


static void
test_step_worse_during_hold(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));
    assert_int_equal(ngx_astro_health_step(&st, D, 3), 1);

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);

    /* worse takes effect at once and ends the hold */
    assert_int_equal(ngx_astro_health_step(&st, C, 3), 1);
    assert_int_equal(st.status, C);

    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 0);
    assert_int_equal(st.status, C);
    assert_int_equal(ngx_astro_health_step(&st, H, 3), 1);
    assert_int_equal(st.status, H);
}


static void
test_step_recover_one(void **state)
{
    ngx_astro_health_state_t  st;

    (void) state;

    memset(&st, 0, sizeof(st));

    assert_int_equal(ngx_astro_health_step(&st, C, 1), 1);
    assert_int_equal(ngx_astro_health_step(&st, D, 1), 1);
    assert_int_equal(st.status, D);
    assert_int_equal(ngx_astro_health_step(&st, H, 1), 1);
    assert_int_equal(st.status, H);
    assert_int_equal(ngx_astro_health_step(&st, H, 1), 0);
    assert_int_equal(ngx_astro_health_step(&st, C, 1), 1);
    assert_int_equal(ngx_astro_health_step(&st, H, 1), 1);
    assert_int_equal(st.status, H);
}


static void
test_step_sequence(void **state)
{
    unsigned                   i;
    ngx_astro_health_state_t   st;

    static const struct {
        unsigned  raw;
        unsigned  status;
        int       changed;
    } seq[] = {
        { H, H, 0 },
        { D, D, 1 },
        { D, D, 0 },
        { H, D, 0 },
        { H, D, 0 },
        { D, D, 0 },        /* equal: start again */
        { H, D, 0 },
        { H, D, 0 },
        { H, H, 1 },
        { C, C, 1 },
        { D, C, 0 },
        { H, C, 0 },
        { H, D, 1 },        /* the worst of D H H */
        { C, C, 1 },
        { H, C, 0 },
        { H, C, 0 },
        { H, H, 1 },
    };

    (void) state;

    memset(&st, 0, sizeof(st));

    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_int_equal(ngx_astro_health_step(&st, seq[i].raw, 3),
                         seq[i].changed);
        assert_int_equal(st.status, seq[i].status);
    }
}


/* the suite's mark first, then limit_req, then limit_conn */

static void
test_refused_by(void **state)
{
    unsigned  n;

    (void) state;

    n = NGX_ASTRO_REFUSED_N;

    /* not refused: nothing, passed, delayed and the dry runs */
    assert_int_equal(ngx_astro_health_refused_by(n, 0, 0), n);
    assert_int_equal(ngx_astro_health_refused_by(n, 1, 1), n);
    assert_int_equal(ngx_astro_health_refused_by(n, 2, 0), n);
    assert_int_equal(ngx_astro_health_refused_by(n, 4, 3), n);
    assert_int_equal(ngx_astro_health_refused_by(n, 5, 3), n);

    /* nginx's REJECTED values: 3 of limit_req, 2 of limit_conn */
    assert_int_equal(ngx_astro_health_refused_by(n, 3, 0),
                     NGX_ASTRO_REFUSED_LIMIT_REQ);
    assert_int_equal(ngx_astro_health_refused_by(n, 1, 2),
                     NGX_ASTRO_REFUSED_LIMIT_CONN);
    assert_int_equal(ngx_astro_health_refused_by(n, 3, 2),
                     NGX_ASTRO_REFUSED_LIMIT_REQ);

    /* the suite's own mark wins */
    assert_int_equal(ngx_astro_health_refused_by(NGX_ASTRO_REFUSED_QUEUE,
                                                 3, 2),
                     NGX_ASTRO_REFUSED_QUEUE);
    assert_int_equal(ngx_astro_health_refused_by(NGX_ASTRO_REFUSED_SHED,
                                                 0, 0),
                     NGX_ASTRO_REFUSED_SHED);
    assert_int_equal(
        ngx_astro_health_refused_by(NGX_ASTRO_REFUSED_RATELIMIT, 0, 0),
        NGX_ASTRO_REFUSED_RATELIMIT);
}


static void
test_refusal_name(void **state)
{
    (void) state;

    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_SHED), "shed");
    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_RATELIMIT), "ratelimit");
    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_QUEUE), "queue");
    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_LIMIT_REQ), "limit_req");
    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_LIMIT_CONN), "limit_conn");
    assert_string_equal(ngx_astro_health_refusal_name(
                            NGX_ASTRO_REFUSED_N), "none");
}


static void
test_judged_ms(void **state)
{
    (void) state;

    assert_int_equal(ngx_astro_health_judged_ms(1250, 0), 1250);
    assert_int_equal(ngx_astro_health_judged_ms(1250, 1000), 250);
    assert_int_equal(ngx_astro_health_judged_ms(1000, 1000), 0);

    /* two clocks: a hold may read a millisecond longer than the whole */
    assert_int_equal(ngx_astro_health_judged_ms(999, 1000), 0);
}


static void
test_ewma(void **state)
{
    (void) state;

    /* no responses: unchanged */
    assert_true(ngx_astro_health_ewma(0, 0, 0, 0.5) == 0);
    assert_true(ngx_astro_health_ewma(120, 0, 0, 0.5) == 120);

    /* the first value is the interval's mean */
    assert_true(ngx_astro_health_ewma(0, 300, 3, 0.5) == 100);

    /* then alpha of the mean: 0.5 * 300 + 0.5 * 100 */
    assert_true(ngx_astro_health_ewma(100, 600, 2, 0.5) == 200);

    /* alpha = 2 / (10 + 1) */
    assert_true(ngx_astro_health_ewma(100, 1200, 1, 2.0 / 11)
                == 2.0 / 11 * 1200 + 9.0 / 11 * 100);
}


static void
test_percent(void **state)
{
    (void) state;

    assert_true(ngx_astro_health_percent(0, 0) == 0);
    assert_true(ngx_astro_health_percent(5, 0) == 0);
    assert_true(ngx_astro_health_percent(0, 7) == 0);
    assert_true(ngx_astro_health_percent(3, 4) == 75);
    assert_true(ngx_astro_health_percent(4, 4) == 100);
    assert_true(ngx_astro_health_percent(5, 4) == 100);
    assert_true(ngx_astro_health_percent(1, 3) == 100.0 / 3);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_classify_healthy),
        cmocka_unit_test(test_classify_degraded),
        cmocka_unit_test(test_classify_critical),
        cmocka_unit_test(test_classify_strict),
        cmocka_unit_test(test_exceeds_bits),
        cmocka_unit_test(test_limit_off),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_step_worse_at_once),
        cmocka_unit_test(test_step_better_after_recover),
        cmocka_unit_test(test_step_worst_of_held),
        cmocka_unit_test(test_step_worst_first),
        cmocka_unit_test(test_step_pending_reset),
        cmocka_unit_test(test_step_equal_resets),
        cmocka_unit_test(test_step_worse_during_hold),
        cmocka_unit_test(test_step_recover_one),
        cmocka_unit_test(test_step_sequence),
        cmocka_unit_test(test_refused_by),
        cmocka_unit_test(test_refusal_name),
        cmocka_unit_test(test_judged_ms),
        cmocka_unit_test(test_ewma),
        cmocka_unit_test(test_percent),
    };

    return cmocka_run_group_tests_name("health_eval", tests, NULL, NULL);
}


/*
 * Copyright (C) astro developers
 */


/*
 * A key's Redis Cluster slot (src/ngx_astro_redis_slot.c) against the
 * values Redis 7.0 answers to CLUSTER KEYSLOT, hash tags included, and
 * the CRC-16/XMODEM check value.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_redis_slot.h"


typedef struct {
    const char  *key;
    unsigned     slot;
} slot_t_;


static void
test_crc16_check(void **state)
{
    (void) state;

    /* the check value of CRC-16/XMODEM, and Redis's crc16.c's test */
    assert_int_equal(ngx_astro_redis_crc16((const unsigned char *)
                                           "123456789", 9), 0x31c3);
    assert_int_equal(ngx_astro_redis_crc16((const unsigned char *) "", 0),
                     0);
}


static void
test_slots_as_redis(void **state)
{
    size_t  i;

    /* redis-cli CLUSTER KEYSLOT, Redis 7.0.15 */
    static const slot_t_  keys[] = {
        { "foo", 12182 },
        { "bar", 5061 },
        { "{user1000}.following", 3443 },
        { "{user1000}.followers", 3443 },
        { "foo{}{bar}", 8363 },             /* "{}": the whole key */
        { "foo{{bar}}zap", 4015 },          /* the tag is "{bar" */
        { "foo{bar}{zap}", 5061 },          /* the first tag, "bar" */
        { "{}", 15257 },
        { "", 0 },
        { "a{b", 13340 },                   /* no "}": the whole key */
        { "astro:rl:z:{u1}", 4574 },
        { "123456789", 12739 },
        { "x}y{z}", 8157 },                 /* a "}" before the "{" */
    };

    (void) state;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_int_equal(ngx_astro_redis_slot((const unsigned char *)
                                              keys[i].key,
                                              strlen(keys[i].key)),
                         keys[i].slot);
    }
}


static void
test_tag_alone(void **state)
{
    (void) state;

    /* a key with a tag has the slot of the tag alone */
    assert_int_equal(ngx_astro_redis_slot((const unsigned char *)
                                          "astro:rl:a:{user1}", 18),
                     ngx_astro_redis_slot((const unsigned char *)
                                          "user1", 5));
    assert_int_equal(ngx_astro_redis_slot((const unsigned char *)
                                          "{user1}astro:rl:b", 17),
                     ngx_astro_redis_slot((const unsigned char *)
                                          "user1", 5));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_crc16_check),
        cmocka_unit_test(test_slots_as_redis),
        cmocka_unit_test(test_tag_alone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

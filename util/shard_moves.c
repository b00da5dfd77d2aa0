
/*
 * Copyright (C) astro developers
 */


/*
 * astro-shard-moves: the SQL that takes a seed map of N shards to N+1
 * (docs/shard.md, "From the seed's placement to slots").
 *
 *   astro-shard-moves [--slots S] [--map NAME] [--prefix P]
 *                     [--names a,b,c] [--upstream U] [--channel C]
 *                     N NEW_SHARD
 *
 * The seed map: N shards named s0 .. s(N-1) (--names gives others, in
 * the order of the backend's shard numbers), fill=modulo over S slots
 * (default 16384; a multiple of N keeps the backend's |h| % N).  The new
 * shard takes S/(N+1) slots, evenly from every shard (the plan of
 * ngx_astro_shard_table_plan_add()); they are written in the state
 * 'copying' with the new shard as their target, the others 'stable':
 * one row a slot, every slot.  Once the data is copied, the operator
 * moves those rows on (reads_new, frozen, switched).  The new shard's
 * row names upstream U (default: the shard's name); the NOTIFY goes to
 * channel C (listen=, default astro_shard).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_key.h"


static void usage(void);
static int identifier(const char *s);
static void sql_string(const u_char *s, size_t len);
static ngx_astro_shard_table_t *build(ngx_astro_shard_rows_t *rows);


int
main(int argc, char **argv)
{
    char                         *map, *prefix, *names, *upstream, *p;
    char                         *channel;
    u_char                       *moved, *pos, *end;
    long                          n, slots;
    uint16_t                     *se;
    ngx_str_t                     v, *name;
    ngx_uint_t                    i, taken;
    ngx_int_t                     arg;
    ngx_astro_shard_rows_t        rows;
    ngx_astro_shard_row_t        *shards;
    ngx_astro_shard_table_t      *t;
    ngx_astro_shard_entry_t      *e;

    map = "users";
    prefix = "astro_shard";
    names = NULL;
    upstream = NULL;
    channel = "astro_shard";
    slots = NGX_ASTRO_SHARD_DEFAULT_SLOTS;

    for (i = 1; i + 1 < (ngx_uint_t) argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--slots") == 0) {
            slots = strtol(argv[i + 1], &p, 10);
            if (*p || slots < 1 || slots > NGX_ASTRO_SHARD_MAX_SLOTS) {
                fprintf(stderr, "invalid --slots \"%s\"\n", argv[i + 1]);
                return 2;
            }

        } else if (strcmp(argv[i], "--map") == 0) {
            map = argv[i + 1];

        } else if (strcmp(argv[i], "--prefix") == 0) {
            prefix = argv[i + 1];

        } else if (strcmp(argv[i], "--names") == 0) {
            names = argv[i + 1];

        } else if (strcmp(argv[i], "--upstream") == 0) {
            upstream = argv[i + 1];

        } else if (strcmp(argv[i], "--channel") == 0) {
            channel = argv[i + 1];

        } else {
            usage();
        }
    }

    arg = i;

    if (argc - arg != 2) {
        usage();
    }

    n = strtol(argv[arg], &p, 10);

    if (*p || n < 1 || n >= NGX_ASTRO_SHARD_MAX_SHARDS || n >= slots) {
        fprintf(stderr, "invalid shard count \"%s\"\n", argv[arg]);
        return 2;
    }

    if (!identifier(prefix) || !identifier(channel)) {
        fprintf(stderr, "invalid --prefix or --channel: [a-z0-9_]+\n");
        return 2;
    }

    for (p = map; *p; p++) {
        if ((u_char) *p < 0x20 || *p == 0x7f) {
            fprintf(stderr, "invalid --map\n");
            return 2;
        }
    }

    /* the seed map, then the same with the new shard: rows the builder
       checks as the module will */

    shards = calloc(n + 1, sizeof(ngx_astro_shard_row_t));
    if (shards == NULL) {
        return 1;
    }

    if (names) {
        pos = (u_char *) names;
        end = pos + strlen(names);

        for (i = 0; i < (ngx_uint_t) n; i++) {
            if (ngx_astro_shard_key_next_value(&pos, end, &shards[i].name)
                != NGX_OK)
            {
                fprintf(stderr, "--names: %ld names wanted\n", n);
                return 2;
            }
        }

        if (pos != end) {
            fprintf(stderr, "--names: %ld names wanted\n", n);
            return 2;
        }

    } else {
        for (i = 0; i < (ngx_uint_t) n; i++) {
            shards[i].name.data = malloc(24);
            if (shards[i].name.data == NULL) {
                return 1;
            }

            shards[i].name.len = snprintf((char *) shards[i].name.data, 24,
                                          "s%lu", (unsigned long) i);
        }
    }

    shards[n].name.data = (u_char *) argv[arg + 1];
    shards[n].name.len = strlen(argv[arg + 1]);

    for (i = 0; i <= (ngx_uint_t) n; i++) {
        shards[i].upstream = shards[i].name;
    }

    if (upstream) {
        shards[n].upstream.data = (u_char *) upstream;
        shards[n].upstream.len = strlen(upstream);
    }

    memset(&rows, 0, sizeof(rows));
    rows.strategy = NGX_ASTRO_SHARD_HASH;
    rows.fill = NGX_ASTRO_SHARD_FILL_MODULO;
    rows.slots = slots;
    rows.shards = shards;
    rows.nshards = n + 1;

    /* the new shard's name checked with the others (a duplicate) */
    free(build(&rows));

    rows.nshards = n;
    t = build(&rows);

    moved = calloc(slots, 1);
    if (moved == NULL) {
        return 1;
    }

    taken = ngx_astro_shard_table_plan_add(t, moved);
    se = (uint16_t *) ((u_char *) t + t->slot_entry);
    e = ngx_astro_shard_table_entries(t);

    printf("-- map '%s': %ld shards to %ld, %ld slots\n", map, n, n + 1,
           slots);
    printf("-- %lu slots (%.2f%% of keys) move to the new shard, about %lu"
           " from each; nothing else moves\n", (unsigned long) taken,
           100.0 * taken / slots, (unsigned long) (taken / n));

    if (slots % n) {
        printf("-- note: %ld slots is not a multiple of %ld: the seed map's"
               " placement was not the backend's |h| %% %ld\n",
               slots, n, n);
    }

    printf("BEGIN;\n");
    printf("INSERT INTO %s_shards (map, name, upstream) VALUES (", prefix);
    sql_string((u_char *) map, strlen(map));
    printf(", ");
    sql_string(shards[n].name.data, shards[n].name.len);
    printf(", ");
    sql_string(shards[n].upstream.data, shards[n].upstream.len);
    printf(");\n");

    printf("DELETE FROM %s_entries WHERE map = ", prefix);
    sql_string((u_char *) map, strlen(map));
    printf(";\n");
    printf("INSERT INTO %s_entries"
           " (map, from_value, to_value, owner, target, state) VALUES\n",
           prefix);

    for (i = 0; i < (ngx_uint_t) slots; i++) {
        name = &shards[e[se[i]].owner].name;

        printf("  (");
        sql_string((u_char *) map, strlen(map));
        printf(", '%lu', '%lu', ", (unsigned long) i, (unsigned long) i + 1);
        sql_string(name->data, name->len);

        if (moved[i]) {
            printf(", ");
            v = shards[n].name;
            sql_string(v.data, v.len);
            printf(", 'copying')");

        } else {
            printf(", NULL, 'stable')");
        }

        printf("%s\n", (i + 1 < (ngx_uint_t) slots) ? "," : ";");
    }

    printf("UPDATE %s_maps SET version = version + 1 WHERE name = ", prefix);
    sql_string((u_char *) map, strlen(map));
    printf(";\n");
    printf("NOTIFY %s, ", channel);
    sql_string((u_char *) map, strlen(map));
    printf(";\nCOMMIT;\n");

    free(moved);
    free(t);

    return 0;
}


static void
usage(void)
{
    fprintf(stderr, "usage: astro-shard-moves [--slots S] [--map NAME]"
            " [--prefix astro_shard] [--names a,b,c] [--upstream U]"
            " [--channel astro_shard] N NEW_SHARD_NAME\n");
    exit(2);
}


/* a table or channel name as it can be written without quotes */

static int
identifier(const char *s)
{
    if (*s == '\0' || (*s >= '0' && *s <= '9')) {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')
              || *s == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* a SQL string literal: quotes doubled */

static void
sql_string(const u_char *s, size_t len)
{
    size_t  i;

    putchar('\'');

    for (i = 0; i < len; i++) {
        if (s[i] == '\'') {
            putchar('\'');
        }

        putchar(s[i]);
    }

    putchar('\'');
}


static ngx_astro_shard_table_t *
build(ngx_astro_shard_rows_t *rows)
{
    size_t                    size;
    u_char                   *buf, err[256];
    ngx_astro_shard_table_t  *t;

    size = ngx_astro_shard_table_size(rows, err, sizeof(err));

    if (size && (buf = malloc(size)) != NULL) {
        t = ngx_astro_shard_table_build(rows, buf, size, err, sizeof(err));
        if (t) {
            return t;
        }
    }

    fprintf(stderr, "astro-shard-moves: %s\n", err);
    exit(1);
}

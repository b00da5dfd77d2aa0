
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CONF_H_INCLUDED_
#define _NGX_ASTRO_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Parsing of directive parameters.  The value parsers do not log: they
 * return NGX_OK or NGX_ERROR, and the directive handler reports the whole
 * parameter in nginx's own words (ngx_astro_conf_invalid(): invalid
 * parameter "rate=0r/s"; nginx adds the file and line).
 */


/* the smallest shared memory zone worth having: the slab needs pages */
#define NGX_ASTRO_CONF_ZONE_MIN  (8 * ngx_pagesize)


ngx_uint_t ngx_astro_conf_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_astro_conf_number(ngx_str_t *value, ngx_int_t min,
    ngx_int_t max, ngx_uint_t *n);
ngx_int_t ngx_astro_conf_msec(ngx_str_t *value, ngx_msec_t min,
    ngx_msec_t *ms);
ngx_int_t ngx_astro_conf_sec(ngx_str_t *value, time_t min, time_t *sec);
ngx_int_t ngx_astro_conf_enum(ngx_str_t *value, ngx_conf_enum_t *e,
    ngx_uint_t *v);
ngx_int_t ngx_astro_conf_zone(ngx_str_t *value, ngx_str_t *name,
    ssize_t *size);
ngx_http_complex_value_t *ngx_astro_conf_complex(ngx_conf_t *cf,
    ngx_str_t *value);
char *ngx_astro_conf_invalid(ngx_conf_t *cf, ngx_str_t *arg);
char *ngx_astro_conf_missing(ngx_conf_t *cf, ngx_command_t *cmd,
    const char *name);


/*
 * The element named "name" of an array of pointers to structures that
 * begin with an ngx_str_t name (zones and maps of the modules), or NULL.
 */
void *ngx_astro_conf_lookup(ngx_array_t *named, ngx_str_t *name);

/*
 * The index of the element named "name" of an array of structures (not
 * pointers) that begin with an ngx_str_t name (tiers), or NGX_ERROR.
 */
ngx_int_t ngx_astro_conf_index(ngx_array_t *a, ngx_str_t *name);

/* the same, or NULL after logging: unknown <directive> "name" */
void *ngx_astro_conf_find(ngx_conf_t *cf, ngx_array_t *named,
    ngx_str_t *name, const char *directive);

/*
 * A new element of such an array, of size bytes, zeroed but for its name
 * (the array is created on first use), or NULL: after logging
 * duplicate <thing> "name" when the name is taken.
 */
void *ngx_astro_conf_declare(ngx_conf_t *cf, ngx_array_t *named,
    ngx_str_t *name, size_t size, const char *thing);


/* adds a module's table of variables, ended by ngx_http_null_variable */
ngx_int_t ngx_astro_conf_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


/* sets a variable's value, found and cacheable: for the get handlers */
void ngx_astro_conf_var_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len);


#endif /* _NGX_ASTRO_CONF_H_INCLUDED_ */


/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"


/* true when arg is "name=...", with value set to what follows the "=" */

ngx_uint_t
ngx_astro_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len
        || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return 0;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return 1;
}


/* a decimal number from min to max, without a sign */

ngx_int_t
ngx_astro_conf_number(ngx_str_t *value, ngx_int_t min, ngx_int_t max,
    ngx_uint_t *n)
{
    ngx_int_t  v;

    v = ngx_atoi(value->data, value->len);

    if (v == NGX_ERROR || v < min || v > max) {
        return NGX_ERROR;
    }

    *n = v;

    return NGX_OK;
}


/* a time in milliseconds or seconds, at least min; NGX_ERROR if not */

static ngx_int_t
ngx_astro_conf_time(ngx_str_t *value, ngx_uint_t is_sec, ngx_int_t min)
{
    ngx_int_t  v;

    v = ngx_parse_time(value, is_sec);

    return (v == NGX_ERROR || v < min) ? NGX_ERROR : v;
}


/* a time as "500ms", "2s", at least min milliseconds */

ngx_int_t
ngx_astro_conf_msec(ngx_str_t *value, ngx_msec_t min, ngx_msec_t *ms)
{
    ngx_int_t  v;

    v = ngx_astro_conf_time(value, 0, min);

    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *ms = v;

    return NGX_OK;
}


/* a time as "30s", "1h", at least min seconds */

ngx_int_t
ngx_astro_conf_sec(ngx_str_t *value, time_t min, time_t *sec)
{
    ngx_int_t  v;

    v = ngx_astro_conf_time(value, 1, min);

    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *sec = v;

    return NGX_OK;
}


/* one of the names of e, as ngx_conf_set_enum_slot() takes them */

ngx_int_t
ngx_astro_conf_enum(ngx_str_t *value, ngx_conf_enum_t *e, ngx_uint_t *v)
{
    ngx_uint_t  i;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value->len
            && ngx_strncmp(e[i].name.data, value->data, value->len) == 0)
        {
            *v = e[i].value;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/*
 * "name:size" of a shared memory zone, NGX_ERROR when value is not one.
 * The caller checks the size against NGX_ASTRO_CONF_ZONE_MIN.
 */

ngx_int_t
ngx_astro_conf_zone(ngx_str_t *value, ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    p = ngx_strlchr(value->data, value->data + value->len, ':');

    if (p == NULL || p == value->data) {
        return NGX_ERROR;
    }

    name->data = value->data;
    name->len = p - value->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    *size = ngx_parse_size(&s);

    return *size == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/* NULL on errors, which ngx_http_compile_complex_value() has logged */

ngx_http_complex_value_t *
ngx_astro_conf_complex(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    return cv;
}


char *
ngx_astro_conf_invalid(ngx_conf_t *cf, ngx_str_t *arg)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive",
                       arg, &value[0]);

    return NGX_CONF_ERROR;
}


char *
ngx_astro_conf_missing(ngx_conf_t *cf, ngx_command_t *cmd, const char *name)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" must have \"%s\" parameter", &cmd->name, name);

    return NGX_CONF_ERROR;
}


void *
ngx_astro_conf_lookup(ngx_array_t *named, ngx_str_t *name)
{
    ngx_str_t   **elts;
    ngx_uint_t    i;

    elts = named->elts;

    for (i = 0; i < named->nelts; i++) {
        if (elts[i]->len == name->len
            && ngx_strncmp(elts[i]->data, name->data, name->len) == 0)
        {
            return elts[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_astro_conf_index(ngx_array_t *a, ngx_str_t *name)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    p = a->elts;

    for (i = 0; i < a->nelts; i++) {
        s = (ngx_str_t *) (p + i * a->size);

        if (s->len == name->len
            && ngx_strncmp(s->data, name->data, name->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


void *
ngx_astro_conf_find(ngx_conf_t *cf, ngx_array_t *named, ngx_str_t *name,
    const char *directive)
{
    void       *elt;
    ngx_str_t  *value;

    elt = ngx_astro_conf_lookup(named, name);

    if (elt == NULL) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown %s \"%V\" in \"%V\" directive",
                           directive, name, &value[0]);
    }

    return elt;
}


void *
ngx_astro_conf_declare(ngx_conf_t *cf, ngx_array_t *named, ngx_str_t *name,
    size_t size, const char *thing)
{
    ngx_str_t  *elt, **p, *value;

    if (named->elts == NULL
        && ngx_array_init(named, cf->pool, 2, sizeof(void *)) != NGX_OK)
    {
        return NULL;
    }

    if (ngx_astro_conf_lookup(named, name)) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate %s \"%V\" in \"%V\" directive",
                           thing, name, &value[0]);
        return NULL;
    }

    elt = ngx_pcalloc(cf->pool, size);
    if (elt == NULL) {
        return NULL;
    }

    *elt = *name;

    p = ngx_array_push(named);
    if (p == NULL) {
        return NULL;
    }

    *p = elt;

    return elt;
}


ngx_int_t
ngx_astro_conf_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


void
ngx_astro_conf_var_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;
}

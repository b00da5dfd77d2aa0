
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_status.h"
#include "ngx_astro_tier.h"


/*
 * The directives, the configuration and the hooks.  In src/: the tier of
 * a request, ngx_astro_tier_identify.c (its JWTs: ngx_astro_jwt.c) and
 * its variables, ngx_astro_tier_vars.c; the groups and fallbacks,
 * ngx_astro_tier_routes.c; the balancer, ngx_astro_tier_balance.c; the
 * servers' circuits, ngx_astro_tier_circuit.c; the queue,
 * ngx_astro_tier_queue.c; the shared zone, ngx_astro_tier_shm.c; the
 * status, ngx_astro_tier_status.c.
 */


static void *ngx_http_astro_tier_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_astro_tier_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_astro_tier_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_astro_tier_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_tier_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_astro_tier_tiers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_tier_tier(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_tier_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_astro_tier_source_t *ngx_http_astro_tier_source(
    ngx_conf_t *cf, ngx_command_t *cmd, ngx_uint_t type);
static char *ngx_http_astro_tier_balance(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_tier_group(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_tier_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_astro_tier_line_t *ngx_http_astro_tier_add_line(
    ngx_conf_t *cf, ngx_command_t *cmd, ngx_array_t *lines, size_t size);
static char *ngx_http_astro_tier_circuit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_tier_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_astro_tier_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_astro_tier_commands[] = {

    { ngx_string("astro_tiers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_astro_tier_tiers,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_tier"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_tier_tier,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_tier_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_astro_tier_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_tier_balance"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_astro_tier_balance,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_tier_group"),
      NGX_HTTP_UPS_CONF|NGX_CONF_2MORE,
      ngx_http_astro_tier_group,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_tier_fallback"),
      NGX_HTTP_UPS_CONF|NGX_CONF_2MORE,
      ngx_http_astro_tier_fallback,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_circuit"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_astro_tier_circuit,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_queue"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE23,
      ngx_http_astro_tier_queue,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_tier_upstream_module_ctx = {
    ngx_http_astro_tier_add_variables,     /* preconfiguration */
    ngx_http_astro_tier_init,              /* postconfiguration */

    ngx_http_astro_tier_create_main_conf,  /* create main configuration */
    ngx_http_astro_tier_init_main_conf,    /* init main configuration */

    ngx_http_astro_tier_create_srv_conf,   /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_astro_tier_create_loc_conf,   /* create location configuration */
    ngx_http_astro_tier_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_astro_tier_upstream_module = {
    NGX_MODULE_V1,
    &ngx_astro_tier_upstream_module_ctx,   /* module context */
    ngx_http_astro_tier_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_astro_tier_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_astro_tier_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_astro_tier_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_tier_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_tier_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->tiers = { 0 };
     *     conf->upstreams = { 0 };
     *     conf->configured = 0;
     */

    return conf;
}


static char *
ngx_http_astro_tier_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_astro_tier_main_conf_t *tmcf = conf;

    ngx_uint_t              i;
    ngx_http_astro_tier_t  *tier;

    if (tmcf->tiers.elts) {
        goto lowest;
    }

    /* the default: astro_tiers premium=3 basic=2 free=1; */

    if (ngx_array_init(&tmcf->tiers, cf->pool, 3,
                       sizeof(ngx_http_astro_tier_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    tier = ngx_array_push_n(&tmcf->tiers, 3);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&tier[0].name, "premium");
    tier[0].priority = 3;
    ngx_str_set(&tier[1].name, "basic");
    tier[1].priority = 2;
    ngx_str_set(&tier[2].name, "free");
    tier[2].priority = 1;

lowest:

    tier = tmcf->tiers.elts;

    for (i = 1; i < tmcf->tiers.nelts; i++) {
        if (tier[i].priority < tier[tmcf->lowest].priority) {
            tmcf->lowest = i;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_astro_tier_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_astro_tier_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_tier_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->groups = { 0 };
     *     conf->fallbacks = { 0 };
     *     conf->circuit = NULL;
     *     conf->queue = NULL;
     */

    conf->strategy = NGX_CONF_UNSET_UINT;

    return conf;
}


static void *
ngx_http_astro_tier_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_tier_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_astro_tier_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->source = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_astro_tier_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_astro_tier_loc_conf_t *prev = parent;
    ngx_http_astro_tier_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->source, prev->source, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_tiers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_main_conf_t *tmcf = conf;

    u_char                 *p, c;
    ngx_str_t              *value, name, s;
    ngx_uint_t              i, j, n;
    ngx_http_astro_tier_t  *tier;

    if (tmcf->tiers.elts) {
        return "is duplicate";
    }

    if (cf->args->nelts - 1 > NGX_HTTP_ASTRO_TIER_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d tiers", NGX_HTTP_ASTRO_TIER_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&tmcf->tiers, cf->pool, cf->args->nelts - 1,
                       sizeof(ngx_http_astro_tier_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    tmcf->configured = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        p = (u_char *) ngx_strchr(value[i].data, '=');
        if (p == NULL || p == value[i].data) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        name.data = value[i].data;
        name.len = p - value[i].data;

        /* a tier is a value of variables and a label: keep it plain */

        for (j = 0; j < name.len; j++) {
            c = name.data[j];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }
        }

        s.data = p + 1;
        s.len = value[i].data + value[i].len - s.data;

        if (ngx_astro_conf_number(&s, 1, NGX_MAX_INT_T_VALUE, &n) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        tier = tmcf->tiers.elts;

        for (j = 0; j < tmcf->tiers.nelts; j++) {
            if ((tier[j].name.len == name.len
                 && ngx_strncmp(tier[j].name.data, name.data, name.len) == 0)
                || tier[j].priority == n)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate tier or priority \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        tier = ngx_array_push(&tmcf->tiers);
        if (tier == NULL) {
            return NGX_CONF_ERROR;
        }

        tier->name = name;
        tier->priority = n;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_loc_conf_t *tlcf = conf;

    if (tlcf->source != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    tlcf->source = ngx_http_astro_tier_source(cf, cmd,
                                              NGX_HTTP_ASTRO_TIER_SOURCE_VAR);
    if (tlcf->source == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_loc_conf_t *tlcf = conf;

    ngx_int_t                      rc;
    ngx_str_t                     *value, s, path;
    ngx_uint_t                     i;
    ngx_http_astro_tier_source_t  *source;

    if (tlcf->source != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    source = ngx_http_astro_tier_source(cf, cmd,
                                        NGX_HTTP_ASTRO_TIER_SOURCE_JWT);
    if (source == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&source->claim, "tier");
    ngx_str_set(&source->user_claim, "sub");
    source->leeway = 30;

    ngx_str_null(&path);

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "key", &path)) {
            rc = path.len ? NGX_OK : NGX_ERROR;

        } else if (ngx_astro_conf_param(&value[i], "claim", &source->claim)) {
            rc = source->claim.len ? NGX_OK : NGX_ERROR;

        } else if (ngx_astro_conf_param(&value[i], "user_claim",
                                        &source->user_claim))
        {
            rc = source->user_claim.len ? NGX_OK : NGX_ERROR;

        } else if (ngx_astro_conf_param(&value[i], "leeway", &s)) {
            rc = ngx_astro_conf_sec(&s, 0, &source->leeway);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (path.len == 0) {
        return ngx_astro_conf_missing(cf, cmd, "key");
    }

    if (ngx_http_astro_tier_read_key(cf, &path, &source->key) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tlcf->source = source;

    return NGX_CONF_OK;
}


/* the "$variable" that astro_tier and astro_tier_jwt begin with */

static ngx_http_astro_tier_source_t *
ngx_http_astro_tier_source(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_uint_t type)
{
    ngx_str_t                        *value;
    ngx_http_astro_tier_source_t     *source;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_astro_conf_invalid(cf, &value[1]);
        return NULL;
    }

    source = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_tier_source_t));
    if (source == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     source->key = { 0, NULL };
     */

    source->type = type;

    source->value = ngx_astro_conf_complex(cf, &value[1]);
    if (source->value == NULL) {
        return NULL;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_astro_tier_upstream_module);
    tmcf->configured = 1;

    return source;
}


static char *
ngx_http_astro_tier_balance(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_srv_conf_t *tscf = conf;

    ngx_str_t                        *value, s;
    ngx_http_upstream_srv_conf_t     *uscf;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    if (tscf->strategy != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    tscf->strategy = NGX_HTTP_ASTRO_TIER_ROUND_ROBIN;
    tscf->file_name = cf->conf_file->file.name.data;
    tscf->line = cf->conf_file->line;

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && (!ngx_astro_conf_param(&value[1], "strategy", &s)
            || ngx_astro_conf_enum(&s, ngx_http_astro_tier_strategies,
                                   &tscf->strategy)
               != NGX_OK))
    {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    /*
     * as nginx's own balancers: before "keepalive", which wraps the
     * balancer it finds
     */

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    uscf->peer.init_upstream = ngx_http_astro_tier_init_upstream;

    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_CONNS
                  |NGX_HTTP_UPSTREAM_MAX_FAILS
                  |NGX_HTTP_UPSTREAM_FAIL_TIMEOUT
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;

    tmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_astro_tier_upstream_module);
    tmcf->configured = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_group(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_srv_conf_t *tscf = conf;

    ngx_str_t                   *value;
    ngx_uint_t                   i, j, n, *number;
    ngx_http_astro_tier_line_t  *group;

    group = ngx_http_astro_tier_add_line(cf, cmd, &tscf->groups,
                                         sizeof(ngx_uint_t));
    if (group == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_number(&value[i], 1, NGX_MAX_INT_T_VALUE, &n)
            != NGX_OK)
        {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        number = group->list.elts;

        for (j = 0; j < group->list.nelts; j++) {
            if (number[j] == n) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate server number \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        number = ngx_array_push(&group->list);
        if (number == NULL) {
            return NGX_CONF_ERROR;
        }

        *number = n;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_fallback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_srv_conf_t *tscf = conf;

    ngx_str_t                   *value, *next;
    ngx_uint_t                   n;
    ngx_http_astro_tier_line_t  *fallback;

    fallback = ngx_http_astro_tier_add_line(cf, cmd, &tscf->fallbacks,
                                            sizeof(ngx_str_t));
    if (fallback == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    n = cf->args->nelts - 2;

    next = ngx_array_push_n(&fallback->list, n);
    if (next == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(next, &value[2], n * sizeof(ngx_str_t));

    return NGX_CONF_OK;
}


/*
 * A line of astro_tier_group or astro_tier_fallback: "tier item ...",
 * one a tier in an upstream block; the caller fills in its list.
 */

static ngx_http_astro_tier_line_t *
ngx_http_astro_tier_add_line(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_array_t *lines, size_t size)
{
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_http_astro_tier_line_t  *line;

    value = cf->args->elts;

    if (lines->elts == NULL
        && ngx_array_init(lines, cf->pool, 3,
                          sizeof(ngx_http_astro_tier_line_t))
           != NGX_OK)
    {
        return NULL;
    }

    line = lines->elts;

    for (i = 0; i < lines->nelts; i++) {
        if (line[i].tier.len == value[1].len
            && ngx_strncmp(line[i].tier.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate tier \"%V\"", &value[1]);
            return NULL;
        }
    }

    line = ngx_array_push(lines);
    if (line == NULL) {
        return NULL;
    }

    line->tier = value[1];
    line->file_name = cf->conf_file->file.name.data;
    line->line = cf->conf_file->line;

    if (ngx_array_init(&line->list, cf->pool, cf->args->nelts - 2, size)
        != NGX_OK)
    {
        return NULL;
    }

    return line;
}


static char *
ngx_http_astro_tier_circuit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_srv_conf_t *tscf = conf;

    ngx_int_t                  rc;
    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_astro_circuit_conf_t  *circuit;

    if (tscf->circuit) {
        return "is duplicate";
    }

    circuit = ngx_palloc(cf->pool, sizeof(ngx_astro_circuit_conf_t));
    if (circuit == NULL) {
        return NGX_CONF_ERROR;
    }

    circuit->failures = 5;
    circuit->error_rate = 50;
    circuit->min_requests = 20;
    circuit->probes = 1;
    circuit->window = 10000;
    circuit->open = 10000;
    circuit->max_open = 300000;
    circuit->probe_timeout = 0;     /* the open time */

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "failures", &s)) {
            rc = ngx_astro_conf_number(&s, 1, NGX_MAX_INT_T_VALUE,
                                       &circuit->failures);

        } else if (ngx_astro_conf_param(&value[i], "error_rate", &s)
                   && s.len && s.data[s.len - 1] == '%')
        {
            s.len--;
            rc = ngx_astro_conf_number(&s, 1, 100, &circuit->error_rate);

        } else if (ngx_astro_conf_param(&value[i], "min_requests", &s)) {
            rc = ngx_astro_conf_number(&s, 1, NGX_MAX_INT_T_VALUE,
                                       &circuit->min_requests);

        } else if (ngx_astro_conf_param(&value[i], "probes", &s)) {
            rc = ngx_astro_conf_number(&s, 1, NGX_MAX_INT_T_VALUE,
                                       &circuit->probes);

        } else if (ngx_astro_conf_param(&value[i], "window", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &circuit->window);

        } else if (ngx_astro_conf_param(&value[i], "open", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &circuit->open);

        } else if (ngx_astro_conf_param(&value[i], "max_open", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &circuit->max_open);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (circuit->max_open < circuit->open) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"max_open\" is less than \"open\"");
        return NGX_CONF_ERROR;
    }

    tscf->circuit = circuit;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_tier_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_tier_srv_conf_t *tscf = conf;

    ngx_int_t                     rc;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i;
    ngx_http_astro_tier_queue_t  *queue;

    if (tscf->queue) {
        return "is duplicate";
    }

    queue = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_tier_queue_t));
    if (queue == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     queue->size = 0;
     *     queue->timeout = 0;
     *     queue->critical_below = 0;
     */

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "size", &s)) {
            rc = ngx_astro_conf_number(&s, 1, NGX_MAX_INT_T_VALUE,
                                       &queue->size);

        } else if (ngx_astro_conf_param(&value[i], "timeout", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &queue->timeout);

        } else if (ngx_astro_conf_param(&value[i], "critical_below", &s)) {
            rc = ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE,
                                       &queue->critical_below);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (queue->size == 0) {
        return ngx_astro_conf_missing(cf, cmd, "size");
    }

    if (queue->timeout == 0) {
        return ngx_astro_conf_missing(cf, cmd, "timeout");
    }

    tscf->queue = queue;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_tier_init(ngx_conf_t *cf)
{
    ngx_uint_t                        i, queue;
    ngx_http_handler_pt              *h;
    ngx_astro_status_section_t        section;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_upstream_srv_conf_t    **uscfp, **up;
    ngx_http_astro_tier_srv_conf_t   *tscf;
    ngx_http_upstream_main_conf_t    *umcf;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_astro_tier_upstream_module);

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;
    queue = 0;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        /* implicit upstreams of proxy_pass have no configuration */

        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        tscf = uscfp[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        if (tscf->strategy == NGX_CONF_UNSET_UINT) {

            if (tscf->groups.nelts || tscf->fallbacks.nelts
                || tscf->circuit || tscf->queue)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "upstream \"%V\" uses astro directives "
                              "without \"astro_tier_balance\" in %s:%ui",
                              &uscfp[i]->host, uscfp[i]->file_name,
                              uscfp[i]->line);
                return NGX_ERROR;
            }

            continue;
        }

        /* a balancing method given after it replaced it */

        if (tscf->upstream == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"astro_tier_balance\" in upstream \"%V\" was "
                          "replaced by another balancing method in %s:%ui",
                          &uscfp[i]->host, uscfp[i]->file_name,
                          uscfp[i]->line);
            return NGX_ERROR;
        }

        if (ngx_http_astro_tier_check_upstream(cf, tmcf, uscfp[i], tscf)
            != NGX_OK
            || ngx_http_astro_tier_init_routes(cf, tmcf, tscf) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (tscf->queue) {
            if (ngx_http_astro_tier_queue_init(cf, tmcf, tscf) != NGX_OK) {
                return NGX_ERROR;
            }

            queue = 1;
        }

        if (tmcf->upstreams.elts == NULL
            && ngx_array_init(&tmcf->upstreams, cf->pool, 2,
                              sizeof(ngx_http_upstream_srv_conf_t *))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        up = ngx_array_push(&tmcf->upstreams);
        if (up == NULL) {
            return NGX_ERROR;
        }

        *up = uscfp[i];
    }

    if (!tmcf->configured) {
        return NGX_OK;
    }

    if (tmcf->upstreams.nelts
        && ngx_http_astro_tier_add_zone(cf, tmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the queue waits before the content phase, where proxy_pass runs */

    if (queue) {
        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_astro_tier_queue_handler;
    }

    ngx_str_set(&section.name, "tier_upstream");
    section.json = ngx_http_astro_tier_json;
    section.prometheus = ngx_http_astro_tier_prometheus;
    section.data = tmcf;

    return ngx_astro_status_add(cf, &section);
}


/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_health.h"
#include "ngx_astro_parse.h"
#include "ngx_astro_status.h"


#define NGX_HTTP_ASTRO_HEALTH_SLOTS_MAX    3600
/* a day of 1s samples; a status response holds the whole ring */
#define NGX_HTTP_ASTRO_HEALTH_HISTORY_MAX  86400

/* a threshold that no astro_health_threshold set */
#define NGX_HTTP_ASTRO_HEALTH_UNSET        -2


static ngx_int_t ngx_http_astro_health_init(ngx_conf_t *cf);
static void *ngx_http_astro_health_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_astro_health_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_astro_health_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_health_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_astro_health_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_health_threshold(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_health_recover(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_health_source(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_health_shed(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_health_node(ngx_conf_t *cf,
    ngx_http_astro_health_main_conf_t *hmcf, ngx_str_t *value);
static ngx_int_t ngx_http_astro_health_init_process(ngx_cycle_t *cycle);
static void ngx_http_astro_health_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_astro_health_commands[] = {

    { ngx_string("astro_health_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_astro_health_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_health_threshold"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_health_threshold,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_health_recover"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_health_recover,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_health_source"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_health_source,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shed"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_astro_health_shed,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_health_module_ctx = {
    ngx_http_astro_health_add_variables,   /* preconfiguration */
    ngx_http_astro_health_init,            /* postconfiguration */

    ngx_http_astro_health_create_main_conf, /* create main configuration */
    ngx_http_astro_health_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_astro_health_create_loc_conf, /* create location configuration */
    ngx_http_astro_health_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_astro_health_module = {
    NGX_MODULE_V1,
    &ngx_astro_health_module_ctx,          /* module context */
    ngx_http_astro_health_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_astro_health_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_astro_health_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_astro_health_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                *h;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_astro_status_section_t          section;
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_health_module);

    if (hmcf->shm_zone == NULL) {

        if (hmcf->shed) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"astro_shed\" requires "
                               "\"astro_health_zone\"");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_astro_health_log_handler;

    if (hmcf->shed) {
        /*
         * In the rewrite phase, and registered after the rewrite module,
         * so that a refusal comes before "return" and costs little.
         */

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_astro_health_shed_handler;
    }

    ngx_str_set(&section.name, "health");
    section.json = ngx_http_astro_health_status_json;
    section.prometheus = ngx_http_astro_health_status_prometheus;
    section.data = hmcf;

    if (ngx_astro_status_add(cf, &section) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_astro_status_set_health(cf, ngx_http_astro_health_status_document,
                                hmcf);

    return NGX_OK;
}


static void *
ngx_http_astro_health_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_health_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hmcf->shm_zone = NULL;
     *     hmcf->sh = NULL;
     *     hmcf->root = { 0, NULL };
     *     hmcf->shed = 0;
     */

    hmcf->recover = NGX_CONF_UNSET_UINT;

    hmcf->degraded.cpu = NGX_HTTP_ASTRO_HEALTH_UNSET;
    hmcf->degraded.memory = NGX_HTTP_ASTRO_HEALTH_UNSET;
    hmcf->degraded.error_rate = NGX_HTTP_ASTRO_HEALTH_UNSET;
    hmcf->degraded.latency = NGX_HTTP_ASTRO_HEALTH_UNSET;
    hmcf->critical = hmcf->degraded;

    return hmcf;
}


#define ngx_http_astro_health_init_limit(v, def)                           \
    if ((v) == NGX_HTTP_ASTRO_HEALTH_UNSET) {                                \
        (v) = (def);                                                         \
    }


static char *
ngx_http_astro_health_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_astro_health_main_conf_t *hmcf = conf;

    ngx_conf_init_uint_value(hmcf->recover, 3);

    /* the original backend's thresholds */

    ngx_http_astro_health_init_limit(hmcf->degraded.cpu, 70);
    ngx_http_astro_health_init_limit(hmcf->degraded.memory, 75);
    ngx_http_astro_health_init_limit(hmcf->degraded.error_rate, 20);
    ngx_http_astro_health_init_limit(hmcf->degraded.latency, 2000);

    ngx_http_astro_health_init_limit(hmcf->critical.cpu, 90);
    ngx_http_astro_health_init_limit(hmcf->critical.memory, 90);
    ngx_http_astro_health_init_limit(hmcf->critical.error_rate, 50);
    ngx_http_astro_health_init_limit(hmcf->critical.latency,
                                     NGX_ASTRO_LIMIT_OFF);

    if (hmcf->root.len == 0) {
        ngx_str_set(&hmcf->root, "");
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_astro_health_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_health_loc_conf_t  *hlcf;

    hlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_health_loc_conf_t));
    if (hlcf == NULL) {
        return NULL;
    }

    hlcf->shed = NGX_CONF_UNSET_PTR;

    return hlcf;
}


static char *
ngx_http_astro_health_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_health_loc_conf_t *prev = parent;
    ngx_http_astro_health_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->shed, prev->shed, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_health_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_health_main_conf_t *hmcf = conf;

    size_t       need;
    ssize_t      size;
    ngx_int_t    rc;
    ngx_str_t   *value, name, s, *node, *keep;
    ngx_uint_t   i, history;
    ngx_msec_t   interval, window;

    if (hmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_astro_conf_zone(&value[1], &name, &size) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) NGX_ASTRO_CONF_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    interval = 1000;
    window = 10000;
    history = 300;
    node = NULL;
    keep = NULL;
    hmcf->keep = 3600000;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "interval", &s)) {
            rc = ngx_astro_conf_msec(&s, 100, &interval);

        } else if (ngx_astro_conf_param(&value[i], "window", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &window);

        } else if (ngx_astro_conf_param(&value[i], "history", &s)) {
            rc = ngx_astro_conf_number(&s, 1,
                                       NGX_HTTP_ASTRO_HEALTH_HISTORY_MAX,
                                       &history);

        } else if (ngx_astro_conf_param(&value[i], "redis", &s)) {
            hmcf->redis_url = s;
            rc = s.len ? NGX_OK : NGX_ERROR;

        } else if (ngx_astro_conf_param(&value[i], "node", &s)) {
            if (ngx_http_astro_health_node(cf, hmcf, &value[i])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            node = &value[i];
            rc = NGX_OK;

        } else if (ngx_astro_conf_param(&value[i], "keep", &s)) {
            rc = ngx_astro_conf_msec(&s, 1000, &hmcf->keep);
            keep = &value[i];

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    /* node= and keep= say what the fleet view in Redis is */

    if (hmcf->redis_url.len == 0 && (node || keep)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires \"redis=\"", node ? node : keep);
        return NGX_CONF_ERROR;
    }

    if (hmcf->redis_url.len && hmcf->keep < interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "keep %Mms must hold an interval of %Mms",
                           hmcf->keep, interval);
        return NGX_CONF_ERROR;
    }

    if (window < interval
        || window / interval > NGX_HTTP_ASTRO_HEALTH_SLOTS_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "window %Mms must hold 1 to %d intervals of %Mms",
                           window, NGX_HTTP_ASTRO_HEALTH_SLOTS_MAX, interval);
        return NGX_CONF_ERROR;
    }

    need = ngx_http_astro_health_zone_size(interval, window, history,
                                           hmcf->redis_url.len != 0);

    if ((size_t) size < need) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small for history=%ui and "
                           "%M samples a window%s, at least %uzk is needed",
                           &value[1], history, window / interval,
                           hmcf->redis_url.len ? " and the fleet view" : "",
                           (need + 1023) / 1024);
        return NGX_CONF_ERROR;
    }

    hmcf->name = name;
    hmcf->interval = interval;
    hmcf->window = window;
    hmcf->history = history;

    if (hmcf->redis_url.len) {

        if (node == NULL
            && ngx_http_astro_health_node(cf, hmcf, NULL) != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_astro_health_fleet_conf(cf, hmcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    hmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_astro_health_module);
    if (hmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (hmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    hmcf->shm_zone->init = ngx_http_astro_health_init_zone;
    hmcf->shm_zone->data = hmcf;

    return NGX_CONF_OK;
}


/*
 * The node's name in the fleet view: node=, else the host name, read
 * now; it is in Redis keys and Prometheus labels, so of a few characters.
 */

static char *
ngx_http_astro_health_node(ngx_conf_t *cf,
    ngx_http_astro_health_main_conf_t *hmcf, ngx_str_t *value)
{
    u_char      *p;
    ngx_str_t    name;
    ngx_uint_t   i;

    if (value) {
        (void) ngx_astro_conf_param(value, "node", &name);

    } else {
        name.data = ngx_pnalloc(cf->pool, NGX_MAXHOSTNAMELEN);
        if (name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        if (gethostname((char *) name.data, NGX_MAXHOSTNAMELEN) == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "gethostname() failed");
            return NGX_CONF_ERROR;
        }

        name.data[NGX_MAXHOSTNAMELEN - 1] = '\0';
        name.len = ngx_strlen(name.data);
    }

    for (i = 0; i < name.len; i++) {
        p = &name.data[i];

        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
        {
            break;
        }
    }

    if (name.len == 0 || i < name.len
        || name.len > NGX_HTTP_ASTRO_FLEET_NODE_LEN)
    {
        if (value) {
            return ngx_astro_conf_invalid(cf, value);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid host name \"%V\" for the fleet view, "
                           "set \"node=\"", &name);
        return NGX_CONF_ERROR;
    }

    hmcf->node = name;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_health_threshold(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_health_main_conf_t *hmcf = conf;

    double                      *v;
    ngx_str_t                   *value, s;
    ngx_uint_t                   i;
    ngx_msec_t                   ms;
    ngx_astro_health_figures_t  *f;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "degraded") == 0) {
        f = &hmcf->degraded;

    } else if (ngx_strcmp(value[1].data, "critical") == 0) {
        f = &hmcf->critical;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid level \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "cpu", &s)) {
            v = &f->cpu;

        } else if (ngx_astro_conf_param(&value[i], "memory", &s)) {
            v = &f->memory;

        } else if (ngx_astro_conf_param(&value[i], "error_rate", &s)) {
            v = &f->error_rate;

        } else if (ngx_astro_conf_param(&value[i], "latency", &s)) {
            v = &f->latency;

        } else {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
            *v = NGX_ASTRO_LIMIT_OFF;
            continue;
        }

        /* the latency is a time, the others are percentages */

        if (v == &f->latency) {
            if (ngx_astro_conf_msec(&s, 0, &ms) != NGX_OK) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            *v = (double) ms;
            continue;
        }

        if (ngx_astro_parse_percent(s.data, s.len, v) != 0) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_health_recover(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_health_main_conf_t *hmcf = conf;

    ngx_str_t  *value;

    if (hmcf->recover != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_astro_conf_number(&value[1], 1, 1000, &hmcf->recover) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_health_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_health_main_conf_t *hmcf = conf;

    ngx_str_t  *value;

    if (hmcf->root.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ngx_astro_conf_param(&value[1], "root", &hmcf->root)
        || hmcf->root.len == 0)
    {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    if (ngx_conf_full_name(cf->cycle, &hmcf->root, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the files are opened as root "/proc/stat" */

    while (hmcf->root.len && hmcf->root.data[hmcf->root.len - 1] == '/') {
        hmcf->root.len--;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_health_shed(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_health_loc_conf_t *hlcf = conf;

    double                              share;
    ngx_int_t                           rc;
    ngx_str_t                          *value, s;
    ngx_uint_t                          i;
    ngx_http_astro_health_shed_conf_t  *shed;
    ngx_http_astro_health_main_conf_t  *hmcf;

    if (hlcf->shed != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        hlcf->shed = NULL;
        return NGX_CONF_OK;
    }

    shed = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_health_shed_conf_t));
    if (shed == NULL) {
        return NGX_CONF_ERROR;
    }

    shed->critical_below = 2;
    shed->degraded_below = 2;
    shed->degraded_share = 5000;
    shed->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    shed->retry_after = 30;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "priority", &s) && s.len) {
            shed->priority = ngx_astro_conf_complex(cf, &s);
            if (shed->priority == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "degraded_share", &s)) {
            if (ngx_astro_parse_percent(s.data, s.len, &share) != 0) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            /* in hundredths of a percent */
            shed->degraded_share = (ngx_uint_t) (share * 100 + 0.5);
            continue;
        }

        if (ngx_astro_conf_param(&value[i], "critical_below", &s)) {
            rc = ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE,
                                       &shed->critical_below);

        } else if (ngx_astro_conf_param(&value[i], "degraded_below", &s)) {
            rc = ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE,
                                       &shed->degraded_below);

        } else if (ngx_astro_conf_param(&value[i], "status", &s)) {
            rc = ngx_astro_conf_number(&s, 400, 599, &shed->status);

        } else if (ngx_astro_conf_param(&value[i], "retry_after", &s)) {
            rc = ngx_astro_conf_sec(&s, 0, &shed->retry_after);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (shed->priority == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "priority");
    }

    hlcf->shed = shed;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_health_module);
    hmcf->shed = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_health_init_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_health_main_conf_t  *hmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_health_module);

    if (hmcf == NULL || hmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    /*
     * Every worker has the timer, and the first whose timer fires when a
     * sample is due takes it (ngx_http_astro_health_timer_handler()): so
     * the files are read once per interval, and a worker that exits does
     * not stop the sampling.
     */

    hmcf->timer.handler = ngx_http_astro_health_timer_handler;
    hmcf->timer.data = hmcf;
    hmcf->timer.log = cycle->log;
    hmcf->timer.cancelable = 1;

    ngx_add_timer(&hmcf->timer, 0);

    return ngx_http_astro_health_fleet_init_worker(cycle, hmcf);
}


static void
ngx_http_astro_health_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_health_module);

    if (hmcf && hmcf->shm_zone && hmcf->sh) {
        ngx_http_astro_health_fleet_exit_worker(hmcf);
    }
}

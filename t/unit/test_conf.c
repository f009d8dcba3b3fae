#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "core/conf.h"
#include "core/log.h"
#include "core/units.h"
#include "http/route.h"

/*
 * Each test runs (forked by Check) in a fresh temporary prefix that holds
 * html/, certs/site.pem and certs/site.key, and loads "weir.ini" from
 * there, so error lines read "weir.ini:LINE: ...".
 */

#define CONF_HARNESS_OWN_SETUP
#include "conf_harness.h"

/* html/ and a certificate pair that the [server] and tls keys name. */
static void
setup(void)
{
    conf_harness_setup();
    ck_assert_int_eq(mkdir("html", 0755), 0);
    ck_assert_int_eq(mkdir("certs", 0755), 0);
    write_file("certs/site.pem", "cert\n");
    write_file("certs/site.key", "key\n");
}

/* The smallest valid file, which the error tests extend. */
#define BASE                                                                \
    "[upstream app]\n"                 /* 1 */                              \
    "server = 127.0.0.1:3000\n"        /* 2 */                              \
    "[server s]\n"                     /* 3 */                              \
    "listen = 127.0.0.1:8080\n"        /* 4 */                              \
    "[route r]\n"                      /* 5 */                              \
    "match = /\n"                      /* 6 */                              \
    "upstream = app\n"                 /* 7 */

static const char full_conf[] =
    "; every section, every kind of value\n"                        /* 1 */
    "[main]\n"
    "workers = 3                ; a comment\n"
    "error_log = logs/err.log\n"
    "log_level = info\n"                                            /* 5 */
    "pid = /run/weir-test.pid\n"
    "daemon = off\n"
    "user = nobody\n"
    "group = nogroup\n"
    "shm_size = 64m\n"                                              /* 10 */
    "shutdown_timeout = 10s\n"
    "worker_cpu_affinity = on\n"
    "worker_rlimit_nofile = 65536\n"
    "worker_connections = 2048\n"
    "\n"                                                            /* 15 */
    "[http]\n"
    "access_log = off\n"
    "log_format = $remote_addr \"$request\" $status $http_user_agent\n"
    "keepalive_timeout = 30s\n"
    "keepalive_requests = 500\n"                                    /* 20 */
    "client_header_timeout = 5s\n"
    "client_body_timeout = 20s\n"
    "send_timeout = 1m\n"
    "client_max_body_size = 10m\n"
    "max_header_size = 32k\n"                                       /* 25 */
    "client_body_buffer_size = 8k\n"
    "lingering_timeout = 2500ms\n"
    "server_tokens = off\n"
    "error_page = 502 503 /errors/50x.html\n"
    "mime_types = conf/mime.types\n"                                /* 30 */
    "\n"
    "[upstream app]\n"
    "server = 127.0.0.1:3000 weight=3 max_fails=5 fail_timeout=20s\n"
    "server = [::1]:3001\n"
    "server = 127.0.0.1:3002 backup down\n"                         /* 35 */
    "balance = least_conn\n"
    "keepalive = 16\n"
    "keepalive_timeout = 30s\n"
    "keepalive_requests = 100\n"
    "connect_timeout = 250ms\n"                                     /* 40 */
    "send_timeout = 15s\n"
    "read_timeout = 1h\n"
    "retries = 2\n"
    "retry_on = error timeout http_502 http_503 http_504 http_429\n"
    "retry_non_idempotent = on\n"                                   /* 45 */
    "retry_budget = 10\n"
    "max_fails = 4\n"
    "fail_timeout = 30s\n"
    "health_check = /health\n"
    "health_interval = 2s\n"                                        /* 50 */
    "health_timeout = 1s\n"
    "health_fall = 5\n"
    "health_rise = 4\n"
    "slow_start = 1m\n"
    "panic_threshold = 30\n"                                        /* 55 */
    "\n"
    "[cache main]\n"
    "path = cache\n"
    "levels = 2:1:2\n"
    "max_size = 2g\n"                                               /* 60 */
    "inactive = 1h\n"
    "key = $host$request_uri\n"
    "stale_if_error = 1d\n"
    "stale_while_revalidate = 30s\n"
    "lock_timeout = 250ms\n"                                        /* 65 */
    "max_object_size = 100m\n"
    "\n"
    "[server public]\n"
    "listen = 0.0.0.0:8080\n"
    "listen = *:8443 tls backlog=1024\n"                            /* 70 */
    "listen = [::1]:8080\n"
    "server_name = example.com www.example.com\n"
    "tls_certificate = certs/site.pem\n"
    "tls_certificate_key = certs/site.key\n"
    "\n"                                                            /* 75 */
    "[route api]\n"
    "server = public\n"
    "match = ~ ^/api/(v[0-9]+)/     ; PCRE2\n"
    "upstream = app\n"
    "cache = main\n"                                                /* 80 */
    "host_header = api.internal\n"
    "add_header = X-Frame-Options: DENY\n"
    "add_header = X-Served-By: weir\n"
    "set_header = X-Real-IP: $remote_addr\n"
    "remove_header = Cookie\n"                                      /* 85 */
    "error_page = 502 /errors/api.html\n"
    "client_max_body_size = 0\n"
    "\n"
    "[route assets]\n"
    "match = /assets/\n"                                            /* 90 */
    "root = html\n"
    "index = index.html index.htm\n"
    "\n"
    "[route old]\n"
    "match = = /old\n"                                              /* 95 */
    "return = 301 https://example.com/new\n"
    "\n"
    "[route teapot]\n"
    "match = /tea\n"
    "return = 418 I'm a teapot\n"                                   /* 100 */
    "\n"
    "[admin]\n"
    "listen = 127.0.0.1:9145\n"
    "allow = 10.0.0.0/8 192.168.1.1\n";

START_TEST(full_config_values)
{
    weir_config_errors_t  errs;
    weir_config_t        *cf = load(full_conf, &errs);
    weir_upstream_conf_t *u;
    weir_cache_conf_t    *k;
    weir_server_conf_t   *s;
    weir_route_conf_t    *r;
    char                  path[256];

    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_uint_eq(errs.n, 0);
    ck_assert_str_eq(cf->prefix, tmpdir);
    snprintf(path, sizeof(path), "%s/weir.ini", tmpdir);
    ck_assert_str_eq(cf->file, path);

    ck_assert_int_eq(cf->main.workers, 3);
    snprintf(path, sizeof(path), "%s/logs/err.log", tmpdir);
    ck_assert_str_eq(cf->main.error_log, path);
    ck_assert_int_eq(cf->main.log_level, WEIR_LOG_INFO);
    ck_assert_str_eq(cf->main.pid, "/run/weir-test.pid");
    ck_assert_int_eq(cf->main.daemon, 0);
    ck_assert_str_eq(cf->main.user, "nobody");
    ck_assert_str_eq(cf->main.group, "nogroup");
    ck_assert_int_eq(cf->main.shm_size, 64 << 20);
    ck_assert_int_eq(cf->main.shutdown_timeout, 10000);
    ck_assert_int_eq(cf->main.worker_cpu_affinity, 1);
    ck_assert_int_eq(cf->main.worker_rlimit_nofile, 65536);
    ck_assert_int_eq(cf->main.worker_connections, 2048);

    ck_assert_ptr_null(cf->http.access_log);
    ck_assert_int_eq(cf->http.log_format, WEIR_LOG_FORMAT_CUSTOM);
    ck_assert_str_eq(cf->http.log_format_string,
                     "$remote_addr \"$request\" $status $http_user_agent");
    ck_assert_int_eq(cf->http.keepalive_timeout, 30000);
    ck_assert_int_eq(cf->http.keepalive_requests, 500);
    ck_assert_int_eq(cf->http.client_header_timeout, 5000);
    ck_assert_int_eq(cf->http.client_body_timeout, 20000);
    ck_assert_int_eq(cf->http.send_timeout, 60000);
    ck_assert_int_eq(cf->http.client_max_body_size, 10 << 20);
    ck_assert_int_eq(cf->http.max_header_size, 32 << 10);
    ck_assert_int_eq(cf->http.client_body_buffer_size, 8 << 10);
    ck_assert_int_eq(cf->http.lingering_timeout, 2500);
    ck_assert_ptr_null(cf->http.server_tokens);
    ck_assert_uint_eq(cf->http.nerror_pages, 2);
    ck_assert_int_eq(cf->http.error_pages[1].status, 503);
    ck_assert_str_eq(cf->http.error_pages[1].path, "/errors/50x.html");
    snprintf(path, sizeof(path), "%s/conf/mime.types", tmpdir);
    ck_assert_str_eq(cf->http.mime_types, path);

    ck_assert_uint_eq(cf->nupstreams, 1);
    u = cf->upstreams[0];
    ck_assert_str_eq(u->name, "app");
    ck_assert_str_eq(u->file, "weir.ini");
    ck_assert_int_eq(u->line, 32);
    ck_assert_uint_eq(u->npeers, 3);
    ck_assert_str_eq(u->peers[0].text, "127.0.0.1:3000");
    ck_assert_int_eq(u->peers[0].weight, 3);
    ck_assert_int_eq(u->peers[0].max_fails, 5);
    ck_assert_int_eq(u->peers[0].fail_timeout, 20000);
    ck_assert_str_eq(u->peers[1].text, "[::1]:3001");
    ck_assert_int_eq(u->peers[1].addr.ss_family, AF_INET6);
    ck_assert_int_eq(u->peers[1].weight, 1);
    ck_assert_int_eq(u->peers[1].max_fails, 4);         /* upstream's */
    ck_assert_int_eq(u->peers[1].fail_timeout, 30000);  /* upstream's */
    ck_assert(u->peers[2].backup && u->peers[2].down);
    ck_assert(!u->peers[0].backup && !u->peers[0].down);
    ck_assert_int_eq(u->balance, WEIR_BALANCE_LEAST_CONN);
    ck_assert_int_eq(u->keepalive, 16);
    ck_assert_int_eq(u->keepalive_timeout, 30000);
    ck_assert_int_eq(u->keepalive_requests, 100);
    ck_assert_int_eq(u->connect_timeout, 250);
    ck_assert_int_eq(u->send_timeout, 15000);
    ck_assert_int_eq(u->read_timeout, 3600000);
    ck_assert_int_eq(u->retries, 2);
    ck_assert_uint_eq(u->retry_on, WEIR_RETRY_ERROR | WEIR_RETRY_TIMEOUT
                      | WEIR_RETRY_HTTP_502 | WEIR_RETRY_HTTP_503
                      | WEIR_RETRY_HTTP_504 | WEIR_RETRY_HTTP_429);
    ck_assert_int_eq(u->retry_non_idempotent, 1);
    ck_assert_int_eq(u->retry_budget, 10);
    ck_assert_str_eq(u->health_check, "/health");
    ck_assert_int_eq(u->health_interval, 2000);
    ck_assert_int_eq(u->health_timeout, 1000);
    ck_assert_int_eq(u->health_fall, 5);
    ck_assert_int_eq(u->health_rise, 4);
    ck_assert_int_eq(u->slow_start, 60000);
    ck_assert_int_eq(u->panic_threshold, 30);

    ck_assert_uint_eq(cf->ncaches, 1);
    k = cf->caches[0];
    snprintf(path, sizeof(path), "%s/cache", tmpdir);
    ck_assert_str_eq(k->path, path);
    ck_assert_int_eq(k->nlevels, 3);
    ck_assert_int_eq(k->levels[0], 2);
    ck_assert_int_eq(k->levels[1], 1);
    ck_assert_int_eq(k->levels[2], 2);
    ck_assert_int_eq(k->max_size, (int64_t) 2 << 30);
    ck_assert_int_eq(k->inactive, 3600000);
    ck_assert_str_eq(k->key, "$host$request_uri");
    ck_assert_int_eq(k->stale_if_error, 86400000);
    ck_assert_int_eq(k->stale_while_revalidate, 30000);
    ck_assert_int_eq(k->lock_timeout, 250);
    ck_assert_int_eq(k->max_object_size, 100 << 20);

    ck_assert_uint_eq(cf->http.nservers, 1);
    s = cf->http.servers[0];
    ck_assert_str_eq(s->name, "public");
    ck_assert_uint_eq(s->nlistens, 3);
    ck_assert_str_eq(s->listens[0].text, "0.0.0.0:8080");
    ck_assert(!s->listens[0].tls);
    ck_assert_int_eq(s->listens[0].backlog, 511);
    ck_assert_str_eq(s->listens[1].text, "0.0.0.0:8443");
    ck_assert(s->listens[1].tls);
    ck_assert_int_eq(s->listens[1].backlog, 1024);
    ck_assert_int_eq(s->listens[1].line, 70);
    ck_assert_str_eq(s->listens[2].text, "[::1]:8080");
    ck_assert_uint_eq(s->nserver_names, 2);
    ck_assert_str_eq(s->server_names[1].name, "www.example.com");
    snprintf(path, sizeof(path), "%s/certs/site.key", tmpdir);
    ck_assert_uint_eq(s->ntls_certificate_key, 1);
    ck_assert_str_eq(s->tls_certificate_key[0], path);

    /* routes: file order, all attached to the only server */
    ck_assert_uint_eq(cf->http.nroutes, 4);
    ck_assert_uint_eq(s->nroutes, 4);
    r = s->routes[0];
    ck_assert_ptr_eq(r, cf->http.routes[0]);
    ck_assert_str_eq(r->name, "api");
    ck_assert_int_eq(r->line, 76);
    ck_assert_ptr_eq(r->server, s);
    ck_assert_int_eq(r->match_type, WEIR_MATCH_REGEX);
    ck_assert_str_eq(r->match, "^/api/(v[0-9]+)/");
    ck_assert_int_eq(r->handler, WEIR_ROUTE_PROXY);
    ck_assert_ptr_eq(r->upstream, u);
    ck_assert_ptr_eq(r->cache, k);
    ck_assert_str_eq(r->host_header, "api.internal");
    ck_assert_uint_eq(r->nadd_headers, 2);
    ck_assert_str_eq(r->add_headers[0].name, "X-Frame-Options");
    ck_assert_str_eq(r->add_headers[0].value, "DENY");
    ck_assert_str_eq(r->add_headers[1].value, "weir");
    ck_assert_str_eq(r->set_headers[0].value, "$remote_addr");
    ck_assert_str_eq(r->remove_headers[0].name, "Cookie");
    ck_assert_ptr_null(r->remove_headers[0].value);
    /* own 502 first, then [http]'s 503 (its 502 is overridden) */
    ck_assert_uint_eq(r->nerror_pages, 2);
    ck_assert_str_eq(r->error_pages[0].path, "/errors/api.html");
    ck_assert_int_eq(r->error_pages[1].status, 503);
    ck_assert_int_eq(r->client_max_body_size, 0);

    r = s->routes[1];
    ck_assert_int_eq(r->handler, WEIR_ROUTE_STATIC);
    snprintf(path, sizeof(path), "%s/html", tmpdir);
    ck_assert_str_eq(r->root, path);
    ck_assert_uint_eq(r->nindex, 2);
    ck_assert_str_eq(r->index[1], "index.htm");
    ck_assert_int_eq(r->client_max_body_size, 10 << 20);  /* [http]'s */
    ck_assert_ptr_eq(weir_route_find(s, "/assets/a.css", 13), r);

    r = s->routes[2];
    ck_assert_int_eq(r->handler, WEIR_ROUTE_RETURN);
    ck_assert_int_eq(r->match_type, WEIR_MATCH_EXACT);
    ck_assert_int_eq(r->return_code, 301);
    ck_assert_str_eq(r->return_text, "https://example.com/new");
    ck_assert_str_eq(s->routes[3]->return_text, "I'm a teapot");

    ck_assert(cf->has_admin);
    ck_assert_uint_eq(cf->admin.nlistens, 1);
    ck_assert_str_eq(cf->admin.listens[0].text, "127.0.0.1:9145");
    ck_assert_uint_eq(cf->admin.nallow, 2);
    ck_assert_str_eq(cf->admin.allow[1], "192.168.1.1");
    ck_assert_uint_eq(weir_config_nlistens(cf), 4);
    weir_config_free(cf);
}
END_TEST

START_TEST(defaults)
{
    weir_config_errors_t  errs;
    weir_config_t        *cf = load(BASE, &errs);
    weir_upstream_conf_t *u;
    weir_route_conf_t    *r;
    char                  path[256];

    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->main.workers, sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(path, sizeof(path), "%s/logs/error.log", tmpdir);
    ck_assert_str_eq(cf->main.error_log, path);
    ck_assert_int_eq(cf->main.log_level, WEIR_LOG_NOTICE);
    snprintf(path, sizeof(path), "%s/logs/weir.pid", tmpdir);
    ck_assert_str_eq(cf->main.pid, path);
    ck_assert_int_eq(cf->main.daemon, 1);
    ck_assert_ptr_null(cf->main.user);
    ck_assert_ptr_null(cf->main.group);
    ck_assert_int_eq(cf->main.shm_size, 32 << 20);
    ck_assert_int_eq(cf->main.shutdown_timeout, 30000);
    ck_assert_int_eq(cf->main.worker_cpu_affinity, 0);
    ck_assert_int_eq(cf->main.worker_rlimit_nofile, 0);
    ck_assert_int_eq(cf->main.worker_connections, 10000);

    snprintf(path, sizeof(path), "%s/logs/access.log", tmpdir);
    ck_assert_str_eq(cf->http.access_log, path);
    ck_assert_int_eq(cf->http.log_format, WEIR_LOG_FORMAT_COMBINED);
    ck_assert_int_eq(cf->http.keepalive_timeout, 75000);
    ck_assert_int_eq(cf->http.keepalive_requests, 1000);
    ck_assert_int_eq(cf->http.client_header_timeout, 10000);
    ck_assert_int_eq(cf->http.client_body_timeout, 30000);
    ck_assert_int_eq(cf->http.send_timeout, 60000);
    ck_assert_int_eq(cf->http.client_body_min_rate, 256);
    ck_assert_int_eq(cf->http.send_min_rate, 256);
    ck_assert_int_eq(cf->http.min_rate_window, 20000);
    ck_assert_int_eq(cf->http.client_max_body_size, 1 << 20);
    ck_assert_int_eq(cf->http.max_header_size, 16 << 10);
    ck_assert_int_eq(cf->http.client_body_buffer_size, 16 << 10);
    ck_assert_int_eq(cf->http.lingering_timeout, 5000);
    ck_assert_str_eq(cf->http.server_tokens, "weir");
    ck_assert_uint_eq(cf->http.nerror_pages, 0);
    /* next to the config file; absent is fine at load time */
    snprintf(path, sizeof(path), "%s/mime.types", tmpdir);
    ck_assert_str_eq(cf->http.mime_types, path);

    u = cf->upstreams[0];
    ck_assert_int_eq(u->peers[0].weight, 1);
    ck_assert_int_eq(u->peers[0].max_fails, 3);
    ck_assert_int_eq(u->peers[0].fail_timeout, 10000);
    ck_assert_int_eq(u->balance, WEIR_BALANCE_ROUND_ROBIN);
    ck_assert_ptr_null(u->hash_key);
    ck_assert_int_eq(u->keepalive, 32);
    ck_assert_int_eq(u->keepalive_timeout, 60000);
    ck_assert_int_eq(u->keepalive_requests, 1000);
    ck_assert_int_eq(u->connect_timeout, 2000);
    ck_assert_int_eq(u->send_timeout, 30000);
    ck_assert_int_eq(u->read_timeout, 30000);
    ck_assert_int_eq(u->retries, 1);
    ck_assert_uint_eq(u->retry_on, WEIR_RETRY_ERROR | WEIR_RETRY_TIMEOUT);
    ck_assert_int_eq(u->retry_non_idempotent, 0);
    ck_assert_int_eq(u->retry_budget, 20);
    ck_assert_int_eq(u->max_fails, 3);
    ck_assert_int_eq(u->fail_timeout, 10000);
    ck_assert_ptr_null(u->health_check);
    ck_assert_int_eq(u->health_interval, 5000);
    ck_assert_int_eq(u->health_timeout, 2000);
    ck_assert_int_eq(u->health_fall, 3);
    ck_assert_int_eq(u->health_rise, 2);
    ck_assert_int_eq(u->slow_start, 0);
    ck_assert_int_eq(u->panic_threshold, 50);

    ck_assert_int_eq(cf->http.servers[0]->listens[0].backlog, 511);
    r = cf->http.routes[0];
    ck_assert_ptr_eq(r->server, cf->http.servers[0]);  /* the only one */
    ck_assert_uint_eq(r->nindex, 1);
    ck_assert_str_eq(r->index[0], "index.html");
    ck_assert_int_eq(r->client_max_body_size, 1 << 20);
    ck_assert_ptr_null(r->cache);
    ck_assert(!cf->has_admin);
    ck_assert_uint_eq(cf->ncaches, 0);
    weir_config_free(cf);
}
END_TEST

START_TEST(cache_and_admin_defaults)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_cache_conf_t   *k;
    char                 path[256];

    cf = load(BASE "cache = c\n[cache c]\n[admin]\n[main]\nworkers = auto\n"
              "[upstream h]\nserver = 10.0.0.1:80\nbalance = hash\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    k = cf->caches[0];
    snprintf(path, sizeof(path), "%s/cache/c", tmpdir);
    ck_assert_str_eq(k->path, path);
    ck_assert_int_eq(k->nlevels, 2);
    ck_assert_int_eq(k->levels[0], 1);
    ck_assert_int_eq(k->levels[1], 2);
    ck_assert_int_eq(k->max_size, (int64_t) 1 << 30);
    ck_assert_int_eq(k->inactive, 600000);
    ck_assert_str_eq(k->key, "$scheme://$host:$server_port$normalized_request_uri");
    ck_assert_int_eq(k->stale_if_error, 0);
    ck_assert_int_eq(k->stale_while_revalidate, 0);
    ck_assert_int_eq(k->lock_timeout, 5000);
    ck_assert_int_eq(k->max_object_size, 0);
    ck_assert_ptr_eq(cf->http.routes[0]->cache, k);

    ck_assert(cf->has_admin);
    ck_assert_uint_eq(cf->admin.nlistens, 1);
    ck_assert_str_eq(cf->admin.listens[0].text, "127.0.0.1:9145");
    ck_assert_uint_eq(cf->admin.nallow, 2);
    ck_assert_str_eq(cf->admin.allow[0], "127.0.0.1/32");
    ck_assert_int_eq(cf->main.workers, sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_str_eq(cf->upstreams[1]->hash_key, "$remote_addr");
    weir_config_free(cf);
}
END_TEST

START_TEST(syntax)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    char                 text[1024], line[256];

    /* inline comments need a blank before ';' */
    cf = load("# hash comment\n  ; indented comment\n" BASE
              "[route x]   ; a section comment\n"
              "match = ~ ^/a;b\\.txt$   ; trailing\n"
              "return = 200 ok;fine\n\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_str_eq(cf->http.routes[1]->match, "^/a;b\\.txt$");
    ck_assert_str_eq(cf->http.routes[1]->return_text, "ok;fine");
    weir_config_free(cf);

    /* lines of 199 and 200 characters: inih's limit no longer applies */
    memset(line, 'x', sizeof(line));
    memcpy(line, "; ", 2);
    line[200] = '\0';
    snprintf(text, sizeof(text), "%s\n%s", line, BASE);
    cf = load(text, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    weir_config_free(cf);
}
END_TEST

/* '#' starts an inline comment exactly where ';' does: after a blank. */
START_TEST(syntax_hash_comments)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    cf = load(BASE "[route x]  # a section comment\n"
              "match = ~ ^/a#b   # a regex with '#'\n"
              "return = 301 https://example.com/#top\t# tab before\n"
              "[route y]\n"
              "match = = /y # note\n"
              "return = 200 a#1;x # cut here\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_str_eq(cf->http.routes[1]->match, "^/a#b");
    ck_assert_int_eq(cf->http.routes[1]->return_code, 301);
    ck_assert_str_eq(cf->http.routes[1]->return_text,
                     "https://example.com/#top");
    ck_assert_str_eq(cf->http.routes[2]->match, "/y");
    ck_assert_str_eq(cf->http.routes[2]->return_text, "a#1;x");
    weir_config_free(cf);
}
END_TEST

/* Long values: on one line, or continued with a trailing backslash. */
START_TEST(syntax_long_values)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    char                *text, *fmt, *p;
    size_t               i;

    /* a 600-character log_format on one line */
    fmt = malloc(700);
    text = malloc(2 * WEIR_CONF_LINE_MAX);
    ck_assert(fmt && text);
    p = fmt;
    for (i = 0; p - fmt < 600; i++) {
        p += sprintf(p, "%s$upstream_addr", i ? " " : "");
    }
    snprintf(text, 1024, "[http]\nlog_format = %s\n" BASE, fmt);
    cf = load(text, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_str_eq(cf->http.log_format_string, fmt);
    weir_config_free(cf);

    /* continuation: blanks before '\' kept, leading blanks dropped,
     * comment lines skipped, errors name the first line */
    cf = load("[http]\n"
              "log_format = $status \\\n"
              "    $upstream_addr|\\   ; a comment after the backslash\n"
              "; a comment line inside\n"
              "\t$upstream_status\n"
              "access_log = logs/a.log\n" BASE, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_str_eq(cf->http.log_format_string,
                     "$status $upstream_addr|$upstream_status");
    p = cf->http.access_log;
    ck_assert_str_eq(p + strlen(p) - 10, "logs/a.log");
    weir_config_free(cf);

    ck_load_error("[http]\n"
                  "log_format = $status \\\n"
                  "   $nope\n" BASE,
                  "weir.ini:2: [http] log_format: unknown variable");
    ck_load_error("[http]\n"
                  "log_format = $status \\\n"
                  "   $status\n"
                  "bogus = 1\n" BASE,
                  "weir.ini:4: [http] bogus: unknown key");
    /* a blank line ends the value */
    ck_load_error("[http]\n"
                  "log_format = $status \\\n"
                  "\n"
                  "   $status\n" BASE,
                  "weir.ini:4: expected");

    /* over-long: a physical line, and a joined value */
    memset(text, 'x', WEIR_CONF_LINE_MAX + 100);
    memcpy(text, "[main]\nuser = ", 14);
    strcpy(text + WEIR_CONF_LINE_MAX + 100, "\n");
    ck_load_error(text, "weir.ini:2: line too long (max 8192 characters");
    p = text + sprintf(text, "[main]\nuser = \\\n");
    for (i = 0; i < 100; i++) {
        p += sprintf(p, "%0100d\\\n", 0);
    }
    strcpy(p, BASE);
    ck_load_error(text, "weir.ini:2: line too long (max 8192 characters, "
                  "continuation lines included)");
    free(text);
    free(fmt);
}
END_TEST

START_TEST(errors_structure)
{
    ck_load_error(BASE "[main]\nfoo = 1\n", "weir.ini:9: [main] foo: "
                  "unknown key");
    ck_load_error(BASE "[bogus]\nx = 1\n", "weir.ini:8: unknown section "
                  "[bogus]");
    ck_load_error(BASE "[main]\nuser = a\nuser = b\n", "weir.ini:10: [main] "
                  "user: duplicate key, first set at line 9");
    ck_load_error(BASE "[upstream app]\nserver = 127.0.0.1:1\n",
                  "weir.ini:8: duplicate section [upstream app], first at "
                  "line 1");
    ck_load_error(BASE "[main]\n[main]\n", "weir.ini:9: duplicate section "
                  "[main], first at line 8");
    ck_load_error(BASE "[main]\nworkers\n", "weir.ini:9: expected \"key = "
                  "value\", got \"workers\"");
    ck_load_error(BASE "[main]\nuser: nobody\n", "weir.ini:9: expected");
    ck_load_error("user = x\n" BASE, "weir.ini:1: \"user = x\" outside of "
                  "any section");
    ck_load_error(BASE "[upstream]\n", "weir.ini:8: section [upstream] needs "
                  "a name");
    ck_load_error(BASE "[main x]\n", "weir.ini:8: section [main] takes no "
                  "name");
    ck_load_error(BASE "[main\n", "weir.ini:8: missing ']'");
    ck_load_error(BASE "[main]\nuser =\n", "weir.ini:9: [main] user: "
                  "missing value");
}
END_TEST

START_TEST(errors_values)
{
    ck_load_error(BASE "[main]\nshm_size = 1.5m\n", "weir.ini:9: [main] "
                  "shm_size: invalid size \"1.5m\"");
    ck_load_error(BASE "[main]\nshm_size = -1\n", "weir.ini:9: [main] "
                  "shm_size: invalid size \"-1\"");
    ck_load_error(BASE "[main]\nshm_size = k\n", "weir.ini:9: [main] "
                  "shm_size: invalid size \"k\"");
    ck_load_error(BASE "[main]\nshm_size = 99999999999g\n", "weir.ini:9: "
                  "[main] shm_size: invalid size");
    ck_load_error(BASE "[main]\nshm_size = 512k\n", "weir.ini:9: [main] "
                  "shm_size: \"512k\" is out of range (min 1m)");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\n"
                  "connect_timeout = 5x\n", "weir.ini:10: [upstream b] "
                  "connect_timeout: invalid time \"5x\"");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\nretries = 101\n",
                  "weir.ini:10: [upstream b] retries: \"101\" is out of "
                  "range (0..100)");
    ck_load_error(BASE "[main]\ndaemon = yes\n", "weir.ini:9: [main] daemon: "
                  "invalid value \"yes\", expected on or off");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\n"
                  "balance = fastest\n", "weir.ini:10: [upstream b] balance: "
                  "invalid value \"fastest\", expected round_robin | "
                  "least_conn | hash | random");
    ck_load_error(BASE "[main]\nlog_level = loud\n", "weir.ini:9: [main] "
                  "log_level: invalid level \"loud\"");
    ck_load_error(BASE "[main]\nworkers = 0\n", "weir.ini:9: [main] workers: "
                  "invalid value \"0\", expected auto");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\n"
                  "retry_on = error http_418\n", "weir.ini:10: [upstream b] "
                  "retry_on: unknown condition \"http_418\"");
    ck_load_error(BASE "[cache c]\nlevels = 1:3\n", "weir.ini:9: [cache c] "
                  "levels: invalid levels \"1:3\"");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\n"
                  "health_check = health\n", "weir.ini:10: [upstream b] "
                  "health_check: \"health\" must be a path");
    ck_load_error(BASE "[http]\nmin_rate_window = 500ms\n", "weir.ini:9: "
                  "[http] min_rate_window: \"500ms\" is out of range");
    ck_load_error(BASE "[http]\nsend_min_rate = fast\n", "weir.ini:9: "
                  "[http] send_min_rate: invalid size \"fast\"");
    ck_load_error(BASE "[http]\nclient_body_min_rate = -1\n", "weir.ini:9: "
                  "[http] client_body_min_rate: invalid size \"-1\"");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 204\n"
                  "allow = 10.0.0.1/40\n", "weir.ini:11: [route x] allow: "
                  "invalid address \"10.0.0.1/40\"");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 204\n"
                  "deny = localhost\n", "weir.ini:11: [route x] deny: "
                  "invalid address \"localhost\"");
}
END_TEST

START_TEST(errors_addresses)
{
    ck_load_error(BASE "listen = 1.2.3:80\n", "weir.ini:8: [route r] listen: "
                  "unknown key");
    ck_load_error(BASE "[server t]\nlisten = 1.2.3:80\n", "weir.ini:9: "
                  "[server t] listen: invalid address \"1.2.3\"");
    ck_load_error(BASE "[server t]\nlisten = 0.0.0.0:70000\n", "weir.ini:9: "
                  "[server t] listen: invalid port \"70000\" (expected "
                  "1..65535)");
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.2:0\n", "weir.ini:9: "
                  "[server t] listen: invalid port \"0\"");
    ck_load_error(BASE "[server t]\nlisten = [::1:80\n", "weir.ini:9: "
                  "[server t] listen: invalid address");
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.2:80 ssl\n",
                  "weir.ini:9: [server t] listen: invalid listen option "
                  "\"ssl\"");
    ck_load_error(BASE "[admin]\nlisten = 127.0.0.1:9 tls\n", "weir.ini:9: "
                  "[admin] listen: tls is not supported");
    ck_load_error(BASE "[upstream b]\nserver = nonexistent.invalid:3000\n",
                  "weir.ini:9: [upstream b] server: cannot resolve "
                  "\"nonexistent.invalid\": ");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1\n", "weir.ini:9: "
                  "[upstream b] server: invalid address");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1 weigth=2\n",
                  "weir.ini:9: [upstream b] server: unknown server option "
                  "\"weigth=2\"");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1 weight=0\n",
                  "weir.ini:9: [upstream b] server: invalid number in "
                  "\"weight=0\"");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1\n"
                  "server = 127.0.0.1:1 backup\n", "weir.ini:10: [upstream b] "
                  "server: duplicate server 127.0.0.1:1");
    ck_load_error(BASE "[admin]\nallow = 10.0.0.0/33\n", "weir.ini:9: "
                  "[admin] allow: invalid address \"10.0.0.0/33\"");
}
END_TEST

START_TEST(errors_routes)
{
    ck_load_error(BASE "[route x]\nmatch = /x\n", "weir.ini:8: [route x]: no "
                  "handler: set one of root, return or upstream");
    ck_load_error(BASE "[route x]\nmatch = /x\nroot = html\nupstream = app\n",
                  "weir.ini:8: [route x]: several handlers (root, upstream)");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 204\nupstream = app\n"
                  "root = html\n", "weir.ini:8: [route x]: several handlers "
                  "(root, return, upstream)");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 204\nupstream = app\n",
                  "weir.ini:8: [route x]: several handlers (return, upstream)");
    ck_load_error(BASE "[route x]\nupstream = app\n", "weir.ini:8: [route x] "
                  "match: missing");
    ck_load_error(BASE "[route x]\nmatch = /x\nupstream = nope\n",
                  "weir.ini:10: [route x] upstream: unknown upstream "
                  "\"nope\"");
    ck_load_error(BASE "[route x]\nmatch = /x\nupstream = app\ncache = nope\n",
                  "weir.ini:11: [route x] cache: unknown cache \"nope\"");
    ck_load_error(BASE "[route x]\nmatch = /x\nserver = nope\n"
                  "upstream = app\n",
                  "weir.ini:10: [route x] server: unknown server \"nope\"");
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.1:81\n[route x]\n"
                  "match = /x\nupstream = app\n", "weir.ini:10: [route x] "
                  "server: missing: there are 2 [server] sections");
    ck_load_error(BASE "[cache c]\n[route x]\nmatch = /x\nroot = html\n"
                  "cache = c\n", "weir.ini:12: [route x] cache: requires "
                  "upstream");
    ck_load_error(BASE "[route x]\nmatch = /x\nroot = nowhere\n",
                  "weir.ini:10: [route x] root: \"");
    ck_load_error(BASE "[route x]\nmatch = ~ ^/(a\nupstream = app\n",
                  "weir.ini:9: [route x] match: regex error at offset 4: "
                  "missing closing parenthesis");
    ck_load_error(BASE "[route x]\nmatch = x\nupstream = app\n",
                  "weir.ini:9: [route x] match: invalid match \"x\"");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 99\n", "weir.ini:10: "
                  "[route x] return: invalid status \"99\" (expected "
                  "200..599)");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 301 moved\n",
                  "weir.ini:10: [route x] return: return 301 needs a URL");
    ck_load_error(BASE "[route x]\nmatch = /x\nreturn = 302\n",
                  "weir.ini:10: [route x] return: return 302 needs a URL");
    ck_load_error(BASE "add_header = X Bad: v\n", "weir.ini:8: [route r] "
                  "add_header: invalid header name \"X Bad\"");
    ck_load_error(BASE "set_header = X-Ok\n", "weir.ini:8: [route r] "
                  "set_header: expected \"Name: value\"");
    ck_load_error(BASE "remove_header = Bad(\n", "weir.ini:8: [route r] "
                  "remove_header: invalid header name \"Bad(\"");
    ck_load_error(BASE "set_header = X-Who: $ssl_client_nope\n",
                  "weir.ini:8: [route r] set_header: unknown variable "
                  "\"$ssl_client_nope\"");
    ck_load_error(BASE "set_header = Content-Length: 5\n", "weir.ini:8: "
                  "[route r] set_header: \"Content-Length\" frames the "
                  "message");
    ck_load_error(BASE "add_header = transfer-encoding: chunked\n",
                  "weir.ini:8: [route r] add_header: \"transfer-encoding\" "
                  "frames the message");
    ck_load_error(BASE "error_page = 502 x.html\n", "weir.ini:8: [route r] "
                  "error_page: expected \"CODE... /path\"");
    ck_load_error(BASE "error_page = 200 /x.html\n", "weir.ini:8: [route r] "
                  "error_page: invalid status \"200\"");
    ck_load_error(BASE "[http]\nlog_format = $remote_addr $bogus_var\n",
                  "weir.ini:9: [http] log_format: unknown variable "
                  "\"$bogus_var\"");
    ck_load_error(BASE "[http]\nlog_format = cost $ 5\n", "weir.ini:9: "
                  "[http] log_format: '$' without a variable name");
}
END_TEST

START_TEST(errors_cross)
{
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.1:8081\n"
                  "listen = 127.0.0.1:8081\n",
                  "weir.ini:10: [server t] listen: 127.0.0.1:8081 conflicts "
                  "with 127.0.0.1:8081 of [server t] at line 9");
    ck_load_error(BASE "[server t]\nlisten = *:8080\n", "weir.ini:9: "
                  "[server t] listen: 0.0.0.0:8080 conflicts with "
                  "127.0.0.1:8080 of [server s]");
    ck_load_error(BASE "listen = 127.0.0.1:9145\n", "weir.ini:8: [route r] "
                  "listen: unknown key");
    ck_load_error(BASE "[admin]\nlisten = 127.0.0.1:8080\n", "weir.ini:9: "
                  "[admin] listen: 127.0.0.1:8080 conflicts with "
                  "127.0.0.1:8080 of [server s] at line 4");
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.1:443 tls\n",
                  "weir.ini:8: [server t] tls_certificate: missing (required "
                  "by \"listen = 127.0.0.1:443 tls\" at line 9)");
    ck_load_error(BASE "[server t]\nlisten = 127.0.0.1:443 tls\n"
                  "tls_certificate = certs/site.pem\n"
                  "tls_certificate_key = certs/nope.key\n",
                  "weir.ini:11: [server t] tls_certificate_key: cannot read "
                  "\"");
    ck_load_error(BASE "[server t]\n", "weir.ini:8: [server t] listen: "
                  "missing: a server needs at least one listen");
    ck_load_error(BASE "[upstream b]\n", "weir.ini:8: [upstream b] server: "
                  "missing");
    ck_load_error(BASE "[upstream b]\nserver = 127.0.0.1:1 backup\n",
                  "weir.ini:9: [upstream b] server: only backup servers");
    ck_load_error(BASE "[cache a]\npath = c\n[cache b]\npath = c\n",
                  "weir.ini:11: [cache b] path: ");
}
END_TEST

START_TEST(all_errors_reported)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    cf = load("[main]\n"                              /* 1 */
              "workers = many\n"                      /* 2 */
              "shm_size = 10q\n"                      /* 3 */
              "[upstream app]\n"                      /* 4 */
              "connect_timeout = 5x\n"                /* 5 */
              "server = 127.0.0.1:3000\n"             /* 6 */
              "[nope]\n"                              /* 7 */
              "ignored = yes\n"                       /* 8 */
              "[server s]\n"                          /* 9 */
              "listen = 127.0.0.1:8080\n"             /* 10 */
              "[route r]\n"                           /* 11 */
              "match = /\n"                           /* 12 */
              "upstream = missing\n",                 /* 13 */
              &errs);
    ck_assert_ptr_null(cf);
    ck_assert_msg(errs.n == 5, "%s", all_errors(&errs));
    ck_assert(has_error(&errs, "weir.ini:2: [main] workers: invalid value"));
    ck_assert(has_error(&errs, "weir.ini:3: [main] shm_size: invalid size "
                        "\"10q\""));
    ck_assert(has_error(&errs, "weir.ini:5: [upstream app] connect_timeout: "
                        "invalid time \"5x\""));
    ck_assert(has_error(&errs, "weir.ini:7: unknown section [nope]"));
    ck_assert(has_error(&errs, "weir.ini:13: [route r] upstream: unknown "
                        "upstream \"missing\""));
    weir_config_errors_free(&errs);
    ck_assert_uint_eq(errs.n, 0);
}
END_TEST

START_TEST(missing_file)
{
    weir_config_errors_t errs;

    memset(&errs, 0, sizeof(errs));
    ck_assert_ptr_null(weir_config_load("nope.ini", tmpdir, &errs));
    ck_assert_uint_eq(errs.n, 1);
    ck_assert_str_eq(errs.lines[0], "nope.ini: cannot open: No such file or "
                     "directory");
    weir_config_errors_free(&errs);
}
END_TEST

START_TEST(dump_round_trip)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    char                *d1, *d2;

    cf = load(full_conf, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_ptr_nonnull(strstr(d1, "\nconnect_timeout = 250ms\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nmax_size = 2g\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nmatch = ~ ^/api/(v[0-9]+)/\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nserver = public\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\n; hash_key is not set\n"));

    memset(&errs, 0, sizeof(errs));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    ck_assert_int_eq(again->upstreams[0]->peers[1].max_fails, 4);
    ck_assert_uint_eq(again->http.routes[0]->nerror_pages, 2);
    ck_assert_int_eq(again->main.workers, 3);
    weir_config_free(again);
    weir_config_free(cf);

    /* and the defaults-only file, which prints every default */
    cf = load(BASE, &errs);
    ck_assert_ptr_nonnull(cf);
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_ptr_nonnull(strstr(d1, "\nkeepalive_timeout = 75s\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nshm_size = 32m\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nlog_format = combined\n"));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

START_TEST(gzip_keys)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    weir_route_conf_t   *r;
    char                *d1, *d2;

    /* defaults: off, level 1, 256 bytes, the built-in types */
    cf = load(BASE, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    r = cf->http.routes[0];
    ck_assert_int_eq(r->gzip, 0);
    ck_assert_int_eq(r->gzip_level, 1);
    ck_assert_int_eq(r->gzip_min_length, 256);
    ck_assert_ptr_null(r->gzip_types);
    ck_assert_int_eq(r->gzip_static, WEIR_GZIP_STATIC_OFF);
    weir_config_free(cf);

    cf = load(BASE "gzip = on\ngzip_level = 9\ngzip_min_length = 1k\n"
              "gzip_types = text/* application/json\n"
              "gzip_types = image/svg+xml *\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    r = cf->http.routes[0];
    ck_assert_int_eq(r->gzip, 1);
    ck_assert_int_eq(r->gzip_level, 9);
    ck_assert_int_eq(r->gzip_min_length, 1024);
    ck_assert_uint_eq(r->ngzip_types, 4);
    ck_assert_str_eq(r->gzip_types[0], "text/*");
    ck_assert_str_eq(r->gzip_types[3], "*");
    d1 = dump_to(cf, "dump1.ini");
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    ck_assert_uint_eq(again->http.routes[0]->ngzip_types, 4);
    weir_config_free(again);
    weir_config_free(cf);

    ck_load_error(BASE "gzip = maybe\n", "weir.ini:8: [route r] gzip: ");
    /* gzip_static: a static route's key; on a proxy route, an error */
    ck_load_error(BASE "gzip_static = on\n",
                  "weir.ini:8: [route r] gzip_static: requires root");
    ck_load_error(BASE "gzip_static = maybe\n",
                  "weir.ini:8: [route r] gzip_static: ");
    ck_load_error(BASE "gzip = on\ngzip_level = 0\n",
                  "weir.ini:9: [route r] gzip_level: ");
    ck_load_error(BASE "gzip = on\ngzip_level = 10\n",
                  "weir.ini:9: [route r] gzip_level: ");
    ck_load_error(BASE "gzip = on\ngzip_min_length = -1\n",
                  "weir.ini:9: [route r] gzip_min_length: ");
    ck_load_error(BASE "gzip_types = text/html\n",
                  "weir.ini:8: [route r] gzip_types: requires gzip = on");
    ck_load_error(BASE "gzip = on\ngzip_types = text\n",
                  "weir.ini:9: [route r] gzip_types: \"text\" is not a media");
    ck_load_error(BASE "gzip = on\ngzip_types = */html\n",
                  "weir.ini:9: [route r] gzip_types: \"*/html\" is not a");
    ck_load_error(BASE "gzip = on\ngzip_types = text/\n",
                  "weir.ini:9: [route r] gzip_types: \"text/\" is not a");
    ck_load_error(BASE "gzip = on\ngzip_types = a/b/c\n",
                  "weir.ini:9: [route r] gzip_types: \"a/b/c\" is not a");
}
END_TEST

START_TEST(listen_forms)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_server_conf_t  *s;

    cf = load("[server s]\nlisten = :8080\nlisten = 127.0.0.1:81\n"
              "listen = 82\nlisten = [::]:8080\n[route r]\nmatch = /\n"
              "return = 204\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    s = cf->http.servers[0];
    ck_assert_str_eq(s->listens[0].text, "0.0.0.0:8080");
    ck_assert_int_eq(s->listens[0].addr.ss_family, AF_INET);
    ck_assert_str_eq(s->listens[2].text, "0.0.0.0:82");
    ck_assert_str_eq(s->listens[3].text, "[::]:8080");
    ck_assert_ptr_null(cf->http.routes[0]->return_text);
    weir_config_free(cf);
}
END_TEST

static Suite *
conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, full_config_values);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, cache_and_admin_defaults);
    tcase_add_test(tc, syntax);
    tcase_add_test(tc, syntax_hash_comments);
    tcase_add_test(tc, syntax_long_values);
    tcase_add_test(tc, errors_structure);
    tcase_add_test(tc, errors_values);
    tcase_add_test(tc, errors_addresses);
    tcase_add_test(tc, errors_routes);
    tcase_add_test(tc, errors_cross);
    tcase_add_test(tc, all_errors_reported);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, dump_round_trip);
    tcase_add_test(tc, listen_forms);
    tcase_add_test(tc, gzip_keys);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#include "weir_config.h"
#include "http/access_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/wtime.h"
#include "event/loop.h"
#include "http/gzip.h"
#include "http/vars.h"

#define LOG_BUF_SIZE   65536
#define LOG_LINE_MAX   8192

enum var_id {
    V_LITERAL = 0, V_REMOTE_ADDR, V_TIME_LOCAL, V_TIME_ISO8601, V_REQUEST,
    V_STATUS, V_BODY_BYTES_SENT, V_BYTES_SENT, V_REQUEST_TIME,
    V_UPSTREAM_ADDR, V_UPSTREAM_STATUS, V_UPSTREAM_CONNECT_TIME,
    V_UPSTREAM_RESPONSE_TIME, V_CACHE_STATUS, V_RETRIES, V_REQUEST_ID,
    V_HOST, V_REQUEST_URI, V_REQUEST_METHOD, V_URI, V_NORMALIZED_REQUEST_URI,
    V_ARGS, V_SERVER_NAME, V_REMOTE_USER, V_ERROR_CODE, V_REALIP_REMOTE_ADDR,
    V_SCHEME, V_SERVER_PORT, V_GZIP_RATIO, V_LIMIT_STATUS, V_HTTP, V_TLS,
    V_PID, V_UPSTREAM_TLS_RESUMED
};

static const struct {
    const char *name;
    int         id;
} vars[] = {
    { "remote_addr", V_REMOTE_ADDR },
    { "time_local", V_TIME_LOCAL },
    { "time_iso8601", V_TIME_ISO8601 },
    { "request", V_REQUEST },
    { "status", V_STATUS },
    { "body_bytes_sent", V_BODY_BYTES_SENT },
    { "bytes_sent", V_BYTES_SENT },
    { "request_time", V_REQUEST_TIME },
    { "upstream_addr", V_UPSTREAM_ADDR },
    { "upstream_status", V_UPSTREAM_STATUS },
    { "upstream_connect_time", V_UPSTREAM_CONNECT_TIME },
    { "upstream_response_time", V_UPSTREAM_RESPONSE_TIME },
    { "upstream_tls_resumed", V_UPSTREAM_TLS_RESUMED },
    { "cache_status", V_CACHE_STATUS },
    { "retries", V_RETRIES },
    { "request_id", V_REQUEST_ID },
    { "host", V_HOST },
    { "request_uri", V_REQUEST_URI },
    { "request_method", V_REQUEST_METHOD },
    { "uri", V_URI },
    { "normalized_request_uri", V_NORMALIZED_REQUEST_URI },
    { "args", V_ARGS },
    { "server_name", V_SERVER_NAME },
    { "remote_user", V_REMOTE_USER },
    { "error_code", V_ERROR_CODE },
    { "realip_remote_addr", V_REALIP_REMOTE_ADDR },
    { "scheme", V_SCHEME },
    { "server_port", V_SERVER_PORT },
    { "gzip_ratio", V_GZIP_RATIO },
    { "limit_status", V_LIMIT_STATUS },
    { "pid", V_PID },
};

typedef struct segment_s {
    int         id;
    const char *text;       /* literal, or the header name for V_HTTP */
    size_t      len;
} segment_t;

/* A line being built: appends that do not fit are refused, never cut
 * through the end (STYLE 28). */
typedef struct line_s {
    char   *p;
    size_t  n;
    size_t  cap;
} line_t;

static weir_log_file_t *log_file;
static int              format;
static segment_t       *segs;       /* the compiled format, malloc'ed */
static size_t           nsegs;
static char            *buf;
static size_t           buf_len;
static weir_event_t     flush_ev;

static int compile(const char *fmt);
static int var_lookup(const char *name, size_t len, segment_t *seg);
static weir_str_t var_value(weir_request_t *r, const segment_t *s,
    char *scratch, size_t cap);
static size_t put_escaped(char *p, size_t cap, weir_str_t v, int json);
static int line_put(line_t *l, const char *data, size_t len);
static void write_text(weir_request_t *r, line_t *l);
static void write_json(weir_request_t *r, line_t *l);
static void json_value(line_t *l, weir_str_t v, int type, size_t reserve);
static void flush_handler(weir_event_t *ev);

static const char combined[] =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/*
 * The json format: the same keys on every line, in this order, each with
 * one JSON type so that log pipelines can rely on it (weir.ini(5), LOGS):
 * a number, a string, or for upstream_addrs an array of strings; null
 * when the value does not apply (no upstream, no such header...). After
 * retries $upstream_addr is "a:1, b:2": json has the last peer in
 * upstream_addr (the one upstream_status is from) and all in order in
 * upstream_addrs.
 */
enum json_type { J_STR = 0, J_NUM, J_ADDRS, J_LAST };

static const struct {
    const char *key;
    const char *var;        /* the variable giving its value */
    int         type;
} json_fields[] = {
    { "time", "time_iso8601", J_STR },
    { "remote_addr", "remote_addr", J_STR },
    { "request", "request", J_STR },
    { "status", "status", J_NUM },
    { "body_bytes_sent", "body_bytes_sent", J_NUM },
    { "request_time", "request_time", J_NUM },
    { "request_id", "request_id", J_STR },
    { "host", "host", J_STR },
    { "http_referer", "http_referer", J_STR },
    { "http_user_agent", "http_user_agent", J_STR },
    { "upstream_addr", "upstream_addr", J_LAST },     /* the last try */
    { "upstream_addrs", "upstream_addr", J_ADDRS },   /* every try */
    { "upstream_status", "upstream_status", J_NUM },  /* the last try */
    { "upstream_connect_time", "upstream_connect_time", J_NUM },
    { "upstream_response_time", "upstream_response_time", J_NUM },
    { "cache_status", "cache_status", J_STR },
    { "retries", "retries", J_NUM },
    { "error_code", "error_code", J_STR }
};

/* Room kept for each json field still to come, so that a long value is
 * cut rather than the line: `,"upstream_response_time":null` and the
 * closing brace fit in it. */
#define JSON_FIELD_ROOM  48

int
weir_access_log_var_known(const char *name, size_t len)
{
    segment_t s;

    return var_lookup(name, len, &s) == WEIR_OK;
}

static int
var_lookup(const char *name, size_t len, segment_t *seg)
{
    size_t i;

    if (len > 5 && memcmp(name, "http_", 5) == 0) {
        seg->id = V_HTTP;
        seg->text = name + 5;
        seg->len = len - 5;
        return WEIR_OK;
    }
    if (len == 4 && memcmp(name, "time", 4) == 0) {
        seg->id = V_TIME_ISO8601;
        return WEIR_OK;
    }
    if (weir_http_vars_is_tls(name, len)) {
        seg->id = V_TLS;
        seg->text = name;
        seg->len = len;
        return WEIR_OK;
    }
    for (i = 0; i < weir_nelems(vars); i++) {
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0) {
            seg->id = vars[i].id;
            seg->text = NULL;
            seg->len = 0;
            return WEIR_OK;
        }
    }
    return WEIR_ERROR;
}

/* Compile fmt into segs: sized for the format (a variable and the literal
 * after it per '$', plus a leading literal), so a long log_format that
 * `weir -t` accepted never fails here for want of room. */
static int
compile(const char *fmt)
{
    const char *p = fmt, *start;
    size_t      max = 1;

    for (p = fmt; (p = strchr(p, '$')) != NULL; p++) {
        max += 2;
    }
    free(segs);
    segs = calloc(max, sizeof(*segs));
    if (segs == NULL) {
        return WEIR_ERROR;
    }
    p = fmt;
    nsegs = 0;
    while (*p) {
        if (nsegs == max) {
            return WEIR_ERROR;
        }
        if (*p == '$') {
            start = ++p;
            while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                   || *p == '_' || (*p >= 'A' && *p <= 'Z')) {
                p++;
            }
            if (var_lookup(start, (size_t) (p - start), &segs[nsegs])
                != WEIR_OK) {
                return WEIR_ERROR;
            }
            nsegs++;
            continue;
        }
        start = p;
        while (*p && *p != '$') {
            p++;
        }
        segs[nsegs].id = V_LITERAL;
        segs[nsegs].text = start;
        segs[nsegs].len = (size_t) (p - start);
        nsegs++;
    }
    return WEIR_OK;
}

int
weir_access_log_init(const weir_http_conf_t *conf, weir_log_file_t *file)
{
    size_t i;

    log_file = file;
    if (file == NULL) {
        return WEIR_OK;
    }
    format = conf->log_format;
    if (format == WEIR_LOG_FORMAT_JSON) {
        nsegs = weir_nelems(json_fields);
        segs = calloc(nsegs, sizeof(*segs));
        if (segs == NULL) {
            return WEIR_ERROR;
        }
        for (i = 0; i < nsegs; i++) {
            (void) var_lookup(json_fields[i].var, strlen(json_fields[i].var),
                              &segs[i]);
        }
    } else if (compile(format == WEIR_LOG_FORMAT_CUSTOM
                           ? conf->log_format_string : combined) != WEIR_OK) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0,
                       "invalid access log format");
        return WEIR_ERROR;
    }
    buf = malloc(LOG_BUF_SIZE);
    if (buf == NULL) {
        return WEIR_ERROR;
    }
    buf_len = 0;
    flush_ev.handler = flush_handler;
    return WEIR_OK;
}

/* The value of one variable; data NULL when it does not apply (the text
 * formats print "-", json null). */
static weir_str_t
var_value(weir_request_t *r, const segment_t *s, char *scratch, size_t cap)
{
    weir_str_t                v = { 0, NULL };
    const weir_http_header_t *h;
    int                       n = -1;

    switch (s->id) {
    case V_LITERAL:
        v.data = s->text;
        v.len = s->len;
        return v;
    case V_REMOTE_ADDR:
        v.data = r->c->addr_text;
        v.len = strlen(r->c->addr_text);
        return v;
    case V_REALIP_REMOTE_ADDR:
        /* The socket's peer: the balancer when a PROXY protocol header
         * gave $remote_addr the client behind it. */
        v.data = r->hc->peer_addr ? r->hc->peer_addr : r->c->addr_text;
        v.len = strlen(v.data);
        return v;
    case V_TIME_LOCAL:
        v.data = weir_cached_log_time;
        v.len = strlen(v.data);
        return v;
    case V_TIME_ISO8601:
        v.data = weir_cached_iso8601;
        v.len = strlen(v.data);
        return v;
    case V_REQUEST:
        if (r->request_line.len) {
            return r->request_line;
        }
        return v;
    case V_STATUS:
        n = snprintf(scratch, cap, "%d", r->status);
        break;
    case V_BODY_BYTES_SENT:
        n = snprintf(scratch, cap, "%llu",
                     (unsigned long long) r->body_bytes_sent);
        break;
    case V_BYTES_SENT:
        n = snprintf(scratch, cap, "%llu", (unsigned long long) r->bytes_sent);
        break;
    case V_REQUEST_TIME: {
        weir_msec_t ms = weir_current_msec - r->start_msec;
        n = snprintf(scratch, cap, "%lld.%03lld", (long long) (ms / 1000),
                     (long long) (ms % 1000));
        break;
    }
    case V_RETRIES:
        n = snprintf(scratch, cap, "%d", r->retries);
        break;
    case V_GZIP_RATIO:
        n = (int) weir_gzip_ratio(r, scratch, cap);
        break;
    case V_PID:
        /* the worker that served the request (TLS resumption across
         * workers, a worker's share of the load) */
        n = snprintf(scratch, cap, "%ld", (long) getpid());
        break;
    case V_UPSTREAM_ADDR:
        if (r->upstream_addr) {
            v.data = r->upstream_addr;
            v.len = strlen(v.data);
        }
        return v;
    case V_UPSTREAM_STATUS:
        if (r->upstream_status) {
            n = snprintf(scratch, cap, "%d", r->upstream_status);
        }
        break;
    case V_UPSTREAM_CONNECT_TIME:
    case V_UPSTREAM_RESPONSE_TIME: {
        weir_msec_t ms = s->id == V_UPSTREAM_CONNECT_TIME
                             ? r->upstream_connect_ms
                             : r->upstream_response_ms;
        if (ms >= 0) {
            n = snprintf(scratch, cap, "%lld.%03lld", (long long) (ms / 1000),
                         (long long) (ms % 1000));
        }
        break;
    }
    case V_REQUEST_ID:
        /* 32 hex digits, or the caller's shorter X-Request-Id. */
        v.data = r->request_id;
        v.len = strlen(r->request_id);
        return v;
    case V_HOST:
        if (r->h_host) {
            v.data = r->h_host->value;
            v.len = r->h_host->value_len;
        }
        return v;
    case V_REQUEST_URI:
        if (r->uri.len) {
            return r->uri;
        }
        return v;
    case V_REQUEST_METHOD:
        if (r->method_name.len) {
            return r->method_name;
        }
        return v;
    case V_URI:
        if (r->path.len) {
            return r->path;
        }
        return v;
    case V_NORMALIZED_REQUEST_URI:
        if (r->target.len) {
            return r->target;
        }
        return v;
    case V_ARGS:
        if (r->args.len) {
            return r->args;
        }
        return v;
    case V_SERVER_NAME:
        v.data = r->srv->name;
        v.len = strlen(v.data);
        return v;
    case V_SCHEME:
        return weir_http_vars_scheme(r);
    case V_SERVER_PORT:
        v = weir_http_vars_server_port(r);
        if (v.len == 0) {
            v.data = NULL;  /* "-" */
        }
        return v;
    case V_ERROR_CODE:
        if (r->error_code) {
            v.data = r->error_code;
            v.len = strlen(v.data);
        }
        return v;
    case V_TLS:
        return weir_http_vars_tls(r, s->text, s->len, scratch, cap);
    case V_HTTP:
        h = weir_http_vars_header(r, s->text, s->len);
        if (h) {
            v.data = h->value;
            v.len = h->value_len;
        }
        return v;
    case V_CACHE_STATUS:
        if (r->cache_status) {
            v.data = r->cache_status;
            v.len = strlen(v.data);
        }
        return v;
    case V_UPSTREAM_TLS_RESUMED:
        if (r->upstream_tls_resumed) {
            v.data = r->upstream_tls_resumed;
            v.len = 1;
        }
        return v;
    case V_LIMIT_STATUS:
        if (r->limit_status) {
            v.data = r->limit_status;
            v.len = strlen(v.data);
        }
        return v;
    default:
        return v;
    }
    if (n > 0 && (size_t) n < cap) {
        v.data = scratch;
        v.len = (size_t) n;
    }
    return v;
}

/* Escape so that a line stays one line and, for json, valid JSON. */
static size_t
put_escaped(char *p, size_t cap, weir_str_t v, int json)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            i, n = 0;
    unsigned char     ch;

    for (i = 0; i < v.len; i++) {
        ch = (unsigned char) v.data[i];
        if (n + 6 >= cap) {
            break;
        }
        if (json) {
            size_t used;

            n += weir_json_escape_char(p + n, (const unsigned char *) v.data
                                       + i, (const unsigned char *) v.data
                                       + v.len, &used);
            i += used - 1;
        } else if (ch == '"' || ch == '\\') {
            p[n++] = '\\';
            p[n++] = (char) ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            p[n++] = '\\';
            p[n++] = 'x';
            p[n++] = hex[ch >> 4];
            p[n++] = hex[ch & 0xf];
        } else {
            p[n++] = (char) ch;
        }
    }
    return n;
}

static int
line_put(line_t *l, const char *data, size_t len)
{
    if (len > l->cap - l->n) {
        return WEIR_ERROR;
    }
    memcpy(l->p + l->n, data, len);
    l->n += len;
    return WEIR_OK;
}

static void
write_text(weir_request_t *r, line_t *l)
{
    char       scratch[64];
    size_t     i;
    weir_str_t v;

    for (i = 0; i < nsegs; i++) {
        v = var_value(r, &segs[i], scratch, sizeof(scratch));
        if (segs[i].id == V_LITERAL) {
            (void) line_put(l, v.data, weir_min(v.len, l->cap - l->n));
        } else if (v.data == NULL) {
            (void) line_put(l, "-", 1);
        } else {
            l->n += put_escaped(l->p + l->n, l->cap - l->n, v, 0);
        }
    }
}

/* One json value: null, a number as weir printed it, a string, or the
 * peers of "a:1, b:2" as an array. Strings are cut so that `reserve`
 * bytes stay free for the fields after this one. */
static void
json_value(line_t *l, weir_str_t v, int type, size_t reserve)
{
    size_t     room, i, j;
    weir_str_t one;

    if (v.data == NULL) {
        (void) line_put(l, "null", 4);
        return;
    }
    if (type == J_NUM) {
        (void) line_put(l, v.data, v.len);
        return;
    }
    if (type == J_LAST) {
        for (i = v.len; i > 1; i--) {
            if (v.data[i - 2] == ',' && v.data[i - 1] == ' ') {
                v.data += i;
                v.len -= i;
                break;
            }
        }
        type = J_STR;
    }
    room = l->cap - l->n > reserve ? l->cap - l->n - reserve : 0;
    if (type == J_STR) {
        if (room < 2) {
            (void) line_put(l, "null", 4);
            return;
        }
        l->p[l->n++] = '"';
        l->n += put_escaped(l->p + l->n, room - 2, v, 1);
        l->p[l->n++] = '"';
        return;
    }
    if (line_put(l, "[", 1) != WEIR_OK) {
        return;
    }
    for (i = 0; i < v.len; i = j + 2) {
        for (j = i; j < v.len && !(v.data[j] == ',' && j + 1 < v.len
                                   && v.data[j + 1] == ' '); j++) {
            /* void: up to the next ", " */
        }
        one.data = v.data + i;
        one.len = j - i;
        room = l->cap - l->n > reserve ? l->cap - l->n - reserve : 0;
        if (room < one.len * 6 + 4) {
            break;          /* a peer is never half written */
        }
        if (i) {
            l->p[l->n++] = ',';
        }
        l->p[l->n++] = '"';
        l->n += put_escaped(l->p + l->n, room - 3, one, 1);
        l->p[l->n++] = '"';
    }
    (void) line_put(l, "]", 1);
}

static void
write_json(weir_request_t *r, line_t *l)
{
    char       scratch[64], key[64];
    size_t     i, nfields = weir_nelems(json_fields);
    weir_str_t v;
    int        k;

    (void) line_put(l, "{", 1);
    for (i = 0; i < nfields; i++) {
        k = snprintf(key, sizeof(key), "%s\"%s\":", i ? "," : "",
                     json_fields[i].key);
        if (k < 0 || (size_t) k >= sizeof(key)
            || line_put(l, key, (size_t) k) != WEIR_OK)
        {
            break;
        }
        v = var_value(r, &segs[i], scratch, sizeof(scratch));
        json_value(l, v, json_fields[i].type,
                   (nfields - i) * JSON_FIELD_ROOM);
    }
    (void) line_put(l, "}", 1);
}

void
weir_access_log_write(weir_request_t *r)
{
    char   buf_line[LOG_LINE_MAX];
    line_t l = { buf_line, 0, sizeof(buf_line) - 1 };   /* room for '\n' */

    if (log_file == NULL) {
        return;
    }
    if (format == WEIR_LOG_FORMAT_JSON) {
        write_json(r, &l);
    } else {
        write_text(r, &l);
    }
    l.p[l.n++] = '\n';
    if (buf_len + l.n > LOG_BUF_SIZE) {
        weir_access_log_flush();
    }
    memcpy(buf + buf_len, l.p, l.n);
    buf_len += l.n;
    if (flush_ev.heap_slot == 0) {
        weir_timer_add(&flush_ev, 1000);
    }
}

void
weir_access_log_flush(void)
{
    size_t  off = 0;
    ssize_t w;

    while (off < buf_len) {
        w = write(log_file->fd, buf + off, buf_len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                           "write() to access log \"%s\" failed",
                           log_file->path ? log_file->path : "-");
            break;
        }
        off += (size_t) w;
    }
    buf_len = 0;
    weir_timer_del(&flush_ev);
}

static void
flush_handler(weir_event_t *ev)
{
    (void) ev;
    weir_access_log_flush();
}

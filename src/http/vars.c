#include "weir_config.h"
#include "http/vars.h"

#include <ctype.h>
#include <string.h>
#include "core/str.h"
#include "event/tls.h"

static int is_name_char(int ch);
static size_t host_len(weir_str_t h);
static void lower(char *p, size_t n);
static weir_str_t value_of(weir_request_t *r, const char *name, size_t len,
    char *scratch, size_t cap);
static weir_str_t header_value(weir_request_t *r, const char *name,
    size_t len);
static weir_str_t pair_value(weir_str_t list, char sep, const char *name,
    size_t len);

static int
is_name_char(int ch)
{
    return isalnum(ch) || ch == '_';
}

/* The host without its port ("[::1]:80" -> "[::1]"). */
static size_t
host_len(weir_str_t h)
{
    const char *end = h.data + h.len, *p = h.data;

    if (p < end && *p == '[') {
        p = memchr(p, ']', h.len);
        if (p == NULL) {
            return h.len;
        }
    }
    p = memchr(p, ':', (size_t) (end - p));
    return p ? (size_t) (p - h.data) : h.len;
}

static void
lower(char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (char) tolower((unsigned char) p[i]);
    }
}

int
weir_http_vars_known(const char *name, size_t len)
{
    static const char *const plain[] = {
        "remote_addr", "host", "request_uri", "uri", "args",
        "request_method", "server_name", "scheme", "server_port",
        "normalized_request_uri"
    };
    size_t i;

    for (i = 0; i < weir_nelems(plain); i++) {
        if (strlen(plain[i]) == len && memcmp(plain[i], name, len) == 0) {
            return 1;
        }
    }
    return weir_http_vars_is_tls(name, len)
           || (len > 5 && memcmp(name, "http_", 5) == 0)
           || (len > 7 && memcmp(name, "cookie_", 7) == 0)
           || (len > 4 && memcmp(name, "arg_", 4) == 0);
}

size_t
weir_http_vars_eval(weir_request_t *r, const char *tmpl, char *buf,
    size_t cap)
{
    const char *p = tmpl, *name;
    size_t      out = 0, n, len;
    weir_str_t  v;
    char        scratch[1024];   /* $ssl_client_s_dn, $ssl_client_verify */

    if (cap == 0) {
        return 0;
    }
    while (*p && out < cap - 1) {
        if (*p != '$' || !is_name_char((unsigned char) p[1])) {
            buf[out++] = *p++;
            continue;
        }
        name = ++p;
        while (is_name_char((unsigned char) *p)) {
            p++;
        }
        len = (size_t) (p - name);
        v = value_of(r, name, len, scratch, sizeof(scratch));
        n = weir_min(v.len, cap - 1 - out);
        if (n) {
            memcpy(buf + out, v.data, n);
            if (len == 4 && memcmp(name, "host", 4) == 0) {
                lower(buf + out, n);  /* names are case-insensitive */
            }
        }
        out += n;
    }
    buf[out] = '\0';
    return out;
}

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)

static weir_str_t
value_of(weir_request_t *r, const char *name, size_t len, char *scratch,
    size_t cap)
{
    weir_str_t v = { 0, "" };

    if (IS("remote_addr")) {
        v.data = r->c->addr_text;
        v.len = strlen(v.data);
    } else if (IS("host") && r->h_host) {
        v.data = r->h_host->value;
        v.len = r->h_host->value_len;
        v.len = host_len(v);
    } else if (IS("request_uri")) {
        v = r->uri;
    } else if (IS("uri")) {
        v = r->path;
    } else if (IS("normalized_request_uri")) {
        v = r->target;
    } else if (IS("args")) {
        v = r->args;
    } else if (IS("request_method")) {
        v = r->method_name;
    } else if (IS("server_name")) {
        v.data = r->srv->name;
        v.len = strlen(v.data);
    } else if (IS("scheme")) {
        v = weir_http_vars_scheme(r);
    } else if (IS("server_port")) {
        v = weir_http_vars_server_port(r);
    } else if (weir_http_vars_is_tls(name, len)) {
        v = weir_http_vars_tls(r, name, len, scratch, cap);
        if (v.data == NULL) {
            v.data = "";
            v.len = 0;
        }
    } else if (len > 5 && memcmp(name, "http_", 5) == 0) {
        v = header_value(r, name + 5, len - 5);
    } else if (len > 7 && memcmp(name, "cookie_", 7) == 0) {
        v = pair_value(header_value(r, "cookie", 6), ';', name + 7, len - 7);
    } else if (len > 4 && memcmp(name, "arg_", 4) == 0) {
        v = pair_value(r->args, '&', name + 4, len - 4);
    }
    return v;
}

weir_str_t
weir_http_vars_scheme(const weir_request_t *r)
{
    weir_str_t v;

    /* From the listener, never from X-Forwarded-Proto or the like: a
     * client must not choose which scheme its request is keyed under. */
    if (r->hc->listen && r->hc->listen->tls) {
        v.data = "https";
        v.len = 5;
    } else {
        v.data = "http";
        v.len = 4;
    }
    return v;
}

/* The TLS variables: what the handshake settled, for logs. */
static const char *const tls_names[] = {
    "ssl_protocol", "ssl_cipher", "ssl_server_name", "ssl_session_reused",
    "ssl_client_verify", "ssl_client_s_dn"
};

int
weir_http_vars_is_tls(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < weir_nelems(tls_names); i++) {
        if (strlen(tls_names[i]) == len
            && memcmp(tls_names[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

weir_str_t
weir_http_vars_tls(const weir_request_t *r, const char *name, size_t len,
    char *scratch, size_t cap)
{
    weir_str_t  v = { 0, NULL };
    const char *s = NULL;

    if (IS("ssl_protocol")) {
        s = weir_tls_protocol(r->c);
    } else if (IS("ssl_cipher")) {
        s = weir_tls_cipher(r->c);
    } else if (IS("ssl_server_name")) {
        s = weir_tls_server_name(r->c);
    } else if (IS("ssl_session_reused")) {
        s = weir_tls_session_reused(r->c);
    } else if (IS("ssl_client_verify")) {
        s = weir_tls_client_verify(r->c, scratch, cap);
    } else if (IS("ssl_client_s_dn") && scratch) {
        s = weir_tls_client_subject(r->c, scratch, cap);
    }
    if (s) {
        v.data = s;
        v.len = strlen(s);
    }
    return v;
}

weir_str_t
weir_http_vars_server_port(const weir_request_t *r)
{
    weir_str_t  v = { 0, "" };
    const char *colon;

    /* The listen text always ends in ":PORT" ("0.0.0.0:8080",
     * "[::]:8080"), and a wildcard address still has its port: no
     * getsockname() per connection. */
    if (r->hc->listen) {
        colon = strrchr(r->hc->listen->text, ':');
        if (colon) {
            v.data = colon + 1;
            v.len = strlen(v.data);
        }
    }
    return v;
}

const weir_http_header_t *
weir_http_vars_header(const weir_request_t *r, const char *name, size_t len)
{
    char   hn[128];
    size_t i;

    if (len >= sizeof(hn)) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        hn[i] = name[i] == '_' ? '-' : name[i];
    }
    hn[len] = '\0';
    return weir_http_header_find(r, hn);
}

static weir_str_t
header_value(weir_request_t *r, const char *name, size_t len)
{
    weir_str_t                v = { 0, "" };
    const weir_http_header_t *h = weir_http_vars_header(r, name, len);

    if (h) {
        v.data = h->value;
        v.len = h->value_len;
    }
    return v;
}

/* The value of name=value in "a=1; b=2" (cookies) or "a=1&b=2" (args). */
static weir_str_t
pair_value(weir_str_t list, char sep, const char *name, size_t len)
{
    weir_str_t  v = { 0, "" };
    const char *p = list.data, *end = list.data + list.len, *e;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == sep)) {
            p++;
        }
        e = memchr(p, sep, (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) > len && p[len] == '=' && memcmp(p, name, len) == 0)
        {
            v.data = p + len + 1;
            v.len = (size_t) (e - p) - len - 1;
            return v;
        }
        p = e;
    }
    return v;
}

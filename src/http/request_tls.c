#include "weir_config.h"
#include "http/request-t.h"

#include <errno.h>
#include <string.h>
#include "core/log.h"
#include "event/tls.h"
#include "http/request.h"
#include "http/response.h"
#include "http/vhost.h"

/*
 * A `tls` listener's connection: the TLS handshake comes before the
 * first request. It runs as one more connection state (handler on both
 * events), so it never blocks the loop; client_header_timeout, armed at
 * accept, bounds it, so a stalled or slow handshake is cut. Once done,
 * the connection's transport is TLS and the request path runs as for
 * plain HTTP.
 */

static void handshake(weir_event_t *ev);
static weir_tls_ctx_t *sni_select(weir_conn_t *c, const char *name);
static void refuse(weir_request_t *r, int status, const char *code);

void
weir_http_init_tls(weir_conn_t *c, const weir_server_conf_t *srv,
    const weir_listen_conf_t *l)
{
    weir_http_init_connection(c, srv, l);
    if (c->fd < 0) {
        return;         /* out of memory: closed and logged */
    }
    weir_http_start_tls(c, 0);
}

void
weir_http_start_tls(weir_conn_t *c, int now)
{
    weir_http_conn_t *hc = c->data;

    weir_tls_set_sni_handler(sni_select);
    if (hc->srv->tls == NULL || weir_tls_accept(c, hc->srv->tls) != WEIR_OK)
    {
        weir_log_error(WEIR_LOG_ERR, &c->log, 0,
                       "cannot start TLS on the connection");
        weir_http_close_connection(hc);
        return;
    }
    weir_http_set_state(c, handshake, handshake, "TLS handshake");
    if (now) {
        handshake(&c->read);
    }
}

static void
handshake(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;
    char              why[256];
    int               rc;

    if (ev->timedout) {
        weir_log_error(WEIR_LOG_INFO, &c->log, 0, "TLS handshake timed out");
        weir_http_close_connection(hc);
        return;
    }
    rc = weir_tls_handshake(c);
    if (rc == WEIR_AGAIN) {
        return;
    }
    if (rc != WEIR_OK) {
        /* A client's failure (scanner, wrong protocol, bad certificate):
         * info, as for any other client error. */
        weir_log_error(WEIR_LOG_INFO, &c->log, 0, "TLS handshake failed: %s",
                       weir_tls_error_text(why, sizeof(why), "closed"));
        weir_http_close_connection(hc);
        return;
    }
    hc->tls = 1;
    /* The first request's bytes may have come with the client's last
     * handshake message: look at once, no edge will announce them. */
    weir_timer_add(&c->read, weir_http.conf->client_header_timeout);
    weir_http_set_state(c, weir_http_wait_request, weir_http_empty_handler,
                        "waiting for request");
    c->read.ready = 1;
    weir_http_wait_request(&c->read);
}

/* SNI: the server among those sharing the connection's address that
 * the name chooses (http/vhost.h; no name or no match: the address's
 * default) gives the certificate, and becomes the connection's server:
 * a request whose Host matches no name gets it, as nginx does. */
static weir_tls_ctx_t *
sni_select(weir_conn_t *c, const char *name)
{
    weir_http_conn_t         *hc = c->data;
    const weir_server_conf_t *srv;

    if (hc == NULL || hc->listen == NULL || hc->listen->vhost == NULL) {
        return NULL;
    }
    srv = weir_vhost_find(hc->listen->vhost, name, name ? strlen(name) : 0);
    if (srv == NULL || srv->tls == NULL) {
        return NULL;
    }
    hc->srv = srv;
    return srv->tls;
}

/* Client certificates, per request, as the request's server says.
 *
 * `on` refuses a missing or bad certificate in the handshake already
 * (the client gets a TLS alert saying why, and no byte of its request
 * is read); `optional` and `optional_no_ca` complete the handshake
 * whatever the client sent and keep the verdict, which is judged here:
 * a bad certificate is 400 under `optional` (nginx does the same), and
 * only recorded ($ssl_client_verify) under `optional_no_ca`, for an
 * origin that verifies itself.
 *
 * The handshake was made by the server SNI chose (hc->srv); the Host may
 * name another. That one's rule was then never applied (its CA list, its
 * `on`), so a request for a server with client verification through
 * another server's handshake is 421 Misdirected Request: the client can
 * open a connection with the right name. */
int
weir_http_tls_client_check(weir_request_t *r)
{
    const weir_server_conf_t *s = r->srv;
    int                       cert, mode;
    char                      why[160];

    if (!r->hc->tls || s == NULL) {
        return WEIR_OK;
    }
    mode = s->tls_verify_client;
    if (mode == WEIR_TLS_VERIFY_OFF) {
        return WEIR_OK;
    }
    if (s != r->hc->srv) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client asked for server \"%s\" (tls_verify_client) "
                       "over the TLS session of server \"%s\"", s->name,
                       r->hc->srv ? r->hc->srv->name : "?");
        refuse(r, 421, "MISDIRECTED_REQUEST");
        return WEIR_ERROR;
    }
    cert = weir_tls_client_cert(r->c);
    if (cert == WEIR_TLS_CERT_OK || mode == WEIR_TLS_VERIFY_OPTIONAL_NO_CA
        || (cert == WEIR_TLS_CERT_NONE && mode == WEIR_TLS_VERIFY_OPTIONAL)) {
        return WEIR_OK;
    }
    if (cert == WEIR_TLS_CERT_NONE) {
        /* `on` refused this in the handshake; kept for safety. */
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent no required certificate");
        refuse(r, 400, "CLIENT_CERTIFICATE_REQUIRED");
        return WEIR_ERROR;
    }
    weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                   "client certificate did not verify: %s",
                   weir_tls_client_verify(r->c, why, sizeof(why)));
    refuse(r, 400, "CLIENT_CERTIFICATE_ERROR");
    return WEIR_ERROR;
}

/* Every later request of the connection would be refused the same way:
 * close it after the answer, draining a body the client may still send
 * (as for a 403). */
static void
refuse(weir_request_t *r, int status, const char *code)
{
    r->keepalive = 0;
    r->lingering = r->framing.body != WEIR_HTTP_BODY_NONE;
    weir_http_finalize_error(r, status, code);
}

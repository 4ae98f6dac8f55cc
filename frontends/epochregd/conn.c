/*
 * Connections: what evhttp 2.1.12 does not do for a server.
 *
 * - The head guard. Every byte a client sends lands in the bufferevent's
 *   input buffer, and an evbuffer callback sees it before evhttp's read
 *   callback does. The guard takes the bytes of an unfinished request head
 *   out of the buffer, so evhttp never sees a partial head, and checks the
 *   head with fe_head (strict RFC 9112). A valid head goes back into the
 *   buffer whole, followed by exactly Content-Length bytes of body; a
 *   refused head and everything after it are dropped and replaced by a
 *   stand-in request that the handler answers with the refusal's JSON error
 *   and Connection: close. So evhttp parses only heads the daemon accepted,
 *   and every error body is JSON.
 * - Deadlines that are not reset by each byte: a head must arrive within
 *   head_timeout of its first byte, a body within body_timeout of the end of
 *   its head; otherwise the connection is closed. evhttp's own inactivity
 *   timeout is the idle keep-alive timeout.
 * - A cap on open connections. When it is reached, the connection idle the
 *   longest (keep-alive waiting, or nothing sent yet) is closed to make room;
 *   a new connection is refused only when every one is busy. Accept errors
 *   (EMFILE) pause the listeners for 100 ms instead of spinning.
 *
 * A connection's end is seen through an extra reference on its bufferevent:
 * evhttp frees the bufferevent when it frees the connection, which clears
 * its callbacks but leaves our reference; the close callback (set at the
 * first request) or a once-a-second sweep then releases it, which closes the
 * socket. Everything here runs on the loop thread.
 */
#include "daemon.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* The stand-in for a refused head. Its path cannot clash with a client's:
 * the handler recognises it by its position on the connection, not by the
 * path. */
static const char REJECT_REQUEST[] =
    "GET /-/refused HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

enum { C_HEAD = 0, C_BODY, C_REJECTED };

struct d_conn {
    d_server *srv;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *cbe;
    struct event *ev;      /* deadlines and deferred actions */
    d_conn *prev, *next;   /* srv->all */
    d_conn *iprev, *inext; /* srv->idle list, oldest first */
    int in_idle;
    int fd;
    int state;
    int in_cb;
    fe_head_parser hp;
    char *head;
    size_t head_len, head_cap;
    uint64_t body_left;
    unsigned long released;   /* heads handed to evhttp */
    unsigned long dispatched; /* requests the handler saw */
    unsigned long reject_index;
    int reject_status;
    const char *reject_code, *reject_message;
    int busy;    /* requests dispatched and not yet answered */
    int closing; /* shut down by us: no longer counted */
    int dead;    /* evhttp has freed it */
    int refuse;
    int closecb_set;
};

/* ---- lists ---- */

static void idle_remove(d_server *srv, d_conn *c)
{
    if (!c->in_idle)
        return;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        srv->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        srv->idle_tail = c->iprev;
    c->iprev = c->inext = NULL;
    c->in_idle = 0;
}

/* Puts a connection on the idle list (at the tail: the newest idle) when it
 * is idle, or takes it off when it is not. */
static void idle_update(d_server *srv, d_conn *c)
{
    int idle =
        !c->dead && !c->closing && c->busy == 0 && c->state == C_HEAD && c->head_len == 0;
    if (idle && !c->in_idle) {
        c->iprev = srv->idle_tail;
        c->inext = NULL;
        if (srv->idle_tail)
            srv->idle_tail->inext = c;
        else
            srv->idle_head = c;
        srv->idle_tail = c;
        c->in_idle = 1;
    } else if (!idle) {
        idle_remove(srv, c);
    }
}

static int conn_fd(d_conn *c)
{
    if (c->fd < 0) {
        c->fd = bufferevent_getfd(c->bev);
        if (c->fd >= 0 && (size_t)c->fd < c->srv->by_fd_size)
            c->srv->by_fd[c->fd] = c;
        /* Replies are written whole: without this, a reply larger than one
         * segment waits for the client's delayed ACK (up to 40 ms). */
        if (c->fd >= 0) {
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
    }
    return c->fd;
}

static int bev_freed(struct bufferevent *bev)
{
    bufferevent_event_cb ecb = NULL;
    bufferevent_getcb(bev, NULL, NULL, &ecb, NULL);
    return ecb == NULL;
}

/* Closes the socket under evhttp: it sees EOF and frees the connection. */
static void conn_close(d_conn *c)
{
    if (c->closing || c->dead)
        return;
    int fd = conn_fd(c);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    c->closing = 1;
    c->srv->open_count--;
    idle_remove(c->srv, c);
    evtimer_del(c->ev);
}

static void conn_release(d_conn *c)
{
    d_server *srv = c->srv;
    idle_remove(srv, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->fd >= 0 && (size_t)c->fd < srv->by_fd_size && srv->by_fd[c->fd] == c)
        srv->by_fd[c->fd] = NULL;
    if (!c->closing)
        srv->open_count--;
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cbe);
    event_free(c->ev);
    free(c->head);
    /* Ours is the last reference: this frees the bufferevent and closes the
     * socket. */
    bufferevent_decref(c->bev);
    free(c);
}

/* ---- deadlines ---- */

static void timer_arm(d_conn *c, double seconds)
{
    struct timeval tv = {(time_t)seconds,
                         (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(c->ev, &tv);
}

static void conn_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_conn *c = arg;
    if (c->dead) {
        conn_release(c);
        return;
    }
    conn_fd(c);
    if (c->refuse) {
        c->refuse = 0;
        conn_close(c);
        return;
    }
    if ((c->state == C_HEAD && c->head_len > 0) || c->state == C_BODY) {
        d_log(D_INFO, "connection closed: request not received in time",
              json_pack("{s:s}", "phase", c->state == C_BODY ? "body" : "head"));
        conn_close(c);
    }
}

/* ---- the head guard ---- */

static void head_free(d_conn *c)
{
    free(c->head);
    c->head = NULL;
    c->head_len = c->head_cap = 0;
}

static int head_reserve(d_conn *c, size_t need)
{
    if (need <= c->head_cap)
        return 0;
    size_t cap = c->head_cap ? c->head_cap : 512;
    while (cap < need)
        cap *= 2;
    char *p = realloc(c->head, cap);
    if (!p)
        return -1;
    c->head = p;
    c->head_cap = cap;
    return 0;
}

static void refuse_head(d_conn *c, struct evbuffer *buf, struct evbuffer *rest,
                        int status, const char *code, const char *message)
{
    evbuffer_drain(rest, evbuffer_get_length(rest));
    head_free(c);
    c->state = C_REJECTED;
    c->reject_status = status;
    c->reject_code = code;
    c->reject_message = message;
    c->reject_index = ++c->released;
    evtimer_del(c->ev);
    evbuffer_add(buf, REJECT_REQUEST, sizeof(REJECT_REQUEST) - 1);
}

/* Moves the last @p n bytes of @p buf into @p tail (which is empty). */
static void split_tail(struct evbuffer *buf, struct evbuffer *tail, size_t n)
{
    size_t keep = evbuffer_get_length(buf) - n;
    evbuffer_add_buffer(tail, buf);
    if (keep)
        evbuffer_remove_buffer(tail, buf, keep);
}

static void guard(d_conn *c, struct evbuffer *buf, struct evbuffer *rest)
{
    d_server *srv = c->srv;
    while (evbuffer_get_length(rest) > 0) {
        if (c->state == C_REJECTED) {
            evbuffer_drain(rest, evbuffer_get_length(rest));
            return;
        }
        if (c->state == C_BODY) {
            size_t k = evbuffer_get_length(rest);
            if ((uint64_t)k > c->body_left)
                k = (size_t)c->body_left;
            evbuffer_remove_buffer(rest, buf, k);
            c->body_left -= k;
            if (c->body_left == 0) {
                c->state = C_HEAD;
                evtimer_del(c->ev);
            }
            continue;
        }
        /* C_HEAD: one byte more than the limit lets fe_head say 431. */
        size_t room = srv->limits.head_max + 1 - c->head_len;
        size_t k = evbuffer_get_length(rest);
        if (k > room)
            k = room;
        if (head_reserve(c, c->head_len + k) < 0) {
            refuse_head(c, buf, rest, 503, "unavailable", "out of memory");
            return;
        }
        if (c->head_len == 0) {
            fe_head_init(&c->hp, &srv->limits);
            timer_arm(c, srv->cfg.head_timeout);
        }
        evbuffer_remove(rest, c->head + c->head_len, k);
        c->head_len += k;
        fe_head_result r;
        fe_head_state st = fe_head_feed(&c->hp, c->head, c->head_len, &r);
        if (st == FE_HEAD_INCOMPLETE)
            continue; /* rest is empty now, or room was 0 (fe_head refuses) */
        if (st == FE_HEAD_REJECT) {
            refuse_head(c, buf, rest, r.status, r.code, r.message);
            return;
        }
        /* Complete. Empty lines before the request line are not passed on. */
        size_t skip = 0;
        while (skip + 1 < r.head_len && c->head[skip] == '\r' &&
               c->head[skip + 1] == '\n')
            skip += 2;
        if (c->head_len > r.head_len)
            evbuffer_prepend(rest, c->head + r.head_len, c->head_len - r.head_len);
        evbuffer_add(buf, c->head + skip, r.head_len - skip);
        head_free(c);
        c->released++;
        if (r.content_length > 0) {
            c->state = C_BODY;
            c->body_left = r.content_length;
            timer_arm(c, srv->cfg.body_timeout);
        } else {
            evtimer_del(c->ev);
        }
    }
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    d_conn *c = arg;
    if (c->in_cb || info->n_added == 0)
        return;
    c->in_cb = 1;
    d_server *srv = c->srv;
    /* The loop's scratch buffer: empty between calls. */
    struct evbuffer *rest = srv->scratch;
    split_tail(buf, rest, info->n_added);
    if (c->dead || c->closing || bev_freed(c->bev)) {
        /* nobody reads this connection any more */
        evbuffer_drain(rest, evbuffer_get_length(rest));
        c->in_cb = 0;
        return;
    }
    conn_fd(c);
    guard(c, buf, rest);
    evbuffer_drain(rest, evbuffer_get_length(rest));
    idle_update(srv, c);
    c->in_cb = 0;
}

/* ---- accepting ---- */

static struct bufferevent *conn_new(struct event_base *base, d_server *srv,
                                    struct bufferevent *bev)
{
    if (!bev)
        return NULL;
    d_conn *c = calloc(1, sizeof(*c));
    struct event *ev = c ? evtimer_new(base, conn_ev_cb, c) : NULL;
    struct evbuffer_cb_entry *cbe =
        ev ? evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c) : NULL;
    if (!cbe) {
        if (ev)
            event_free(ev);
        free(c);
        /* evhttp still needs a bufferevent: it gets this one, unguarded,
         * and the connection is shut at once. */
        return bev;
    }
    c->srv = srv;
    c->bev = bev;
    c->ev = ev;
    c->cbe = cbe;
    c->fd = -1;
    bufferevent_incref(bev);
    c->next = srv->all;
    if (srv->all)
        srv->all->prev = c;
    srv->all = c;
    srv->open_count++;
    if (srv->open_count > (long)srv->cfg.max_connections) {
        if (srv->idle_head)
            conn_close(srv->idle_head);
        else
            c->refuse = 1;
    }
    idle_update(srv, c);
    /* The socket is set on the bufferevent after this returns: look at it
     * (and refuse it, if need be) from the loop. */
    event_active(ev, EV_TIMEOUT, 0);
    return bev;
}

static struct bufferevent *bevcb_plain(struct event_base *base, void *arg)
{
    return conn_new(base, arg, bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
}

static struct bufferevent *bevcb_tls(struct event_base *base, void *arg)
{
    d_server *srv = arg;
    SSL *ssl = SSL_new(srv->tls);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return conn_new(base, srv, bev);
}

int d_conn_setup(d_server *srv, struct evhttp *http, SSL_CTX *tls)
{
    evhttp_set_bevcb(http, tls ? bevcb_tls : bevcb_plain, srv);
    return 0;
}

/* ---- the sweep and accept errors ---- */

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_server *srv = arg;
    d_conn *c = srv->all;
    while (c) {
        d_conn *next = c->next;
        if (!c->dead && bev_freed(c->bev)) {
            c->dead = 1;
            conn_release(c);
        }
        c = next;
    }
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_server *srv = arg;
    if (srv->stopping)
        return;
    for (size_t i = 0; i < srv->bound_count; i++)
        if (srv->listeners[i])
            evconnlistener_enable(srv->listeners[i]);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    d_server *srv = arg;
    int e = EVUTIL_SOCKET_ERROR();
    static double last_log;
    double now = d_now_mono();
    if (now - last_log > 10) {
        last_log = now;
        d_log(D_WARN, "accept failed; pausing the listeners for 100 ms",
              json_pack("{s:s}", "error", evutil_socket_error_to_string(e)));
    }
    for (size_t i = 0; i < srv->bound_count; i++)
        if (srv->listeners[i])
            evconnlistener_disable(srv->listeners[i]);
    if (srv->idle_head)
        conn_close(srv->idle_head);
    struct timeval tv = {0, 100000};
    evtimer_add(srv->accept_retry_ev, &tv);
}

int d_conn_init(d_server *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    size_t n = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20)
                   ? (1u << 20)
                   : (size_t)rl.rlim_cur;
    srv->by_fd = calloc(n, sizeof(*srv->by_fd));
    if (!srv->by_fd)
        return -1;
    srv->by_fd_size = n;
    srv->sweep_ev = event_new(srv->base, -1, EV_PERSIST, sweep_cb, srv);
    srv->accept_retry_ev = evtimer_new(srv->base, accept_retry_cb, srv);
    srv->scratch = evbuffer_new();
    if (!srv->sweep_ev || !srv->accept_retry_ev || !srv->scratch)
        return -1;
    struct timeval tv = {1, 0};
    evtimer_add(srv->sweep_ev, &tv);
    for (size_t i = 0; i < srv->bound_count; i++)
        if (srv->listeners[i])
            evconnlistener_set_error_cb(srv->listeners[i], accept_error_cb);
    return 0;
}

void d_conn_shutdown(d_server *srv)
{
    /* After evhttp_free: every connection has been freed by evhttp. */
    while (srv->all) {
        d_conn *c = srv->all;
        c->dead = 1;
        conn_release(c);
    }
    if (srv->sweep_ev)
        event_free(srv->sweep_ev);
    if (srv->accept_retry_ev)
        event_free(srv->accept_retry_ev);
    if (srv->scratch)
        evbuffer_free(srv->scratch);
    free(srv->by_fd);
}

/* ---- requests ---- */

static d_conn *conn_of_bev(d_server *srv, struct bufferevent *bev)
{
    if (!bev)
        return NULL;
    int fd = bufferevent_getfd(bev);
    if (fd < 0 || (size_t)fd >= srv->by_fd_size)
        return NULL;
    d_conn *c = srv->by_fd[fd];
    return c && c->bev == bev ? c : NULL;
}

static void closecb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    d_conn *c = arg;
    /* evhttp is freeing the connection: release it once that is done. */
    c->dead = 1;
    idle_remove(c->srv, c);
    event_active(c->ev, EV_TIMEOUT, 0);
}

d_conn *d_conn_of(d_server *srv, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon)
        return NULL;
    d_conn *c = conn_of_bev(srv, evhttp_connection_get_bufferevent(evcon));
    if (c && !c->closecb_set) {
        evhttp_connection_set_closecb(evcon, closecb, c);
        c->closecb_set = 1;
    }
    return c;
}

void d_conn_request_begin(d_server *srv, d_conn *c)
{
    if (!c)
        return;
    c->dispatched++;
    c->busy++;
    idle_update(srv, c);
}

void d_conn_request_end(d_server *srv, d_conn *c)
{
    if (!c)
        return;
    if (c->busy > 0)
        c->busy--;
    idle_update(srv, c);
}

int d_conn_rejected(d_conn *c, int *status, const char **code, const char **message)
{
    if (!c || c->state != C_REJECTED || c->dispatched != c->reject_index)
        return 0;
    *status = c->reject_status;
    *code = c->reject_code;
    *message = c->reject_message;
    return 1;
}

void d_conn_close_unstarted(d_server *srv)
{
    for (d_conn *c = srv->all; c; c = c->next)
        if (!c->dead && !c->closing && c->busy == 0 && c->state == C_HEAD)
            conn_close(c);
}

long d_conn_open_count(const d_server *srv)
{
    return srv->open_count;
}

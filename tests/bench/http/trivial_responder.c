/*
 * bench_trivial_responder — the HTTP ceiling for the daemon benchmark.
 *
 *   bench_trivial_responder ADDR PORT [PORTS_FILE]
 *
 * One libevent loop, one evhttp, no threads, no store: every request, whatever
 * its method and path, gets 200 with a fixed record-sized JSON body and
 * Content-Type application/json. What wrk measures against it is what evhttp
 * and the loopback can carry on this machine, the roof over any evhttp daemon.
 *
 * PORT 0 picks a free port; PORTS_FILE then receives "http ADDR PORT" (the
 * daemon's --ports-file format), written to a temporary name and renamed, so
 * a reader never sees half a line. SIGTERM or SIGINT stops the loop; every
 * object is freed before exit (clean under AddressSanitizer). Exit status 0
 * after a clean stop, 1 when it cannot start, 2 for bad usage.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/* The size and shape of one record as the daemon returns it (DESIGN.md). */
static const char body[] =
    "{\"id\":42,\"epoch\":1795298112,\"epoch_us\":1795298112123456,"
    "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":null,"
    "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
    "\"request_id\":\"0123456789abcdef0123456789abcdef\",\"node\":\"local\"}";

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    if (!out || !headers || evbuffer_add(out, body, sizeof(body) - 1) < 0 ||
        evhttp_add_header(headers, "Content-Type", "application/json") < 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short events, void *arg)
{
    (void)sig;
    (void)events;
    event_base_loopexit(arg, NULL);
}

static int parse_port(const char *s, unsigned int *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v > 65535)
        return -1;
    *out = (unsigned int)v;
    return 0;
}

/* The bound port of a listener, from its socket. -1 on failure. */
static int bound_port(struct evhttp_bound_socket *bs)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

static int write_ports_file(const char *path, const char *addr, int port)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int rc = fprintf(f, "http %s %d\n", addr, port) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0)
        remove(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned int port;
    if (argc < 3 || argc > 4 || parse_port(argv[2], &port) < 0) {
        fprintf(stderr, "usage: %s ADDR PORT [PORTS_FILE]\n", argv[0]);
        return 2;
    }
    const char *addr = argv[1];
    const char *ports_file = argc == 4 ? argv[3] : NULL;
    int rc = 1;
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    struct evhttp_bound_socket *bs;
    int actual;

    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        goto out;
    }
    if (!(base = event_base_new()) || !(http = evhttp_new(base))) {
        fprintf(stderr, "bench_trivial_responder: cannot create the event base\n");
        goto out;
    }
    evhttp_set_gencb(http, on_request, NULL);
    if (!(bs = evhttp_bind_socket_with_handle(http, addr, (ev_uint16_t)port))) {
        fprintf(stderr, "bench_trivial_responder: cannot listen on %s:%u: %s\n", addr,
                port, strerror(errno));
        goto out;
    }
    if ((actual = bound_port(bs)) < 0) {
        perror("getsockname");
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    if (!sigterm || !sigint || event_add(sigterm, NULL) < 0 ||
        event_add(sigint, NULL) < 0) {
        fprintf(stderr, "bench_trivial_responder: cannot set up signals\n");
        goto out;
    }
    if (ports_file && write_ports_file(ports_file, addr, actual) < 0) {
        fprintf(stderr, "bench_trivial_responder: cannot write %s: %s\n", ports_file,
                strerror(errno));
        goto out;
    }
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "bench_trivial_responder: the event loop failed\n");
        goto out;
    }
    rc = 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (http)
        evhttp_free(http);
    if (base)
        event_base_free(base);
    libevent_global_shutdown();
    return rc;
}

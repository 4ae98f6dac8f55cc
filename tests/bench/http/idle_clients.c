/*
 * bench_idle_clients — hold many idle keep-alive connections to a server.
 *
 *   bench_idle_clients ADDR PORT COUNT
 *
 * Opens COUNT TCP connections to ADDR:PORT (IPv4) one after another; on each
 * it sends one "GET /healthz" with keep-alive and reads the whole response,
 * which must be 200 and must not close the connection. Then it prints
 * "ready COUNT" on stdout and leaves every connection idle until a line (or
 * end of file) arrives on stdin. Then it checks, without blocking, which
 * connections the server has closed meanwhile and prints
 * "open=N closed=N unexpected=N" (unexpected: bytes the server sent unasked),
 * closes everything and exits 0.
 *
 * Any failure before "ready" (connect, send, a non-200 or a closing reply)
 * prints which connection failed and why, and exits 1. The soft limit on open
 * files is raised to the hard limit; COUNT + 16 must fit under it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_COUNT 100000
#define RESPONSE_MAX 16384

static const char request[] = "GET /healthz HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n"
                              "Connection: keep-alive\r\n"
                              "User-Agent: bench_idle_clients\r\n"
                              "\r\n";

static long parse_long(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    return v;
}

/* Case-insensitive search for a header line start; returns its value or NULL. */
static const char *find_header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (line[0] == '\r')
            return NULL; /* the blank line: end of the head */
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            line += n + 1;
            while (*line == ' ' || *line == '\t')
                line++;
            return line;
        }
    }
    return NULL;
}

/* Sends the request on fd and reads one whole response. 0, or -1 with why. */
static int exchange(int fd, const char **why)
{
    char buf[RESPONSE_MAX + 1];
    size_t len = 0, sent = 0;
    while (sent < sizeof(request) - 1) {
        ssize_t n = send(fd, request + sent, sizeof(request) - 1 - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = "send failed";
            return -1;
        }
        sent += (size_t)n;
    }
    const char *end = NULL;
    long want = -1;
    for (;;) {
        if (len == RESPONSE_MAX) {
            *why = "response too large";
            return -1;
        }
        ssize_t n = recv(fd, buf + len, RESPONSE_MAX - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *why = errno == EAGAIN || errno == EWOULDBLOCK ? "no response within 30 s"
                                                           : "recv failed";
            return -1;
        }
        if (n == 0) {
            *why = "the server closed the connection before a whole response";
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) {
                *why = "status is not HTTP/1.1 200";
                return -1;
            }
            const char *conn = find_header(buf, "Connection");
            if (conn && strncasecmp(conn, "close", 5) == 0) {
                *why = "the server answered Connection: close";
                return -1;
            }
            const char *cl = find_header(buf, "Content-Length");
            if (!cl || (want = strtol(cl, NULL, 10)) < 0) {
                *why = "no Content-Length in the response";
                return -1;
            }
        }
        if (end && len >= (size_t)(end + 4 - buf) + (size_t)want) {
            if (len > (size_t)(end + 4 - buf) + (size_t)want) {
                *why = "bytes after the response";
                return -1;
            }
            return 0;
        }
    }
}

int main(int argc, char **argv)
{
    long count;
    long port;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    if (argc != 4 || inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1 ||
        (port = parse_long(argv[2], 1, 65535)) < 0 ||
        (count = parse_long(argv[3], 1, MAX_COUNT)) < 0) {
        fprintf(stderr, "usage: %s IPV4ADDR PORT COUNT (1..%d)\n", argv[0], MAX_COUNT);
        return 2;
    }
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < (rlim_t)count + 16) {
        fprintf(stderr, "bench_idle_clients: open-file limit %llu is below %ld + 16\n",
                (unsigned long long)rl.rlim_cur, count);
        return 1;
    }

    int *fds = calloc((size_t)count, sizeof(*fds));
    if (!fds) {
        perror("calloc");
        return 1;
    }
    int rc = 1;
    long opened = 0;
    struct timeval tv = {30, 0};
    for (; opened < count; opened++) {
        const char *why = NULL;
        errno = 0;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            why = "socket failed";
        } else {
            fds[opened] = fd;
            int one = 1;
            if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
                why = "setsockopt failed";
            else if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
                why = "connect failed";
            else
                (void)exchange(fd, &why);
        }
        if (why) {
            fprintf(stderr, "bench_idle_clients: connection %ld of %ld: %s (%s)\n",
                    opened + 1, count, why, errno ? strerror(errno) : "no errno");
            if (fd >= 0)
                opened++; /* closed below with the others */
            goto out;
        }
    }
    printf("ready %ld\n", opened);
    fflush(stdout);

    /* Idle until told to finish. */
    char line[64];
    (void)fgets(line, sizeof(line), stdin);

    long open_n = 0, closed_n = 0, unexpected_n = 0;
    for (long i = 0; i < opened; i++) {
        char c;
        ssize_t n = recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            closed_n++;
        else if (n > 0)
            unexpected_n++;
        else
            open_n++;
    }
    printf("open=%ld closed=%ld unexpected=%ld\n", open_n, closed_n, unexpected_n);
    fflush(stdout);
    rc = 0;
out:
    for (long i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    return rc;
}

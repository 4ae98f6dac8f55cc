/*
 * The floor of the CGI benchmark: the cheapest CGI program that answers
 * like epochreg.cgi does (a Status line, a JSON content type, a small JSON
 * body), reading nothing and linking nothing but libc. What Apache, fork and
 * exec cost per request on this machine; epochreg.cgi's cost is measured
 * against it in the same run.
 */
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char out[] = "Status: 200 OK\r\n"
                              "Content-Type: application/json; charset=utf-8\r\n"
                              "Content-Length: 16\r\n\r\n"
                              "{\"status\":\"ok\"}\n";
    return write(STDOUT_FILENO, out, sizeof(out) - 1) == (ssize_t)(sizeof(out) - 1) ? 0
                                                                                    : 1;
}

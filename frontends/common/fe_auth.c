/*
 * Bearer tokens: loaded from a token file, kept only as SHA-256 digests, and
 * compared in constant time (RELIABILITY.md §3.7 X2). Hashing first gives
 * every comparison the same fixed length whatever the presented token's
 * length, and CRYPTO_memcmp has no early exit; every stored digest is
 * compared, so the time also does not tell which token (if any) matched.
 */
#include "fe_http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_ORIGIN "epochreg"
#define DIGEST_SIZE 32
#define TOKEN_MIN 16
#define TOKEN_MAX 256
/* A token file is a short list; anything bigger is a mistake (a wrong path
 * given as --token-file), refused before it fills memory. */
#define TOKEN_FILE_MAX (1024 * 1024)

struct fe_auth {
    size_t count;
    unsigned char (*digests)[DIGEST_SIZE];
};

static int token_char(unsigned char c)
{
    return c >= '!' && c <= '~';
}

static int digest(unsigned char out[DIGEST_SIZE], const void *data, size_t len)
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != DIGEST_SIZE)
        return -1;
    return 0;
}

/* Reads the whole file (a regular file, at most TOKEN_FILE_MAX bytes). */
static int read_file(char **out, size_t *len, int *warning, const char *path,
                     epoch_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int rc = 0;
    /* O_NONBLOCK: opening a FIFO given by mistake must not hang the start. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                               "token file %s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                             "token file %s: not a regular file", path);
        goto out;
    }
    if (st.st_size > TOKEN_FILE_MAX) {
        rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                             "token file %s: larger than %d bytes", path, TOKEN_FILE_MAX);
        goto out;
    }
    if (warning)
        *warning = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = epoch_error_set(err, EPOCH_ENOMEM, AUTH_ORIGIN, NULL, "out of memory");
        goto out;
    }
    /* Read to EOF (the size may change under us), never past the limit. */
    for (;;) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                                 "token file %s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > (size_t)st.st_size) {
            rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                                 "token file %s: changed while being read", path);
            goto out;
        }
    }
    *out = buf;
    *len = got;
    buf = NULL;
out:
    if (buf) {
        OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
        free(buf);
    }
    close(fd);
    return rc;
}

/*
 * The token on one line, or an empty span for a blank or comment line.
 * Lines may end in CRLF; spaces and tabs around a token are ignored.
 * Returns -1 for a malformed line.
 */
static int line_token(const char *line, size_t n, const char **tok, size_t *tok_len)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    while (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
        line++;
        n--;
    }
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    *tok = line;
    *tok_len = 0;
    if (n == 0 || line[0] == '#')
        return 0;
    if (n < TOKEN_MIN || n > TOKEN_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!token_char((unsigned char)line[i]))
            return -1;
    *tok_len = n;
    return 0;
}

int fe_auth_load(fe_auth **out, const char *path, int *warning, epoch_error *err)
{
    char *text = NULL;
    size_t len = 0, lines = 0;
    fe_auth *auth = NULL;
    int rc;
    epoch_error_clear(err);
    if (warning)
        *warning = 0;
    if (!out || !path)
        return epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                               "fe_auth_load: NULL argument");
    *out = NULL;
    if ((rc = read_file(&text, &len, warning, path, err)) < 0)
        return rc;
    /* A token is at least TOKEN_MIN bytes and a newline: this bounds them. */
    size_t room = len / (TOKEN_MIN + 1) + 1;
    auth = calloc(1, sizeof(*auth));
    if (auth)
        auth->digests = calloc(room, DIGEST_SIZE);
    if (!auth || !auth->digests) {
        rc = epoch_error_set(err, EPOCH_ENOMEM, AUTH_ORIGIN, NULL, "out of memory");
        goto out;
    }
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *tok;
        size_t tok_len;
        lines++;
        if (line_token(text + pos, end - pos, &tok, &tok_len) < 0) {
            /* The line number only: the line may be a token with a typo. */
            rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                                 "token file %s: line %zu is not a token (16-256 "
                                 "printable ASCII characters without spaces)",
                                 path, lines);
            goto out;
        }
        if (tok_len > 0) {
            if (auth->count >= room || digest(auth->digests[auth->count], tok, tok_len)) {
                rc = epoch_error_set(err, EPOCH_EINTERNAL, AUTH_ORIGIN, NULL,
                                     "token file %s: cannot hash line %zu", path, lines);
                goto out;
            }
            auth->count++;
        }
        pos = end + 1;
    }
    if (auth->count == 0) {
        rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                             "token file %s: holds no token", path);
        goto out;
    }
    *out = auth;
    auth = NULL;
    rc = 0;
out:
    OPENSSL_cleanse(text, len);
    free(text);
    fe_auth_free(auth);
    if (rc < 0 && warning)
        *warning = 0;
    return rc;
}

void fe_auth_free(fe_auth *auth)
{
    if (!auth)
        return;
    if (auth->digests) {
        OPENSSL_cleanse(auth->digests, auth->count * DIGEST_SIZE);
        free(auth->digests);
    }
    free(auth);
}

int fe_auth_check(const fe_auth *auth, const char *value, size_t len)
{
    static const char scheme[] = "bearer ";
    const size_t scheme_len = sizeof(scheme) - 1;
    unsigned char presented[DIGEST_SIZE];
    if (!auth || !value || len <= scheme_len)
        return 0;
    for (size_t i = 0; i < scheme_len; i++) {
        char c = value[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[i])
            return 0;
    }
    const char *token = value + scheme_len;
    size_t token_len = len - scheme_len;
    /* The shape of a token is no secret: refusing early here is fine. */
    if (token_len > TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < token_len; i++)
        if (!token_char((unsigned char)token[i]))
            return 0;
    if (digest(presented, token, token_len) < 0)
        return 0;
    int match = 0;
    for (size_t i = 0; i < auth->count; i++)
        match |= CRYPTO_memcmp(presented, auth->digests[i], DIGEST_SIZE) == 0;
    OPENSSL_cleanse(presented, sizeof(presented));
    return match;
}

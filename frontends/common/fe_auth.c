/*
 * Bearer tokens: loaded from a token file and compared in constant time
 * (RELIABILITY.md §3.7 X2). Every token is kept zero-padded to TOKEN_MAX
 * bytes with its length, and the presented one is padded the same way, so
 * every comparison reads the same TOKEN_MAX bytes whatever the lengths, and
 * folds the differences without an early exit; every stored token is
 * compared, so the time also does not tell which token (if any) matched.
 *
 * Earlier versions kept SHA-256 digests (OpenSSL) to get the fixed length.
 * The padding gives it without libcrypto, whose loading cost every
 * epochreg.cgi request ~0.5 ms of its start (measured: a program linking only
 * libcrypto starts in 1.3 ms, an empty one in 0.7 ms). What the digests added
 * — the tokens themselves not in memory — is small: they are in memory while
 * the file is read, and the memory is wiped when the tokens are freed.
 */
#include "fe_http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_ORIGIN "epochreg"
#define TOKEN_MIN 16
#define TOKEN_MAX 256
/* A token file is a short list; anything bigger is a mistake (a wrong path
 * given as --token-file), refused before it fills memory. */
#define TOKEN_FILE_MAX (1024 * 1024)

/* A token, zero-padded to TOKEN_MAX bytes. */
typedef struct {
    unsigned char bytes[TOKEN_MAX];
    size_t len;
} padded_token;

struct fe_auth {
    size_t count;
    padded_token *tokens;
};

static int token_char(unsigned char c)
{
    return c >= '!' && c <= '~';
}

static void pad_token(padded_token *t, const char *s, size_t len)
{
    memset(t->bytes, 0, sizeof(t->bytes));
    memcpy(t->bytes, s, len);
    t->len = len;
}

/* Equal bytes and lengths, in a time that depends on neither: all TOKEN_MAX
 * bytes are read and their differences OR-ed into a volatile accumulator,
 * which the compiler may not turn into an early exit. */
static int same_token(const padded_token *a, const padded_token *b)
{
    volatile unsigned char diff = 0;
    size_t len_diff = a->len ^ b->len;
    for (size_t i = 0; i < TOKEN_MAX; i++)
        diff |= (unsigned char)(a->bytes[i] ^ b->bytes[i]);
    for (size_t i = 0; i < sizeof(len_diff); i++)
        diff |= (unsigned char)(len_diff >> (8 * i));
    return diff == 0;
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
        explicit_bzero(buf, (size_t)st.st_size + 1);
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

/*
 * Walks the lines of a token file: validates each and counts the tokens
 * into *count; with tokens not NULL, also stores them (room for *count).
 */
static int parse_tokens(padded_token *tokens, size_t *count, const char *text, size_t len,
                        const char *path, epoch_error *err)
{
    size_t lines = 0, n = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *tok;
        size_t tok_len;
        lines++;
        if (line_token(text + pos, end - pos, &tok, &tok_len) < 0)
            /* The line number only: the line may be a token with a typo. */
            return epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                                   "token file %s: line %zu is not a token (16-256 "
                                   "printable ASCII characters without spaces)",
                                   path, lines);
        if (tok_len > 0) {
            if (tokens)
                pad_token(&tokens[n], tok, tok_len);
            n++;
        }
        pos = end + 1;
    }
    *count = n;
    return 0;
}

int fe_auth_load(fe_auth **out, const char *path, int *warning, epoch_error *err)
{
    char *text = NULL;
    size_t len = 0, count = 0;
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
    /* Counted first, so the padded copies take room for the tokens only. */
    if ((rc = parse_tokens(NULL, &count, text, len, path, err)) < 0)
        goto out;
    if (count == 0) {
        rc = epoch_error_set(err, EPOCH_EINVAL, AUTH_ORIGIN, NULL,
                             "token file %s: holds no token", path);
        goto out;
    }
    auth = calloc(1, sizeof(*auth));
    if (auth)
        auth->tokens = calloc(count, sizeof(*auth->tokens));
    if (!auth || !auth->tokens) {
        rc = epoch_error_set(err, EPOCH_ENOMEM, AUTH_ORIGIN, NULL, "out of memory");
        goto out;
    }
    auth->count = count; /* what fe_auth_free() wipes, whatever happens next */
    if ((rc = parse_tokens(auth->tokens, &count, text, len, path, err)) < 0)
        goto out;
    *out = auth;
    auth = NULL;
    rc = 0;
out:
    if (text)
        explicit_bzero(text, len);
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
    if (auth->tokens) {
        explicit_bzero(auth->tokens, auth->count * sizeof(*auth->tokens));
        free(auth->tokens);
    }
    free(auth);
}

int fe_auth_check(const fe_auth *auth, const char *value, size_t len)
{
    static const char scheme[] = "bearer ";
    const size_t scheme_len = sizeof(scheme) - 1;
    padded_token presented;
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
    pad_token(&presented, token, token_len);
    int match = 0;
    for (size_t i = 0; i < auth->count; i++)
        match |= same_token(&presented, &auth->tokens[i]);
    explicit_bzero(&presented, sizeof(presented));
    return match;
}

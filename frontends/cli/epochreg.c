/*
 * epochreg — the command-line tool: register, list, get, migrate, prune,
 * export. It only adapts argv, the environment and stdout/stderr to the
 * library; parsing and renderings live in frontends/common so the daemon and
 * the CGI program answer the same way.
 *
 * Exit codes (also in --help; scripts depend on them, so they never change):
 * 0 ok, 1 internal/other, 2 usage or invalid input, 3 not found,
 * 4 store unavailable, 5 schema needs migration, 6 conflict.
 */
#include "fe.h"

#include <epochreg/epochreg.h>
#include <jansson.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum exit_code {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
    EXIT_UNAVAILABLE = 4,
    EXIT_SCHEMA = 5,
    EXIT_CONFLICT = 6
};

enum command {
    CMD_NONE,
    CMD_REGISTER,
    CMD_LIST,
    CMD_GET,
    CMD_MIGRATE,
    CMD_PRUNE,
    CMD_EXPORT,
    CMD_HELP,
    CMD_COUNT
};

#define ON(cmd) (1u << (cmd))
#define STORE_COMMANDS                                                                   \
    (ON(CMD_REGISTER) | ON(CMD_LIST) | ON(CMD_GET) | ON(CMD_MIGRATE) | ON(CMD_PRUNE) |   \
     ON(CMD_EXPORT))

enum option {
    OPT_DB,
    OPT_JSON,
    OPT_TAG,
    OPT_KEY,
    OPT_NODE,
    OPT_LIMIT,
    OPT_ORDER,
    OPT_AFTER,
    OPT_BEFORE,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_FORMAT,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT
};

typedef struct option_def {
    const char *name;
    int takes_value;
    /* The commands the option is valid for (ON(CMD_NONE): without one). */
    unsigned commands;
} option_def;

/* Indexed by enum option. */
static const option_def options[OPT_COUNT] = {
    {"db", 1, STORE_COMMANDS},
    {"json", 0,
     ON(CMD_REGISTER) | ON(CMD_LIST) | ON(CMD_GET) | ON(CMD_MIGRATE) | ON(CMD_PRUNE)},
    {"tag", 1, ON(CMD_REGISTER) | ON(CMD_LIST) | ON(CMD_EXPORT)},
    {"key", 1, ON(CMD_REGISTER)},
    {"node", 1, ON(CMD_REGISTER)},
    {"limit", 1, ON(CMD_LIST)},
    {"order", 1, ON(CMD_LIST)},
    {"after", 1, ON(CMD_LIST)},
    {"before", 1, ON(CMD_LIST) | ON(CMD_PRUNE)},
    {"since", 1, ON(CMD_LIST) | ON(CMD_EXPORT)},
    {"until", 1, ON(CMD_LIST) | ON(CMD_EXPORT)},
    {"format", 1, ON(CMD_EXPORT)},
    {"help", 0, ON(CMD_COUNT) - 1},
    {"version", 0, ON(CMD_NONE)},
};

/* Indexed by enum command. */
static const char *const command_names[CMD_COUNT] = {
    "", "register", "list", "get", "migrate", "prune", "export", "help"};

/* Most positional arguments after the command any command takes. */
#define MAX_ARGS 1

/* What the command line asked for. */
typedef struct cli {
    enum command cmd;
    /* Option values: NULL when absent, "" for a flag that is present. */
    const char *opt[OPT_COUNT];
    const char *args[MAX_ARGS];
    size_t nargs;
    /* More positional arguments than MAX_ARGS were given. */
    int extra_args;
} cli;

static const char help_text[] =
    "Usage: epochreg [OPTIONS] COMMAND [ARGUMENTS] [OPTIONS]\n"
    "\n"
    "Registers the current epoch time in a durable store (SQLite or PostgreSQL)\n"
    "and reads the registrations back.\n"
    "\n"
    "Commands:\n"
    "  register [--tag T] [--key K] [--node NAME]\n"
    "                    register now and print the new record\n"
    "  list [--limit N] [--order asc|desc] [--after ID] [--before ID]\n"
    "       [--since T] [--until T] [--tag T]\n"
    "                    print records, newest first unless --order asc\n"
    "  get ID            print one record\n"
    "  migrate           bring the store's schema up to date (idempotent)\n"
    "  prune --before T  delete every record registered before T\n"
    "  export --format ndjson|csv [--since T] [--until T] [--tag T]\n"
    "                    write every matching record, oldest first, streaming\n"
    "  help [COMMAND]    show this help, or one command's\n"
    "\n"
    "Options (before or after the command; each only where it applies):\n"
    "  --db URI          the store: sqlite:PATH, sqlite::memory:,\n"
    "                    postgresql://..., or libpq key=value conninfo.\n"
    "                    Default: $EPOCHREG_DB, else the SQLite file\n"
    "                    ${XDG_DATA_HOME:-$HOME/.local/share}/epochreg/epochreg.db\n"
    "                    (its directory is created with mode 0700)\n"
    "  --json            print the HTTP API's JSON: one record for register and\n"
    "                    get, {\"items\":[...]} for list, {\"schema_version\":N}\n"
    "                    for migrate, {\"deleted\":N} for prune\n"
    "  --tag T           register: the tag, 1-128 bytes of UTF-8 without control\n"
    "                    characters; list, export: only records with this tag\n"
    "  --key K           register: idempotency key, 1-128 printable ASCII\n"
    "                    characters without spaces; registering a stored key\n"
    "                    again prints the stored record (exit 0), with another\n"
    "                    tag it is a conflict (exit 6)\n"
    "  --node NAME       register: node name, 1-64 of A-Z a-z 0-9 . _ : -\n"
    "                    (default $EPOCHREG_NODE, else \"local\")\n"
    "  --limit N         list: at most N records, 1-1000 (default 100)\n"
    "  --order ORDER     list: asc or desc (default desc)\n"
    "  --after ID        list: only ids above ID (next page in asc order)\n"
    "  --before ID       list: only ids below ID (next page in desc order)\n"
    "  --since T         list, export: only records registered at or after T\n"
    "  --until T         list, export: only records registered before T\n"
    "  --before T        prune: the cut-off time\n"
    "  --format FORMAT   export: ndjson (one JSON record per line) or csv\n"
    "  -h, --help        show help and exit\n"
    "  --version         print the library's version and exit\n"
    "\n"
    "Times (T): epoch seconds with at most six fractional digits\n"
    "(1795298112, 1795298112.123456) or RFC 3339 with a Z or an offset\n"
    "(2026-11-21T21:55:12Z, 2026-11-21 22:55:12.5+01:00).\n"
    "\n"
    "Text output: one record per line, fields separated by tabs:\n"
    "  id  time  tag (- if none)  protocol  node  client_ip (- if none)  request_id\n"
    "When list has more records than it printed, stderr says which --after or\n"
    "--before gives the next page.\n"
    "\n"
    "CSV: RFC 4180 with a header row and CRLF line ends. A field that starts\n"
    "with =, +, - or @ is quoted and gets a ' in front of it inside the quotes\n"
    "(\"'=1+1\"), so that a spreadsheet shows it as text instead of running it\n"
    "as a formula: remove that ' to get the stored value.\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  internal or other error\n"
    "  2  usage error or invalid input\n"
    "  3  record not found\n"
    "  4  store unavailable (cannot be reached or opened, out of memory);\n"
    "     a register may be retried with the same --key\n"
    "  5  the store's schema needs migration: run 'epochreg migrate'\n"
    "  6  conflict: the idempotency key was used with a different tag\n";

/* Indexed by enum command. */
static const char *const command_help[CMD_COUNT] = {
    "",
    "Usage: epochreg register [--tag T] [--key K] [--node NAME] [--db URI] [--json]\n"
    "\n"
    "Registers the current time and prints the new record. With --key, a key\n"
    "that is already stored prints the stored record instead (exit 0, with a\n"
    "note on stderr); the same key with another tag is a conflict (exit 6).\n"
    "The node defaults to $EPOCHREG_NODE, else \"local\".\n",
    "Usage: epochreg list [--limit N] [--order asc|desc] [--after ID] [--before ID]\n"
    "                     [--since T] [--until T] [--tag T] [--db URI] [--json]\n"
    "\n"
    "Prints at most N records (1-1000, default 100), newest first unless\n"
    "--order asc. --after and --before are exclusive id cursors; when more\n"
    "records match, stderr names the cursor for the next page. --since is\n"
    "inclusive, --until exclusive. T is epoch seconds (at most six fractional\n"
    "digits) or RFC 3339.\n",
    "Usage: epochreg get ID [--db URI] [--json]\n"
    "\n"
    "Prints the record with this id; exit 3 if there is none.\n",
    "Usage: epochreg migrate [--db URI] [--json]\n"
    "\n"
    "Brings the store's schema to the version this library uses and prints\n"
    "it (\"schema version N\"). Safe to run again, and from several places at\n"
    "once.\n",
    "Usage: epochreg prune --before T [--db URI] [--json]\n"
    "\n"
    "Deletes every record registered before T and prints how many\n"
    "(\"pruned N records\"). T is epoch seconds or RFC 3339.\n",
    "Usage: epochreg export --format ndjson|csv [--since T] [--until T] [--tag T]\n"
    "                       [--db URI]\n"
    "\n"
    "Writes every matching record, oldest first, page by page (memory stays\n"
    "bounded however many there are). ndjson: one JSON record per line. csv:\n"
    "RFC 4180 with a header row and CRLF line ends; a field starting with =,\n"
    "+, - or @ is quoted with a ' in front of it inside the quotes, so that\n"
    "spreadsheets do not run it as a formula.\n",
    "Usage: epochreg help [COMMAND]\n"
    "\n"
    "Shows the help, or one command's.\n",
};

/* ---- messages ---- */

static void vmessage(const char *fmt, va_list ap)
{
    fputs("epochreg: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void message(const char *fmt, ...) EPOCHREG_PRINTF(1, 2);

/* Prints "epochreg: <message>" on stderr. */
static void message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

static int usage_error(const char *fmt, ...) EPOCHREG_PRINTF(1, 2);

/* A usage error: the message, a pointer to --help, exit 2. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fputs("Try 'epochreg --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/*
 * True when a word the user typed can be repeated in a message: short and
 * plain. Anything else (a misplaced URI with a password, terminal escapes)
 * is not echoed.
 */
static int echoable(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int exit_code(int rc)
{
    switch (rc) {
    case EPOCH_EINVAL:
        return EXIT_USAGE;
    case EPOCH_ENOTFOUND:
        return EXIT_NOT_FOUND;
    case EPOCH_EUNAVAILABLE:
    case EPOCH_ENOMEM:
        return EXIT_UNAVAILABLE;
    case EPOCH_ESCHEMA:
        return EXIT_SCHEMA;
    case EPOCH_ECONFLICT:
        return EXIT_CONFLICT;
    default:
        return EXIT_INTERNAL;
    }
}

/* Reports a failed library (or fe_) call and returns its exit code. The
 * library promises that its messages hold no passwords (errors.h), so they
 * are shown as they are. */
static int failed(int rc, const epoch_error *err)
{
    message("%s", err->message[0] ? err->message : epoch_strerror(rc));
    return exit_code(rc);
}

/* ---- the command line ---- */

static enum command find_command(const char *word)
{
    for (int c = CMD_NONE + 1; c < CMD_COUNT; c++)
        if (strcmp(word, command_names[c]) == 0)
            return (enum command)c;
    return CMD_NONE;
}

static int find_option(const char *name, size_t n)
{
    for (int o = 0; o < OPT_COUNT; o++)
        if (strlen(options[o].name) == n && memcmp(options[o].name, name, n) == 0)
            return o;
    return -1;
}

/* Reads one option at argv[*i] (advancing *i past a separate value). */
static int parse_option(cli *c, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *name, *value = NULL;
    size_t n;
    if (strcmp(arg, "-h") == 0) {
        name = "help";
        n = 4;
    } else if (arg[1] == '-') {
        name = arg + 2;
        const char *eq = strchr(name, '=');
        n = eq ? (size_t)(eq - name) : strlen(name);
        value = eq ? eq + 1 : NULL;
    } else {
        /* Only the letter: "-pSECRET" must not show the rest. */
        return echoable(arg + 1, 1) ? usage_error("unknown option '-%c'", arg[1])
                                    : usage_error("unknown option");
    }
    int o = find_option(name, n);
    if (o < 0)
        /* Only the name: "--dbb=postgresql://user:password@..." must not
         * show its value. */
        return echoable(name, n) ? usage_error("unknown option '--%.*s'", (int)n, name)
                                 : usage_error("unknown option");
    if (options[o].takes_value && !value) {
        if (*i + 1 >= argc)
            return usage_error("option --%s needs a value", options[o].name);
        value = argv[++*i];
    } else if (!options[o].takes_value && value) {
        return usage_error("option --%s takes no value", options[o].name);
    }
    if (c->opt[o])
        return usage_error("option --%s is given more than once", options[o].name);
    c->opt[o] = value ? value : "";
    return 0;
}

/* Fills @p c from argv: options anywhere, the first other word is the
 * command, the words after it its arguments; "--" ends the options. */
static int parse_command_line(cli *c, int argc, char **argv)
{
    int rc, options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_end && strcmp(arg, "--") == 0) {
            options_end = 1;
        } else if (!options_end && arg[0] == '-' && arg[1] != '\0' &&
                   !(arg[1] >= '0' && arg[1] <= '9')) {
            /* "-5" is left to be an argument, so "get -5" says what is wrong
             * with the id instead of calling it an unknown option. */
            if ((rc = parse_option(c, argc, argv, &i)) != 0)
                return rc;
        } else if (c->cmd == CMD_NONE) {
            c->cmd = find_command(arg);
            if (c->cmd == CMD_NONE)
                return echoable(arg, strlen(arg))
                           ? usage_error("unknown command '%s'", arg)
                           : usage_error("unknown command");
        } else if (c->nargs < MAX_ARGS) {
            c->args[c->nargs++] = arg;
        } else {
            c->extra_args = 1;
        }
    }
    return 0;
}

/* Checks that every option given applies to the command and that the
 * command has the arguments it needs. */
static int check_command_line(const cli *c)
{
    const char *cmd = c->cmd == CMD_NONE ? NULL : command_names[c->cmd];
    for (int o = 0; o < OPT_COUNT; o++) {
        if (!c->opt[o] || (options[o].commands & ON(c->cmd)))
            continue;
        if (!cmd)
            return usage_error("option --%s needs a command", options[o].name);
        return usage_error("option --%s is not valid for %s", options[o].name, cmd);
    }
    if (!cmd)
        return c->opt[OPT_VERSION] ? 0 : usage_error("no command given");
    size_t wanted = c->cmd == CMD_GET || c->cmd == CMD_HELP ? 1 : 0;
    if (c->cmd == CMD_GET && c->nargs == 0)
        return usage_error("get needs a record id");
    if (c->extra_args || c->nargs > wanted)
        return usage_error("too many arguments for %s", cmd);
    return 0;
}

static int show_help(const cli *c)
{
    enum command topic = c->cmd;
    if (topic == CMD_HELP && c->nargs == 1) {
        topic = find_command(c->args[0]);
        if (topic == CMD_NONE)
            return echoable(c->args[0], strlen(c->args[0]))
                       ? usage_error("unknown command '%s'", c->args[0])
                       : usage_error("unknown command");
    }
    if (topic == CMD_NONE || (topic == CMD_HELP && c->nargs == 0))
        fputs(help_text, stdout);
    else
        fputs(command_help[topic], stdout);
    return EXIT_OK;
}

/* ---- the store ---- */

/* Creates @p path and its missing parents with mode 0700, like `mkdir -p`;
 * a directory that already exists keeps its mode. */
/* An environment variable, or NULL when it is unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/*
 * Writes the store URI into @p uri: --db, else $EPOCHREG_DB, else the default
 * SQLite file (fe_default_store_uri(), shared with the daemon).
 */
static int store_uri(char *uri, size_t size, const cli *c)
{
    const char *given = c->opt[OPT_DB] ? c->opt[OPT_DB] : env("EPOCHREG_DB");
    if (c->opt[OPT_DB] && !c->opt[OPT_DB][0])
        return usage_error("option --db is empty");
    if (given) {
        int n = snprintf(uri, size, "%s", given);
        if (n < 0 || (size_t)n >= size)
            return usage_error("the store URI is too long");
        return EXIT_OK;
    }
    epoch_error err;
    int rc = fe_default_store_uri(uri, size, &err);
    if (rc == EPOCH_EINVAL)
        return usage_error("%s: use --db URI or set EPOCHREG_DB", err.message);
    if (rc < 0) {
        message("%s", err.message);
        return EXIT_UNAVAILABLE;
    }
    return EXIT_OK;
}

static int open_store(epoch_store **store, const cli *c)
{
    /* Room for the library's longest URI (8192) and a NUL. */
    char uri[8193];
    epoch_error err;
    int rc = store_uri(uri, sizeof(uri), c);
    if (rc != EXIT_OK)
        return rc;
    /* The library's messages never repeat the URI or a password from it. */
    rc = epoch_store_open(store, uri, NULL, &err);
    /* The URI may hold a password: wipe our copy (explicit_bzero, which the
     * compiler may not drop as a dead store), never print it. */
    explicit_bzero(uri, sizeof(uri));
    return rc < 0 ? failed(rc, &err) : EXIT_OK;
}

/* ---- output ---- */

static int print_json(json_t *value)
{
    if (!value) {
        message("cannot render the result as JSON");
        return EXIT_INTERNAL;
    }
    int rc = json_dumpf(value, stdout, JSON_COMPACT);
    json_decref(value);
    if (rc < 0 || fputc('\n', stdout) == EOF) {
        message("cannot write the output");
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

static int print_record_text(const epoch_record *r)
{
    char time[EPOCH_TIME_BUFSIZE];
    const char *protocol = epoch_protocol_name(r->protocol);
    if (epoch_time_format(time, sizeof(time), r->epoch_us) < 0 || !protocol) {
        message("record %lld cannot be shown: bad time or protocol", (long long)r->id);
        return EXIT_INTERNAL;
    }
    printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\n", (long long)r->id, time,
           r->tag[0] ? r->tag : "-", protocol, r->node,
           r->client_ip[0] ? r->client_ip : "-", r->request_id);
    return EXIT_OK;
}

static int print_record(const epoch_record *r, const cli *c)
{
    return c->opt[OPT_JSON] ? print_json(fe_record_json(r)) : print_record_text(r);
}

/* ---- commands ---- */

/* Checks an explicitly given field (an empty one is refused too). */
static int check_field(epoch_field field, const char *value, const char *source)
{
    epoch_error err = {0};
    if (!value || epoch_field_check(field, value, &err) == 0)
        return EXIT_OK;
    if (source)
        message("%s: %s", source, err.message);
    else
        message("%s", err.message);
    return EXIT_USAGE;
}

static int cmd_register(const cli *c)
{
    epoch_store *store = NULL;
    epoch_record rec;
    epoch_error err;
    epoch_entry entry = {0};
    const char *node = c->opt[OPT_NODE] ? c->opt[OPT_NODE] : env("EPOCHREG_NODE");
    int rc, status;

    entry.protocol = EPOCH_PROTOCOL_CLI;
    entry.tag = c->opt[OPT_TAG];
    entry.idempotency_key = c->opt[OPT_KEY];
    entry.node = node;
    /* Check before touching the store, so bad input never creates one. */
    if ((rc = check_field(EPOCH_FIELD_TAG, entry.tag, NULL)) != EXIT_OK ||
        (rc = check_field(EPOCH_FIELD_IDEMPOTENCY_KEY, entry.idempotency_key, NULL)) !=
            EXIT_OK ||
        (rc = check_field(EPOCH_FIELD_NODE, node,
                          c->opt[OPT_NODE] ? NULL : "EPOCHREG_NODE")) != EXIT_OK ||
        (rc = open_store(&store, c)) != EXIT_OK)
        goto out;
    status = epoch_register(&rec, store, &entry, &err);
    if (status < 0) {
        rc = failed(status, &err);
        goto out;
    }
    if (status == EPOCH_REPLAYED)
        message("idempotency key already registered; showing the stored record");
    rc = print_record(&rec, c);
out:
    epoch_store_close(store);
    return rc;
}

/* Parses an id cursor or id option: 0..INT64_MAX (min 1 for a record id). */
static int parse_id(int64_t *out, const char *s, uint64_t min, const char *name)
{
    uint64_t v;
    epoch_error err;
    if (fe_parse_uint(&v, s, strlen(s), min, INT64_MAX, name, &err) < 0)
        return failed(err.code, &err);
    *out = (int64_t)v;
    return EXIT_OK;
}

static int parse_time(int64_t *out, const char *s, const char *name)
{
    epoch_error err;
    if (fe_parse_time(out, s, strlen(s), name, &err) < 0)
        return failed(err.code, &err);
    return EXIT_OK;
}

/* The filters list and export share: --since, --until, --tag. */
static int parse_filters(epoch_query *q, const cli *c)
{
    int rc = EXIT_OK;
    if ((c->opt[OPT_SINCE] &&
         (rc = parse_time(&q->since_us, c->opt[OPT_SINCE], "--since")) != EXIT_OK) ||
        (c->opt[OPT_UNTIL] &&
         (rc = parse_time(&q->until_us, c->opt[OPT_UNTIL], "--until")) != EXIT_OK) ||
        (rc = check_field(EPOCH_FIELD_TAG, c->opt[OPT_TAG], NULL)) != EXIT_OK)
        return rc;
    q->tag = c->opt[OPT_TAG];
    return EXIT_OK;
}

static int cmd_list(const cli *c)
{
    epoch_store *store = NULL;
    epoch_record *records = NULL;
    epoch_query q = EPOCH_QUERY_INIT;
    epoch_error err;
    size_t count = 0;
    int more = 0, status, rc = EXIT_OK;

    if (c->opt[OPT_LIMIT]) {
        uint64_t limit;
        const char *s = c->opt[OPT_LIMIT];
        if (fe_parse_uint(&limit, s, strlen(s), 1, EPOCH_LIST_MAX, "--limit", &err) < 0) {
            rc = failed(err.code, &err);
            goto out;
        }
        q.limit = (unsigned)limit;
    }
    if (c->opt[OPT_ORDER] &&
        fe_parse_order(&q.order, c->opt[OPT_ORDER], strlen(c->opt[OPT_ORDER]), "--order",
                       &err) < 0) {
        rc = failed(err.code, &err);
        goto out;
    }
    if ((c->opt[OPT_AFTER] &&
         (rc = parse_id(&q.after, c->opt[OPT_AFTER], 0, "--after")) != EXIT_OK) ||
        (c->opt[OPT_BEFORE] &&
         (rc = parse_id(&q.before, c->opt[OPT_BEFORE], 0, "--before")) != EXIT_OK) ||
        (rc = parse_filters(&q, c)) != EXIT_OK)
        goto out;
    records = calloc(q.limit, sizeof(*records));
    if (!records) {
        message("out of memory");
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    if ((rc = open_store(&store, c)) != EXIT_OK)
        goto out;
    status = epoch_list(records, q.limit, &count, &more, store, &q, &err);
    if (status < 0) {
        rc = failed(status, &err);
        goto out;
    }
    if (c->opt[OPT_JSON]) {
        rc = print_json(fe_records_json(records, count));
        goto out;
    }
    for (size_t i = 0; i < count && rc == EXIT_OK; i++)
        rc = print_record_text(&records[i]);
    if (rc == EXIT_OK && more && count > 0)
        message("more records: use --%s %lld",
                q.order == EPOCH_ORDER_ASC ? "after" : "before",
                (long long)records[count - 1].id);
out:
    epoch_store_close(store);
    free(records);
    return rc;
}

static int cmd_get(const cli *c)
{
    epoch_store *store = NULL;
    epoch_record rec;
    epoch_error err;
    int64_t id = 0;
    int rc, status;
    if ((rc = parse_id(&id, c->args[0], 1, "ID")) != EXIT_OK ||
        (rc = open_store(&store, c)) != EXIT_OK)
        goto out;
    status = epoch_record_get(&rec, store, id, &err);
    rc = status < 0 ? failed(status, &err) : print_record(&rec, c);
out:
    epoch_store_close(store);
    return rc;
}

static int cmd_migrate(const cli *c)
{
    epoch_store *store = NULL;
    epoch_error err;
    int version = 0, status;
    int rc = open_store(&store, c);
    if (rc != EXIT_OK)
        goto out;
    status = epoch_store_migrate(&version, store, &err);
    if (status < 0) {
        rc = failed(status, &err);
        goto out;
    }
    if (c->opt[OPT_JSON])
        rc = print_json(json_pack("{s:i}", "schema_version", version));
    else
        printf("schema version %d\n", version);
out:
    epoch_store_close(store);
    return rc;
}

static int cmd_prune(const cli *c)
{
    epoch_store *store = NULL;
    epoch_error err;
    int64_t before = 0, deleted = 0;
    int rc, status;
    if (!c->opt[OPT_BEFORE]) {
        rc = usage_error("prune needs --before T");
        goto out;
    }
    if ((rc = parse_time(&before, c->opt[OPT_BEFORE], "--before")) != EXIT_OK ||
        (rc = open_store(&store, c)) != EXIT_OK)
        goto out;
    status = epoch_store_prune(&deleted, store, before, &err);
    if (status < 0) {
        rc = failed(status, &err);
        goto out;
    }
    if (c->opt[OPT_JSON])
        rc = print_json(json_pack("{s:I}", "deleted", (json_int_t)deleted));
    else
        printf("pruned %lld records\n", (long long)deleted);
out:
    epoch_store_close(store);
    return rc;
}

/* Writes one page of an export; EXIT_OK or an exit code. */
static int export_page(const epoch_record *records, size_t count, int csv)
{
    char line[FE_CSV_LINE_SIZE];
    size_t len;
    for (size_t i = 0; i < count; i++) {
        if (csv) {
            if (fe_csv_record(line, sizeof(line), &len, &records[i]) < 0) {
                message("record %lld cannot be written as CSV", (long long)records[i].id);
                return EXIT_INTERNAL;
            }
            if (fwrite(line, 1, len, stdout) != len)
                break;
        } else {
            int rc = print_json(fe_record_json(&records[i]));
            if (rc != EXIT_OK)
                return rc;
        }
    }
    /* One flush per page: a reader downstream sees progress, and a full
     * disk or closed pipe stops the export at once. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        message("cannot write the output: %s", strerror(errno));
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

static int cmd_export(const cli *c)
{
    epoch_store *store = NULL;
    epoch_record *records = NULL;
    epoch_query q = EPOCH_QUERY_INIT;
    epoch_error err;
    const char *format = c->opt[OPT_FORMAT];
    int csv, rc;

    if (!format) {
        rc = usage_error("export needs --format ndjson or --format csv");
        goto out;
    }
    if (strcmp(format, "ndjson") != 0 && strcmp(format, "csv") != 0) {
        rc = usage_error("--format must be ndjson or csv");
        goto out;
    }
    csv = strcmp(format, "csv") == 0;
    if ((rc = parse_filters(&q, c)) != EXIT_OK)
        goto out;
    /* Keyset pagination in id order: one page in memory at a time, and the
     * library guarantees no record is skipped while others are written. */
    q.order = EPOCH_ORDER_ASC;
    q.limit = EPOCH_LIST_MAX;
    q.after = 0;
    records = calloc(EPOCH_LIST_MAX, sizeof(*records));
    if (!records) {
        message("out of memory");
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    if ((rc = open_store(&store, c)) != EXIT_OK)
        goto out;
    if (csv && fputs(FE_CSV_HEADER, stdout) == EOF) {
        message("cannot write the output");
        rc = EXIT_INTERNAL;
        goto out;
    }
    for (;;) {
        size_t count = 0;
        int more = 0;
        int status = epoch_list(records, EPOCH_LIST_MAX, &count, &more, store, &q, &err);
        if (status < 0) {
            rc = failed(status, &err);
            goto out;
        }
        if ((rc = export_page(records, count, csv)) != EXIT_OK || !more || count == 0)
            goto out;
        q.after = records[count - 1].id;
    }
out:
    epoch_store_close(store);
    free(records);
    return rc;
}

int main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof(c));
    int rc = parse_command_line(&c, argc, argv);
    if (rc != EXIT_OK)
        return rc;
    /* --help wins over everything else on the line, as people expect. */
    if (c.opt[OPT_HELP]) {
        rc = show_help(&c);
    } else if ((rc = check_command_line(&c)) != EXIT_OK) {
        /* reported */
    } else if (c.cmd == CMD_HELP) {
        rc = show_help(&c);
    } else if (c.opt[OPT_VERSION]) {
        printf("epochreg %s\n", epochreg_version(NULL, NULL, NULL));
    } else {
        switch (c.cmd) {
        case CMD_REGISTER:
            rc = cmd_register(&c);
            break;
        case CMD_LIST:
            rc = cmd_list(&c);
            break;
        case CMD_GET:
            rc = cmd_get(&c);
            break;
        case CMD_MIGRATE:
            rc = cmd_migrate(&c);
            break;
        case CMD_PRUNE:
            rc = cmd_prune(&c);
            break;
        case CMD_EXPORT:
            rc = cmd_export(&c);
            break;
        default:
            rc = EXIT_INTERNAL;
            break;
        }
    }
    /* Output is buffered: a failed write (full disk) shows up here. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        message("cannot write the output: %s", strerror(errno));
        if (rc == EXIT_OK)
            rc = EXIT_INTERNAL;
    }
    return rc;
}

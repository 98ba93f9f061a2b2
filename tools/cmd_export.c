/* cmd_export.c - `tsl export DIR` writes every stored list's current Status List Tokens
 * as static files under DIR at the path of the list's uri (PATH.jwt, PATH.jwt.gz
 * pre-gzipped with the same mtime, PATH.cwt), the aggregation document, and
 * DIR/nginx.conf: maps and a server block with which nginx serves those files with the
 * same Accept negotiation, 406, gzip, ETag, Cache-Control, Vary, CORS and method rules
 * as `tsl serve`, so that a list can be published by static hosting. Every file is
 * written to a temporary name and renamed into place. */
#include "store_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "export"
#define EXPORT_MAX_PATH 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsl export DIR [--db PATH] [--default-format jwt|cwt]\n"
            "                  [--aggregation-path PATH] [--listen ADDR:PORT]\n"
            "\n"
            "Writes the current recorded tokens of every stored list as static files under\n"
            "DIR, at the path of the list's uri (the host is ignored): PATH.jwt and\n"
            "PATH.jwt.gz (pre-gzipped) and PATH.cwt, for the forms the list publishes;\n"
            "with --aggregation-path, the aggregation document {\"status_lists\":[...]} as\n"
            "DIR/AGGREGATION-PATH.json; and DIR/nginx.conf, to be included in nginx's\n"
            "http {} block, which serves them like `tsl serve` does: Accept negotiation\n"
            "(an approximation, described in the file), 406, gzip_static, ETag,\n"
            "Last-Modified, Cache-Control max-age (computed now from ttl and exp), Vary,\n"
            "CORS, 405 for other methods and 204 for OPTIONS preflights. Files are written\n"
            "atomically (temporary file, then rename); each token file's mtime is its iat.\n"
            "Run it again after every `tsl publish`.\n"
            "\n"
            "  --db PATH              the store (default: $TSL_DB, else %s)\n"
            "  --default-format F     jwt (default) or cwt: served when the client accepts\n"
            "                         both equally (or sends no Accept)\n"
            "  --aggregation-path P   serve the aggregation document at path P\n"
            "  --listen ADDR:PORT     nginx listen address (default 127.0.0.1:8080)\n"
            "\n"
            "Exit status: 0 success, 1 a list could not be exported (not published, or a\n"
            "uri whose path cannot be a file), 2 usage or I/O error.\n",
            STORE_CLI_DEFAULT_DB);
}

/* One exported list. */
typedef struct {
    char *id;
    char *uri;
    char *path;         /* the uri's path, "/..." */
    unsigned avail;     /* TSL_PUBLISH_* forms written */
    int64_t max_age;    /* Cache-Control max-age */
} export_list;

/* ---------------------------------------------------------------------------------- */
/* Files                                                                               */

/* mkdir -p of every directory above `path` (an absolute file name). */
static int make_parents(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            cli_err(CMD, "cannot create directory %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* Writes data to `path` atomically: a temporary file beside it, written, given mode
 * 0644 and (if mtime > 0) that mtime, flushed to disk, then renamed over path. */
static int write_atomic(const char *path, const void *data, size_t len, int64_t mtime)
{
    if (make_parents(path) != 0)
        return -1;
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
        cli_err(CMD, "%s: path too long", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_err(CMD, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) != 0)
        goto fail;
    if (mtime > 0) {
        struct timespec ts[2] = {{.tv_sec = (time_t)mtime}, {.tv_sec = (time_t)mtime}};
        if (futimens(fd, ts) != 0)
            goto fail;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:
    cli_err(CMD, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* The gzip form of data, at libdeflate's highest level. Free *out with free(). */
static int gzip_bytes(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(12);
    if (z == NULL)
        return -1;
    size_t bound = libdeflate_gzip_compress_bound(z, len);
    uint8_t *buf = malloc(bound);
    size_t n = buf != NULL ? libdeflate_gzip_compress(z, data, len, buf, bound) : 0;
    libdeflate_free_compressor(z);
    if (n == 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Paths                                                                               */

/* The path of a uri, or of a path starting with '/', by the library's one rule
 * (tsl_uri_path, which tsl serve follows too): A-Z a-z 0-9 . _ ~ - and '/' once
 * percent-encoded unreserved characters are decoded ("/l%41b" -> "/lAb", the file
 * nginx finds for either spelling), no empty, "." or ".." segment, not ending in '/':
 * a file name nginx matches literally and that stays inside DIR. At most
 * EXPORT_MAX_PATH bytes. Returns a malloc'ed copy or NULL with why (why_size bytes)
 * set. */
static char *uri_path(const char *uri, char *why, size_t why_size)
{
    char path[TSL_URI_MAX + 1];
    tsl_error err;
    tsl_error_clear(&err);
    if (tsl_uri_path(uri, path, sizeof path, &err) != TSL_OK) {
        snprintf(why, why_size, "%s", err.msg);
        return NULL;
    }
    if (strlen(path) > EXPORT_MAX_PATH) {
        snprintf(why, why_size, "path is too long");
        return NULL;
    }
    char *out = strdup(path);
    if (out == NULL)
        snprintf(why, why_size, "out of memory");
    return out;
}

/* ---------------------------------------------------------------------------------- */
/* One list                                                                            */

/* Writes the token files of list `id` under dir; fills *l. Returns EXIT_OK,
 * EXIT_REJECT (list skipped, message printed) or EXIT_USAGE (I/O). */
static int export_one(tsl_store *store, const char *dir, const char *id, int64_t now,
                      export_list *l)
{
    tsl_list_info info;
    int rc = store_cli_info(CMD, store, id, &info);
    if (rc != EXIT_OK)
        return rc;
    char why[TSL_ERROR_MSG_SIZE] = "out of memory";
    l->id = strdup(id);
    l->uri = strdup(info.uri);
    l->path = uri_path(info.uri, why, sizeof why);
    unsigned want = info.formats != 0 ? info.formats : TSL_PUBLISH_JWT | TSL_PUBLISH_CWT;
    int64_t ttl = info.ttl;
    tsl_list_info_free(&info);
    if (l->id == NULL || l->uri == NULL || l->path == NULL) {
        cli_err(CMD, "%s: uri \"%s\": %s; list skipped", id, l->uri ? l->uri : "", why);
        return EXIT_REJECT;
    }
    l->max_age = -1;
    for (unsigned k = 0; k < 2 && rc == EXIT_OK; k++) {
        unsigned bit = k == 0 ? TSL_PUBLISH_JWT : TSL_PUBLISH_CWT;
        if (!(want & bit))
            continue;
        const char *ext = k == 0 ? "jwt" : "cwt";
        uint8_t *tok = NULL;
        size_t len = 0;
        int64_t iat = 0, exp = 0;
        tsl_error err;
        tsl_error_clear(&err);
        tsl_status st = tsl_store_token(store, id, k == 0 ? TSL_FORMAT_JWT : TSL_FORMAT_CWT,
                                        0, &tok, &len, &iat, &exp, &err);
        if (st == TSL_ERR_INDEX) {
            cli_err(CMD, "%s: no %s token recorded (run tsl publish %s)", id, ext, id);
            rc = EXIT_REJECT;
            break;
        }
        if (st != TSL_OK) {
            rc = cli_fail(CMD, &err, st);
            break;
        }
        int64_t age = exp > now ? exp - now : 0;
        if (ttl > 0 && ttl < age)
            age = ttl;
        if (exp <= now)
            cli_err(CMD, "%s: warning: the %s token expired at %lld (run tsl publish %s)",
                    id, ext, (long long)exp, id);
        if (l->max_age < 0 || age < l->max_age)
            l->max_age = age;
        char file[PATH_MAX];
        snprintf(file, sizeof file, "%s%s.%s", dir, l->path, ext);
        if (write_atomic(file, tok, len, iat) != 0) {
            rc = EXIT_USAGE;
        } else if (k == 0) {
            uint8_t *gz = NULL;
            size_t gz_len = 0;
            strcat(file, ".gz");
            if (gzip_bytes(tok, len, &gz, &gz_len) != 0) {
                cli_err(CMD, "%s: gzip failed", id);
                rc = EXIT_USAGE;
            } else if (write_atomic(file, gz, gz_len, iat) != 0) {
                rc = EXIT_USAGE;
            }
            free(gz);
        }
        tsl_free(tok);
        if (rc == EXIT_OK)
            l->avail |= bit;
    }
    if (l->max_age < 0)
        l->max_age = 0;
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* nginx.conf                                                                          */

static const char *media(unsigned bit)
{
    return bit == TSL_PUBLISH_JWT ? TSL_MEDIA_JWT : TSL_MEDIA_CWT;
}

/* The 406 body naming the available types, the same bytes as tsl serve's
 * ("acceptable: TYPE[, TYPE]\n"; nginx-quoted, "\n" is an escape there). */
static void body_406(FILE *f, unsigned avail)
{
    fprintf(f, "\"acceptable: ");
    if (avail & TSL_PUBLISH_JWT)
        fprintf(f, "%s%s", TSL_MEDIA_JWT, (avail & TSL_PUBLISH_CWT) ? ", " : "");
    if (avail & TSL_PUBLISH_CWT)
        fprintf(f, "%s", TSL_MEDIA_CWT);
    fprintf(f, "\\n\"");
}

/* The headers every response of a list location carries (CORS, Vary) and, on 200 and
 * 304 only, Cache-Control. `in` indents. */
static void common_headers(FILE *f, const char *in, int64_t max_age)
{
    fprintf(f, "%sadd_header Access-Control-Allow-Origin \"*\" always;\n", in);
    fprintf(f, "%sadd_header Vary \"Accept, Accept-Encoding\" always;\n", in);
    if (max_age >= 0)
        fprintf(f, "%sadd_header Cache-Control \"public, max-age=%lld\";\n", in,
                (long long)max_age);
}

/* The method rules of one location: OPTIONS preflight 204, anything but GET and HEAD
 * 405 with Allow. The headers are repeated inside each `if`, because an add_header
 * there replaces the location's. */
static void method_rules(FILE *f, int64_t max_age)
{
    fprintf(f, "        if ($request_method = OPTIONS) {\n");
    common_headers(f, "            ", -1);
    fprintf(f, "            add_header Access-Control-Allow-Methods \"GET, HEAD, OPTIONS\" "
               "always;\n"
               "            add_header Access-Control-Allow-Headers \"Accept, "
               "Accept-Encoding, If-None-Match, If-Modified-Since\" always;\n"
               "            add_header Access-Control-Max-Age 86400 always;\n"
               "            add_header Allow \"GET, HEAD, OPTIONS\" always;\n"
               "            return 204;\n"
               "        }\n"
               "        if ($request_method !~ ^(GET|HEAD)$) {\n");
    common_headers(f, "            ", -1);
    fprintf(f, "            add_header Allow \"GET, HEAD, OPTIONS\" always;\n"
               "            return 405;\n"
               "        }\n");
    common_headers(f, "        ", max_age);
}

/* Ranks of a q-value as the maps compute them: 0 not acceptable, 1..10 a q of 0.0x
 * (x > 0) to 0.9x by its first decimal, 11 a q of 1. */
#define RANK_MAX 11

static void write_maps(FILE *f, tsl_format dflt)
{
    fputs(
        "# Content negotiation, done with maps on $http_accept: an approximation of the\n"
        "# RFC 9110 section 12.5.1 rules of `tsl serve` (tsl_http_choose_format()).\n"
        "#\n"
        "# Handled as tsl serve does:\n"
        "#  - no Accept header, or an empty one: the default format;\n"
        "#  - exact types application/statuslist+jwt and application/statuslist+cwt,\n"
        "#    alone or in a list with other types, any case, with or without q;\n"
        "#  - the wildcards */* and application/* (application/* taking precedence\n"
        "#    over */*), with or without q; a named type's q overrides the wildcard's;\n"
        "#  - exclusion with q=0 (e.g. \"application/statuslist+jwt;q=0, */*\");\n"
        "#  - several acceptable types: the higher q wins, a tie goes to the default\n"
        "#    format; nothing acceptable: 406 with a body naming the available types.\n"
        "#\n"
        "# Approximations, for clients sending unusual headers:\n"
        "#  - q-values are compared by their first decimal only (0.55 ties with 0.5);\n"
        "#  - only the first occurrence of each type and of each wildcard counts, and\n"
        "#    only the first Accept header;\n"
        "#  - a malformed q makes that type unacceptable instead of ignoring the\n"
        "#    element; parameters other than q are skipped, not compared.\n"
        "\n",
        f);
    static const struct {
        const char *var, *type, *cap;
    } named[] = {{"jwt", "application/statuslist\\+jwt", "tsl_qv_jwt"},
                 {"cwt", "application/statuslist\\+cwt", "tsl_qv_cwt"}};
    for (size_t k = 0; k < 2; k++) {
        fprintf(f,
                "# The q of %s when the header names it, else \"-\".\n"
                "map $http_accept $tsl_q_%s {\n"
                "    default \"-\";\n"
                "    \"~*(^|,)\\s*%s\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<%s>[0-9.]*)\" $%s;\n"
                "    \"~*(^|,)\\s*%s\\s*(;|,|$)\" 1;\n"
                "}\n",
                named[k].var, named[k].var, named[k].type, named[k].cap, named[k].cap,
                named[k].type);
    }
    fputs("# The q of a wildcard covering both types: application/* first, then */*;\n"
          "# no Accept at all accepts anything.\n"
          "map $http_accept $tsl_q_any {\n"
          "    default \"-\";\n"
          "    \"\" 1;\n"
          "    \"~*(^|,)\\s*application/\\*\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<tsl_qv_app>[0-9.]*)\" "
          "$tsl_qv_app;\n"
          "    \"~*(^|,)\\s*application/\\*\\s*(;|,|$)\" 1;\n"
          "    \"~*(^|,)\\s*\\*/\\*\\s*;([^,]*;)?\\s*q\\s*=\\s*(?<tsl_qv_all>[0-9.]*)\" "
          "$tsl_qv_all;\n"
          "    \"~*(^|,)\\s*\\*/\\*\\s*(;|,|$)\" 1;\n"
          "}\n",
          f);
    static const char *const qs[] = {"jwt", "cwt", "any"};
    for (size_t k = 0; k < 3; k++) {
        fprintf(f,
                "# Rank of that q: 0 excluded (or malformed), 1..10 by the first decimal,\n"
                "# 11 for q=1.\n"
                "map $tsl_q_%s $tsl_r_%s {\n"
                "    default 0;\n"
                "    \"-\" \"-\";\n"
                "    \"~^0*(\\.0*)?$\" 0;\n",
                qs[k], qs[k]);
        for (int d = 0; d <= 9; d++)
            fprintf(f, "    \"~^0*\\.%d\" %d;\n", d, d + 1);
        fprintf(f, "    \"~^1(\\.0*)?$\" %d;\n}\n", RANK_MAX);
    }
    for (size_t k = 0; k < 2; k++)
        fprintf(f,
                "# Effective rank of %s: its own if named, else the wildcard's.\n"
                "map \"$tsl_r_%s:$tsl_r_any\" $tsl_e_%s {\n"
                "    default 0;\n"
                "    \"-:-\" 0;\n"
                "    \"~^-:(?<tsl_ew_%s>[0-9]+)$\" $tsl_ew_%s;\n"
                "    \"~^(?<tsl_en_%s>[0-9]+):\" $tsl_en_%s;\n"
                "}\n",
                qs[k], qs[k], qs[k], qs[k], qs[k], qs[k], qs[k]);
    fputs("# The form to serve for a list with only JWT, only CWT, or both (406: none).\n"
          "map $tsl_e_jwt $tsl_pick_jwt {\n"
          "    default jwt;\n"
          "    0 406;\n"
          "}\n"
          "map $tsl_e_cwt $tsl_pick_cwt {\n"
          "    default cwt;\n"
          "    0 406;\n"
          "}\n",
          f);
    fprintf(f, "map \"$tsl_e_jwt:$tsl_e_cwt\" $tsl_pick_both {\n    default 406;\n");
    for (int j = 0; j <= RANK_MAX; j++)
        for (int c = 0; c <= RANK_MAX; c++) {
            if (j == 0 && c == 0)
                continue;
            const char *v = j > c   ? "jwt"
                            : c > j ? "cwt"
                                    : (dflt == TSL_FORMAT_CWT ? "cwt" : "jwt");
            fprintf(f, "    \"%d:%d\" %s;\n", j, c, v);
        }
    fputs("}\n\n", f);
}

/* The location serving one list. */
static void write_location(FILE *f, const export_list *l)
{
    const char *pick = l->avail == TSL_PUBLISH_JWT   ? "$tsl_pick_jwt"
                       : l->avail == TSL_PUBLISH_CWT ? "$tsl_pick_cwt"
                                                     : "$tsl_pick_both";
    fprintf(f, "    # list %s: %s (%s%s%s)\n", l->id, l->uri,
            (l->avail & TSL_PUBLISH_JWT) ? media(TSL_PUBLISH_JWT) : "",
            l->avail == (TSL_PUBLISH_JWT | TSL_PUBLISH_CWT) ? ", " : "",
            (l->avail & TSL_PUBLISH_CWT) ? media(TSL_PUBLISH_CWT) : "");
    fprintf(f, "    location = %s {\n", l->path);
    fprintf(f, "        default_type text/plain;\n"
               "        types {\n"
               "            %s jwt;\n"
               "            %s cwt;\n"
               "        }\n"
               "        etag on;\n"
               "        if_modified_since before;\n",
            TSL_MEDIA_JWT, TSL_MEDIA_CWT);
    if (l->avail & TSL_PUBLISH_JWT)
        fprintf(f, "        gzip_static on;\n");
    method_rules(f, l->max_age);
    fprintf(f, "        if (%s = 406) {\n", pick);
    common_headers(f, "            ", -1);
    fprintf(f, "            return 406 ");
    body_406(f, l->avail);
    fprintf(f, ";\n        }\n");
    fprintf(f, "        try_files %s.%s =404;\n    }\n\n", l->path, pick);
}

static int write_nginx(const char *dir, const char *listen, tsl_format dflt,
                       const export_list *lists, size_t n, const char *agg_path)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f == NULL) {
        cli_err(CMD, "out of memory");
        return EXIT_USAGE;
    }
    fprintf(f,
            "# nginx.conf - written by `tsl export`: serves the Status List Tokens under\n"
            "# this directory like `tsl serve` does. Include it inside nginx's http {}\n"
            "# block (it defines maps, which belong there, and one server); include only\n"
            "# one export per http block. The Cache-Control max-age values were computed\n"
            "# when the export ran: export again after every `tsl publish`.\n\n");
    write_maps(f, dflt);
    fprintf(f, "server {\n"
               "    listen %s;\n"
               "    root \"%s\";\n"
               "    default_type text/plain;\n"
               "    gzip off;\n"
               "    gzip_vary off;\n"
               "    server_tokens off;\n"
               "    add_header Access-Control-Allow-Origin \"*\" always;\n\n",
            listen, dir);
    for (size_t k = 0; k < n; k++)
        if (lists[k].avail != 0)
            write_location(f, &lists[k]);
    if (agg_path != NULL) {
        fprintf(f, "    # The aggregation document (spec section 9.3).\n"
                   "    location = %s {\n"
                   "        default_type application/json;\n"
                   "        types {\n"
                   "            application/json json;\n"
                   "        }\n"
                   "        etag on;\n"
                   "        if_modified_since before;\n",
                agg_path);
        method_rules(f, -1);
        fprintf(f, "        try_files %s.json =404;\n    }\n\n", agg_path);
    }
    fprintf(f, "    # Nothing else under this directory is served.\n"
               "    location / {\n"
               "        return 404;\n"
               "    }\n"
               "}\n");
    if (fclose(f) != 0) {
        free(text);
        cli_err(CMD, "out of memory");
        return EXIT_USAGE;
    }
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/nginx.conf", dir);
    int rc = write_atomic(file, text, text_len, 0) == 0 ? EXIT_OK : EXIT_USAGE;
    free(text);
    return rc;
}

static int write_aggregation(const char *dir, const char *agg_path,
                             const export_list *lists, size_t n)
{
    json_t *arr = json_array(), *doc = json_object();
    int rc = EXIT_USAGE;
    if (arr == NULL || doc == NULL)
        goto out;
    for (size_t k = 0; k < n; k++)
        if (lists[k].avail != 0 && json_array_append_new(arr, json_string(lists[k].uri)))
            goto out;
    if (json_object_set(doc, "status_lists", arr) != 0)
        goto out;
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        goto out;
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s%s.json", dir, agg_path);
    rc = write_atomic(file, text, strlen(text), 0) == 0 ? EXIT_OK : EXIT_USAGE;
    free(text);
out:
    if (rc != EXIT_OK && (arr == NULL || doc == NULL))
        cli_err(CMD, "out of memory");
    json_decref(arr);
    json_decref(doc);
    return rc;
}

/* The listen value goes into nginx.conf verbatim: allow only address characters. */
static bool listen_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == ':' || *s == '[' ||
              *s == ']' || *s == '-'))
            return false;
    return true;
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'D'},
                                         {"default-format", required_argument, NULL, 'f'},
                                         {"aggregation-path", required_argument, NULL, 'a'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *agg = NULL, *listen = "127.0.0.1:8080";
    tsl_format dflt = TSL_FORMAT_JWT;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': db = optarg; break;
        case 'f':
            if (!store_cli_parse_format(optarg, &dflt)) {
                cli_err(CMD, "--default-format: \"%s\" is not jwt or cwt", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a': agg = optarg; break;
        case 'l':
            if (!listen_ok(optarg)) {
                cli_err(CMD, "--listen: \"%s\" is not ADDR:PORT", optarg);
                return EXIT_USAGE;
            }
            listen = optarg;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        cli_err(CMD, "exactly one DIR is required");
        return EXIT_USAGE;
    }
    char *agg_path = NULL;
    if (agg != NULL) {
        char why[TSL_ERROR_MSG_SIZE] = "does not start with '/'";
        if (agg[0] != '/' || (agg_path = uri_path(agg, why, sizeof why)) == NULL) {
            cli_err(CMD, "--aggregation-path: \"%s\": %s", agg, why);
            return EXIT_USAGE;
        }
    }
    const char *dir_arg = argv[optind];
    if (mkdir(dir_arg, 0755) != 0 && errno != EEXIST) {
        cli_err(CMD, "cannot create %s: %s", dir_arg, strerror(errno));
        free(agg_path);
        return EXIT_USAGE;
    }
    char *dir = realpath(dir_arg, NULL);
    if (dir == NULL) {
        cli_err(CMD, "%s: %s", dir_arg, strerror(errno));
        free(agg_path);
        return EXIT_USAGE;
    }
    if (strcspn(dir, "\"\\$;{} \t\r\n'") != strlen(dir) || strlen(dir) > PATH_MAX / 2) {
        cli_err(CMD, "%s: the directory's name cannot go into nginx.conf (quotes, $, ;, "
                     "braces or white space)", dir);
        free(dir);
        free(agg_path);
        return EXIT_USAGE;
    }

    tsl_store *store = NULL;
    int rc = store_cli_open(CMD, db, &store);
    if (rc != EXIT_OK) {
        free(dir);
        free(agg_path);
        return rc;
    }
    char **ids = NULL;
    size_t n = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_store_list_ids(store, &ids, &n, &err);
    if (st != TSL_OK) {
        tsl_store_close(store);
        free(dir);
        free(agg_path);
        return cli_fail(CMD, &err, st);
    }
    export_list *lists = calloc(n ? n : 1, sizeof *lists);
    if (lists == NULL) {
        cli_err(CMD, "out of memory");
        rc = EXIT_USAGE;
    }
    int64_t now = (int64_t)time(NULL);
    for (size_t k = 0; lists != NULL && k < n; k++) {
        int r = export_one(store, dir, ids[k], now, &lists[k]);
        if (r == EXIT_OK) {
            /* Two lists at one path would overwrite each other's files. */
            for (size_t j = 0; j < k; j++)
                if (lists[j].avail != 0 && strcmp(lists[j].path, lists[k].path) == 0) {
                    cli_err(CMD, "%s: path %s is also the path of list %s; skipped",
                            ids[k], lists[k].path, lists[j].id);
                    lists[k].avail = 0;
                    r = EXIT_REJECT;
                }
        }
        if (r != EXIT_OK)
            lists[k].avail = 0;
        if (r == EXIT_OK)
            printf("%s: %s -> %s%s (%s), max-age %lld\n", ids[k], lists[k].uri, dir,
                   lists[k].path, store_cli_formats_name(lists[k].avail),
                   (long long)lists[k].max_age);
        if (r > rc)
            rc = r;
    }
    tsl_store_close(store);
    if (lists != NULL && agg_path != NULL) {
        int r = write_aggregation(dir, agg_path, lists, n);
        if (r > rc)
            rc = r;
    }
    if (lists != NULL) {
        int r = write_nginx(dir, listen, dflt, lists, n, agg_path);
        if (r > rc)
            rc = r;
        if (r == EXIT_OK)
            printf("nginx: %s/nginx.conf (listen %s)\n", dir, listen);
    }
    for (size_t k = 0; lists != NULL && k < n; k++) {
        free(lists[k].id);
        free(lists[k].uri);
        free(lists[k].path);
    }
    free(lists);
    tsl_store_ids_free(ids, n);
    free(dir);
    free(agg_path);
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        cli_err(CMD, "write error on standard output");
        rc = EXIT_USAGE;
    }
    return rc;
}

/* opts.c - the one option parser of the tsl subcommands: each command describes its
 * options in a cli_opt table (name, kind, target, bounds, the wording of a bad value),
 * and cli_opts_parse() walks argv with getopt_long, so that the messages getopt prints
 * for an unknown option stay what they were before the table existed. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

/* Prints the refusal of a bad value in the table's wording; see cli_opt.bad. */
static int bad_value(const char *cmd, const cli_opt *o, const char *arg)
{
    char label[64];
    if (o->label != NULL)
        snprintf(label, sizeof label, "%s", o->label);
    else
        snprintf(label, sizeof label, "--%s", o->name);
    if (o->bad != NULL)
        cli_err(cmd, "%s: \"%s\" %s", label, arg, o->bad);
    else
        cli_err(cmd, "%s: bad number \"%s\"", label, arg);
    return EXIT_USAGE;
}

/* Applies one option's argument to its target; returns an exit code. */
static int apply(const char *cmd, const cli_opt *o, const char *arg)
{
    uint64_t v;
    switch (o->kind) {
    case CLI_OPT_FLAG: *(bool *)o->target = true; return EXIT_OK;
    case CLI_OPT_SET: *(int *)o->target = (int)(int64_t)o->min; return EXIT_OK;
    case CLI_OPT_STR: *(const char **)o->target = arg; return EXIT_OK;
    case CLI_OPT_U64:
    case CLI_OPT_I64:
        if (!cli_parse_u64(arg, &v) || v < o->min || v > o->max)
            return bad_value(cmd, o, arg);
        if (o->kind == CLI_OPT_U64)
            *(uint64_t *)o->target = v;
        else
            *(int64_t *)o->target = (int64_t)v;
        return EXIT_OK;
    case CLI_OPT_ALG: {
        tsl_alg a = tsl_alg_from_name(arg);
        if (a == TSL_ALG_UNKNOWN)
            return bad_value(cmd, o, arg);
        *(tsl_alg *)o->target = a;
        return EXIT_OK;
    }
    case CLI_OPT_STRS: {
        cli_strs *s = o->target;
        /* The array is the caller's, of o->max entries: refuse, never grow. */
        if (s->n == o->max) {
            cli_err(cmd, "more than %llu --%s options", (unsigned long long)o->max, o->name);
            return EXIT_USAGE;
        }
        s->v[s->n++] = arg;
        return EXIT_OK;
    }
    case CLI_OPT_FN: {
        int rc = o->fn(cmd, o->target, arg);
        return rc == CLI_BAD ? bad_value(cmd, o, arg) : rc;
    }
    }
    return EXIT_USAGE;
}

int cli_opts_parse(const cli_cmd *c, const cli_opt *opts, int argc, char **argv, int *first)
{
    /* The getopt table: every entry's index is its return value (offset past the byte
     * range, so no short option collides), then --help. */
    enum { BASE = 1000, MAX_OPTS = 40 };
    struct option lo[MAX_OPTS + 2];
    char shorts[2 * MAX_OPTS + 2];
    size_t n = 0, ns = 0;
    for (; opts[n].name != NULL && n < MAX_OPTS; n++) {
        bool has_arg = opts[n].kind != CLI_OPT_FLAG && opts[n].kind != CLI_OPT_SET;
        lo[n] = (struct option){opts[n].name, has_arg ? required_argument : no_argument, NULL,
                                (int)(BASE + n)};
        if (opts[n].short_name != 0) {
            shorts[ns++] = opts[n].short_name;
            if (has_arg)
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    /* A command that words its own refusal of unknown options silences getopt's. */
    opterr = c->unknown == NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const cli_opt *o = NULL;
        if (ch >= BASE && ch < BASE + (int)n)
            o = &opts[ch - BASE];
        else
            for (size_t k = 0; k < n && o == NULL; k++)
                if (opts[k].short_name != 0 && ch == opts[k].short_name)
                    o = &opts[k];
        if (o != NULL) {
            int rc = apply(c->name, o, optarg);
            if (rc != EXIT_OK)
                return rc;
        } else if (ch == 'h') {
            cli_usage(c, opts, stdout);
            return EXIT_OK;
        } else if (c->unknown != NULL) {
            cli_err(c->name, "%s \"%s\"", c->unknown, argv[optind - 1]);
            return EXIT_USAGE;
        } else {
            cli_usage(c, opts, stderr);
            return EXIT_USAGE;
        }
    }
    *first = optind;
    return CLI_OPTS_RUN;
}

int cli_opt_bits(const char *cmd, void *target, const char *arg)
{
    uint64_t *bits = target;
    if (!cli_parse_u64(arg, bits) || (*bits != 1 && *bits != 2 && *bits != 4 && *bits != 8)) {
        cli_err(cmd, "--bits: \"%s\" is not 1, 2, 4 or 8", arg);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cli_opt_format(const char *cmd, void *target, const char *arg)
{
    (void)cmd;
    tsl_format *f = target;
    if (strcmp(arg, "jwt") != 0 && strcmp(arg, "cwt") != 0)
        return CLI_BAD;
    *f = arg[0] == 'j' ? TSL_FORMAT_JWT : TSL_FORMAT_CWT;
    return EXIT_OK;
}

/* The end of cli_opt_key and cli_opt_trust*: the library's message under the option. */
static int loaded(const char *cmd, const char *opt, const char *path, tsl_status st,
                  const tsl_error *err)
{
    if (st == TSL_OK)
        return EXIT_OK;
    cli_err(cmd, "%s %s: %s", opt, path, err->msg);
    return EXIT_USAGE;
}

int cli_opt_key(const char *cmd, void *target, const char *arg)
{
    tsl_error err;
    tsl_error_clear(&err);
    return loaded(cmd, "--key", arg,
                  tsl_keyset_load_into(&((cli_keys *)target)->keys, arg, &err), &err);
}

int cli_opt_trust(const char *cmd, void *target, const char *arg)
{
    tsl_error err;
    tsl_error_clear(&err);
    return loaded(cmd, "--trust", arg,
                  tsl_trust_load_into(&((cli_keys *)target)->trust, arg, &err), &err);
}

int cli_opt_trust_or_keys(const char *cmd, void *target, const char *arg)
{
    cli_keys *k = target;
    tsl_error err;
    tsl_error_clear(&err);
    return loaded(cmd, "--trust", arg, tsl_trust_or_keys_load(&k->trust, &k->keys, arg, &err),
                  &err);
}

int cli_opt_alg_bit(const char *cmd, void *target, const char *arg)
{
    tsl_alg a = tsl_alg_from_name(arg);
    if (a == TSL_ALG_UNKNOWN) {
        cli_err(cmd, "--alg: \"%s\" is not a supported algorithm", arg);
        return EXIT_USAGE;
    }
    *(uint32_t *)target |= TSL_ALG_BIT(a);
    return EXIT_OK;
}

void cli_keys_free(cli_keys *k)
{
    tsl_keyset_free(k->keys);
    tsl_trust_free(k->trust);
}

/* Prints text, each line after the first indented to column indent. */
static void indented(FILE *f, const char *text, int indent)
{
    for (const char *nl; (nl = strchr(text, '\n')) != NULL; text = nl + 1)
        fprintf(f, "%.*s\n%*s", (int)(nl - text), text, indent, "");
    fprintf(f, "%s\n", text);
}

void cli_usage(const cli_cmd *c, const cli_opt *opts, FILE *f)
{
    fprintf(f, "usage: tsl %s ", c->name);
    indented(f, c->synopsis, strstr(c->synopsis, "\ntsl ") ? 7 : 12 + (int)strlen(c->name));
    if (c->about != NULL)
        fprintf(f, "\n%s\n", c->about);
    fputc('\n', f);
    for (const cli_opt *o = opts; o->name != NULL; o++) {
        /* "--name ARG" (or "-n, --name ARG") in a column, then the description. */
        const char *help = o->help != NULL ? o->help : "";
        const char *tab = strchr(help, '\t');
        char left[64];
        int n = o->short_name != 0 ? snprintf(left, sizeof left, "-%c, ", o->short_name) : 0;
        snprintf(left + n, sizeof left - (size_t)n, "--%s%s%.*s", o->name, tab ? " " : "",
                 tab ? (int)(tab - help) : 0, help);
        fprintf(f, "  %-21s ", left);
        indented(f, tab ? tab + 1 : help, 24);
    }
    fprintf(f, "  %-21s %s\n", "--help", "print this help");
    if (c->exits != NULL)
        fprintf(f, "\nExit status: %s\n", c->exits);
}

/* cli.h - what the tsl subcommands share: exit codes, input reading with limits (over
 * the library's tsl_read_input and tsl_lines_*), strict number parsing, error printing
 * and the option parser. */
#ifndef TSL_CLI_H
#define TSL_CLI_H

#include "tsl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 success, 1 input rejected or check failed, 2 usage or I/O error. */
enum { EXIT_OK = 0, EXIT_REJECT = 1, EXIT_USAGE = 2 };

/* The longest input line (tsl_lines_open); a longer one is an error naming its line. */
#define CLI_MAX_LINE 4096

/* Prints "tsl CMD: message" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit code for a library failure: I/O, memory and argument trouble are 2, the rest
 * (the input was rejected) are 1. */
int cli_exit_for(tsl_status st);

/* Prints the library error for cmd and returns cli_exit_for(). */
int cli_fail(const char *cmd, const tsl_error *err, tsl_status st);

/* Reads all of path ("-" or NULL for stdin) into a NUL-terminated buffer of at most max
 * bytes. Returns EXIT_OK, EXIT_USAGE (cannot open/read) or EXIT_REJECT (over max), with
 * the message printed. Free *buf with tsl_free(). */
int cli_read_all(const char *cmd, const char *path, size_t max, unsigned char **buf,
                 size_t *len);

/* EXIT_OK if path is a readable regular file; else prints "OPT PATH: ..." saying what it
 * is (a FIFO, a directory) and returns EXIT_USAGE. Opens without blocking: for files
 * handed to another library (curl's CA file) that would block on a FIFO. */
int cli_regular_file(const char *cmd, const char *opt, const char *path);

/* Ends a command's output. Returns rc when rc is not EXIT_OK; else flushes standard
 * output and returns EXIT_OK, or, when ok is false (an earlier write failed) or the flush
 * fails, prints "write error on standard output" and note (" (what stays done)" or "")
 * and returns EXIT_USAGE. */
int cli_flush(const char *cmd, int rc, bool ok, const char *note);

/* Strict decimal parsing: digits only, no sign, no spaces, no overflow. */
bool cli_parse_u64(const char *s, uint64_t *out);


/* Records a command-level error in err (first error wins) and returns code. */
tsl_status cli_error(tsl_error *err, tsl_status code, const char *msg);

/* The option parser (tools/opts.c). A command lists its options in a table ended by
 * an entry with a NULL name; --help is always there and prints the usage on stdout. */
typedef enum {
    CLI_OPT_FLAG, /* bool *target = true */
    CLI_OPT_SET,  /* int *target = (int)min: a flag that stores a given value */
    CLI_OPT_STR,  /* const char **target = the argument (the last one wins) */
    CLI_OPT_U64,  /* uint64_t *target: digits only, within [min, max] */
    CLI_OPT_I64,  /* int64_t *target: digits only, within [min, max] (seconds, times) */
    CLI_OPT_ALG,  /* tsl_alg *target: an algorithm name tsl_alg_from_name() knows */
    CLI_OPT_STRS, /* cli_strs *target: a repeatable string, at most max of them */
    CLI_OPT_FN,   /* fn(cmd, target, argument) applies it and returns an exit code */
} cli_opt_kind;

/* The arguments of a repeatable option, into an array the command owns. */
typedef struct {
    const char **v;
    size_t n;
} cli_strs;

typedef struct {
    const char *name;  /* long name without "--"; NULL ends the table */
    char short_name;   /* 0 for none */
    cli_opt_kind kind;
    void *target;
    uint64_t min, max; /* bounds of a number; the value of CLI_OPT_SET; STRS' capacity */
    /* A bad value is refused as "LABEL: \"ARG\" BAD" (LABEL is label, else --name),
     * or, with bad NULL, as "LABEL: bad number \"ARG\"". Exit 2. */
    const char *bad;
    const char *label;
    /* Applies the argument; returns an exit code, or CLI_BAD for the refusal above. */
    int (*fn)(const char *cmd, void *target, const char *arg);
    /* Its line in --help: "ARG\tdescription" for an option with a value, else the
     * description; a '\n' continues it on the next line, indented. */
    const char *help;
} cli_opt;

/* What a CLI_OPT_FN returns for a value to refuse in the table's wording. */
#define CLI_BAD (-2)

typedef struct {
    const char *name;     /* for messages: "tsl NAME: ..." */
    const char *synopsis; /* "usage: tsl NAME SYNOPSIS" */
    const char *about;    /* what the command does, after the usage line */
    const char *exits;    /* the exit status line(s), after the options */
    /* NULL: getopt reports an unknown option and the usage follows on stderr. Else
     * getopt is quiet and "UNKNOWN \"ARG\"" is printed instead. */
    const char *unknown;
} cli_cmd;

/* Table entries for the common kinds, and the end of a table. */
#define CLI_FLAG(name, target, help) {name, 0, CLI_OPT_FLAG, target, 0, 0, NULL, NULL, NULL, help}
#define CLI_STR(name, target, help) {name, 0, CLI_OPT_STR, target, 0, 0, NULL, NULL, NULL, help}
#define CLI_FN(name, target, fn, bad, help) {name, 0, CLI_OPT_FN, target, 0, 0, bad, NULL, fn, help}
#define CLI_OPT_END {NULL, 0, CLI_OPT_FLAG, NULL, 0, 0, NULL, NULL, NULL, NULL}
/* --db PATH, which every store command takes. */
#define CLI_DB(target)                                                                   \
    CLI_STR("db", target,                                                                \
            "PATH|URL\tthe store: a SQLite file or a postgresql:// URL (default: $TSL_DB,\n"  \
            "else ./tsl.db)")

/* Prints the usage: the synopsis, about, the options generated from the table, exits. */
void cli_usage(const cli_cmd *c, const cli_opt *opts, FILE *f);

/* CLI_OPT_FN appliers the commands share: a bit width of 1, 2, 4 or 8 (uint64_t *)
 * and a token format, jwt or cwt (tsl_format *; its table entry's bad wording is
 * CLI_FORMAT_BAD). */
#define CLI_FORMAT_BAD "is not jwt or cwt"
int cli_opt_bits(const char *cmd, void *target, const char *arg);
int cli_opt_format(const char *cmd, void *target, const char *arg);

/* The verification keys and trust anchors --key and --trust load, and their appliers
 * (target: a cli_keys, freed with cli_keys_free): --key takes a PEM key, JWK or JWKS
 * (tsl_keyset_load_into); --trust anchor certificates (tsl_trust_load_into), or, with
 * cli_opt_trust_or_keys, else keys (tsl_trust_or_keys_load). --alg adds an algorithm
 * to a uint32_t mask of TSL_ALG_BIT()s. */
typedef struct {
    tsl_keyset *keys;
    tsl_trust *trust;
} cli_keys;
int cli_opt_key(const char *cmd, void *target, const char *arg);
int cli_opt_trust(const char *cmd, void *target, const char *arg);
int cli_opt_trust_or_keys(const char *cmd, void *target, const char *arg);
int cli_opt_alg_bit(const char *cmd, void *target, const char *arg);
void cli_keys_free(cli_keys *k);

/* What cli_opts_parse() returns when the command should go on to run. */
#define CLI_OPTS_RUN (-1)

/* Parses argv's options by the table; the operands start at *first. Returns
 * CLI_OPTS_RUN, or the exit code to return now (EXIT_OK after --help, EXIT_USAGE for a
 * usage error, or what a CLI_OPT_FN returned), the message printed. */
int cli_opts_parse(const cli_cmd *c, const cli_opt *opts, int argc, char **argv, int *first);

/* `tsl --version` (tools/version.c): prints the versions; returns the exit code. */
int cli_version(void);

/* Subcommands. */
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
/* tsl decode of an identifier list (decode_idlist.c): --id HEX values, and the output. */
#define CLI_IDLIST_MAX_IDS 1024
#define CLI_IDLIST_MAX_ID 128
typedef struct {
    const char **hex;
    size_t n;
} cli_ids;
int cli_opt_id(const char *cmd, void *target, const char *arg);
int cli_decode_idlist(const tsl_idlist *l, const cli_keys *k, tsl_verify_opts *vo,
                      const cli_ids *ids, bool json);
int cmd_sign(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
/* The issuer store (tools/store_cli.c and the cmd_*.c beside it). */
int cmd_list(int argc, char **argv);
int cmd_alloc(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_db(int argc, char **argv);
/* `tsl apikey create|list|revoke` (tools/cmd_apikey.c): the issuer API's keys. */
int cmd_apikey(int argc, char **argv);
/* `tsl db copy` (tools/cmd_db_copy.c), dispatched from cmd_db. */
int cmd_db_copy(int argc, char **argv);
/* The relying party (tools/cmd_verify.c). */
int cmd_verify(int argc, char **argv);
/* Testing other implementations (issue 18): tools/cmd_probe.c, tools/cmd_rogue.c. */
int cmd_probe(int argc, char **argv);
int cmd_rogue(int argc, char **argv);
/* Keys in hardware (tools/cmd_pkcs11.c). */
int cmd_pkcs11(int argc, char **argv);
/* --pkcs11-module SO: the process's module for pkcs11: keys without module-path
 * (tsl_pkcs11_set_module), for the commands that sign with a list's key. */
int cli_opt_pkcs11_module(const char *cmd, void *target, const char *arg);
#define CLI_PKCS11_MODULE                                                                \
    CLI_FN("pkcs11-module", NULL, cli_opt_pkcs11_module, NULL,                           \
           "SO\tPKCS#11 module for pkcs11: keys without module-path\n"                   \
           "(default $TSL_PKCS11_MODULE, else p11-kit's proxy)")

#endif /* TSL_CLI_H */

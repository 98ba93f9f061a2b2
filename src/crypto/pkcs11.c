/* pkcs11.c - PKCS#11 modules, tokens and sessions for keys that never leave hardware.
 * A module is dlopen'ed once per process and initialised for OS locking (several
 * threads sign at once); a token is found by the URI's token attributes, logged in once
 * per process, and signs through a small pool of sessions (TSLP_P11_MAX_SESSIONS): the
 * publisher's threads take one each. When the module reports a lost session, device or
 * token, the pool is dropped and the token is found and logged in again on the next
 * use, re-initialising the module when the token has vanished from it (softhsm2 and
 * most network HSM clients only see a token come back after C_Initialize). A PIN the
 * token refused is remembered (as a SHA-256) and never tried again by this process, so
 * a retry loop cannot lock the token out; a changed PIN source is tried once more. The
 * PIN is read from the URI's pin-source or $TSL_PKCS11_PIN only when logging in, wiped
 * right after, and never named in an error. */
#include "crypto/pkcs11_int.h"
#include "core/buf.h"

#include <dlfcn.h>
#include <errno.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* From pkg-config p11-kit-1 (Makefile): the proxy module, the default module, and
 * the directory a module named without a slash is taken from. */
#ifndef TSLP_P11_PROXY
#define TSLP_P11_PROXY "p11-kit-proxy.so"
#endif
#define TSLP_P11_PROXY_LIB "libp11-kit.so.0"
#ifndef TSLP_P11_CONFIG_DIR
#define TSLP_P11_CONFIG_DIR "/usr/share/p11-kit/modules"
#endif
#ifndef TSLP_P11_MODULE_DIR
#define TSLP_P11_MODULE_DIR "/usr/lib/pkcs11"
#endif

typedef struct {
    char *path;
    void *dl;
    CK_FUNCTION_LIST *f;
    int ours; /* we called C_Initialize (so we may C_Finalize to rescan) */
    unsigned epoch; /* bumped by each re-initialisation: older handles are void */
    long long last_reinit; /* CLOCK_MONOTONIC seconds of the last one, 0: never */
    int down; /* C_Initialize failed in the last re-initialisation */
    char why[256]; /* its message (written under the write lock) */
    /* Every call into the module holds the read lock; a re-initialisation holds the
     * write lock, so C_Finalize never runs while another thread is inside the module
     * (softhsm2 frees its state there). Writers are preferred, so a busy signer
     * cannot hold a re-initialisation off. Never taken twice by one thread. */
    pthread_rwlock_t rw;
} p11_module;

typedef struct {
    CK_SESSION_HANDLE h;
    unsigned gen;
} p11_session;

struct tslp_p11_token {
    p11_module *mod;
    /* What the URI asked for (the token attributes), to find the token again. */
    char *label, *manufacturer, *serial, *model;
    char *pin_source;
    CK_SLOT_ID slot;
    char shown[40]; /* the label, for messages */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    p11_session pool[TSLP_P11_MAX_SESSIONS];
    size_t nfree;  /* pool[0..nfree) are idle sessions of generation gen */
    size_t nopen;  /* sessions open in this generation, idle or in use */
    unsigned gen;  /* bumped when the token is lost */
    int lost;      /* reopen before the next session (atomic: a re-initialisation of
                    * the module by another token's thread sets it) */
    int login;     /* log in when (re)opening */
    int logged_in;
    uint8_t bad_pin[32]; /* SHA-256 of a PIN the token refused */
    int have_bad_pin;
    CK_SESSION_HANDLE keeper; /* holds the login while the pool is empty */
    /* The module epoch of this generation's and the previous generation's sessions: a
     * handle from before a re-initialisation is never closed, since the number may
     * now belong to a new session. */
    unsigned epoch, prev_epoch;
    CK_SESSION_HANDLE stale[TSLP_P11_MAX_SESSIONS]; /* the previous generation's, back */
    size_t nstale;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static p11_module *modules[TSLP_P11_MAX_TOKENS];
static size_t nmodules;
static tslp_p11_token *tokens[TSLP_P11_MAX_TOKENS];
static size_t ntokens;

/* Process-wide counters for tsl_pkcs11_stats (updated with atomics). */
static unsigned long long c_signs, c_sign_failures, c_reopens, c_login_failures;
static int c_lost_now;

const char *tslp_p11_rv_name(unsigned long rv, char buf[24])
{
    static const struct {
        unsigned long rv;
        const char *name;
    } names[] = {
        {CKR_OK, "CKR_OK"},
        {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
        {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
        {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
        {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
        {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
        {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
        {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
        {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
        {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
        {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
        {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
        {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
        {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
        {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
        {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
        {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
        {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
        {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
        {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
        {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
        {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
        {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
        {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
        {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
        {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
        {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"},
        {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
        {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
        {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
        {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
        {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
        {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
        {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (names[k].rv == rv)
            return names[k].name;
    snprintf(buf, 24, "CKR_0x%lx", rv);
    return buf;
}

int tslp_p11_rv_lost(unsigned long rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_SLOT_ID_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_GENERAL_ERROR:
        return 1;
    default:
        return 0;
    }
}

void tslp_p11_fixed(const unsigned char *f, size_t n, char *out, size_t out_size)
{
    while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == 0))
        n--;
    if (n >= out_size)
        n = out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = f[i] >= 0x20 && f[i] < 0x7f ? (char)f[i] : '?';
    out[n] = 0;
}

void tslp_p11_count_sign(int ok)
{
    __atomic_add_fetch(ok ? &c_signs : &c_sign_failures, 1, __ATOMIC_RELAXED);
}

/* A failure naming the PKCS#11 return value last: fmt ends in "(%s%s)" with b "" or
 * more text. A macro so that fmt stays a literal the compiler checks. */
#define p11_fail(err, code, rv, fmt, a, b)                                                  \
    tslp_fail((err), (code), 0, fmt, (a), (b), tslp_p11_rv_name((rv), (char[24]){0}))

/* ---- modules ---- */

/* tsl_pkcs11_set_module's path (tslp_malloc), read under reg_mu. */
static char *default_module;

tsl_status tsl_pkcs11_set_module(const char *path, tsl_error *err)
{
    char *copy = NULL;
    if (path != NULL && (copy = tslp_strndup(path, strlen(path))) == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11: out of memory");
    pthread_mutex_lock(&reg_mu);
    tslp_free(default_module);
    default_module = copy;
    pthread_mutex_unlock(&reg_mu);
    return TSL_OK;
}

/* Under reg_mu. */
static const char *module_path(const tslp_p11_uri *u, const char *fallback)
{
    if (u != NULL && u->module_path != NULL)
        return u->module_path;
    if (fallback != NULL && fallback[0] != '\0')
        return fallback;
    if (default_module != NULL)
        return default_module;
    const char *env = getenv("TSL_PKCS11_MODULE");
    if (env != NULL && env[0] != '\0')
        return env;
    /* p11-kit's proxy: p11-kit-proxy.so (Debian's p11-kit-modules), else libp11-kit
     * itself, which is the same proxy (it exports C_GetFunctionList). */
    struct stat sb;
    if (stat(TSLP_P11_PROXY, &sb) == 0)
        return TSLP_P11_PROXY;
    return TSLP_P11_PROXY_LIB;
}

static tsl_status module_init(p11_module *m, tsl_error *err)
{
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = m->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        m->ours = 0;
        return TSL_OK;
    }
    if (rv != CKR_OK)
        return p11_fail(err, TSL_ERR_IO, rv, "pkcs11: module %s: C_Initialize failed (%s%s)",
                        m->path, "");
    m->ours = 1;
    return TSL_OK;
}

/* Under reg_mu. */
static tsl_status module_get(const char *path, p11_module **out, tsl_error *err)
{
    for (size_t k = 0; k < nmodules; k++)
        if (strcmp(modules[k]->path, path) == 0) {
            *out = modules[k];
            return TSL_OK;
        }
    if (nmodules == TSLP_P11_MAX_TOKENS)
        return tslp_fail(err, TSL_ERR_LIMIT, 0, "pkcs11: more than %d modules",
                         TSLP_P11_MAX_TOKENS);
    /* A path with no slash would be searched in the library path: p11-kit's modules
     * live in its own directory, so a bare name is taken from there. */
    char full[4096];
    int soname = strcmp(path, TSLP_P11_PROXY_LIB) == 0; /* found by the loader */
    if (strchr(path, '/') == NULL && !soname && strlen(path) < 3000)
        snprintf(full, sizeof full, "%s/%s", TSLP_P11_MODULE_DIR, path);
    else
        snprintf(full, sizeof full, "%s", path);
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    sb.st_mode = S_IFREG; /* the soname: the loader finds it */
    if (!soname && stat(full, &sb) != 0)
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "pkcs11: module %s: %s (give module-path in the URI, "
                         "--pkcs11-module or $TSL_PKCS11_MODULE)",
                         full, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: module %s: not a regular file", full);
    void *dl = dlopen(full, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        return tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: module %s: cannot load: %s", full,
                         why != NULL ? why : "dlopen failed");
    }
    CK_C_GetFunctionList gfl = NULL;
    void *sym = dlsym(dl, "C_GetFunctionList");
    memcpy(&gfl, &sym, sizeof gfl); /* a data pointer to a function pointer, per POSIX */
    CK_FUNCTION_LIST *f = NULL;
    if (gfl == NULL || gfl(&f) != CKR_OK || f == NULL) {
        dlclose(dl);
        return tslp_fail(err, TSL_ERR_IO, 0,
                         "pkcs11: module %s: no C_GetFunctionList: not a PKCS#11 module",
                         full);
    }
    p11_module *m = tslp_calloc(1, sizeof *m);
    if (m == NULL || (m->path = tslp_strndup(path, strlen(path))) == NULL) {
        tslp_free(m);
        dlclose(dl);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11: out of memory");
    }
    m->dl = dl;
    m->f = f;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    tsl_status st = module_init(m, err);
    if (st != TSL_OK) {
        pthread_rwlock_destroy(&m->rw);
        tslp_free(m->path);
        tslp_free(m);
        dlclose(dl);
        return st;
    }
    /* Modules stay loaded until exit: tokens and signers point into them. */
    modules[nmodules++] = m;
    *out = m;
    return TSL_OK;
}

/* ---- tokens ---- */

static int eq_opt(const char *want, const unsigned char *field, size_t n)
{
    if (want == NULL)
        return 1;
    char buf[80];
    tslp_p11_fixed(field, n, buf, sizeof buf);
    return strcmp(want, buf) == 0;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Finds the slot whose token matches t's attributes. Under t->mu (or before t is
 * shared). TSL_ERR_NOT_FOUND lists the tokens present. */
static tsl_status find_slot(tslp_p11_token *t, tsl_error *err)
{
    CK_FUNCTION_LIST *f = t->mod->f;
    CK_SLOT_ID slots[TSLP_P11_MAX_SLOTS];
    CK_ULONG n = TSLP_P11_MAX_SLOTS;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv == CKR_BUFFER_TOO_SMALL)
        n = TSLP_P11_MAX_SLOTS; /* more tokens than that: look at the first ones */
    else if (rv != CKR_OK)
        return p11_fail(err, TSL_ERR_IO, rv, "pkcs11: module %s: C_GetSlotList failed (%s%s)",
                        t->mod->path, "");
    char seen[256];
    size_t used = 0;
    seen[0] = 0;
    for (CK_ULONG k = 0; k < n && k < TSLP_P11_MAX_SLOTS; k++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[k], &ti) != CKR_OK)
            continue;
        if (eq_opt(t->label, ti.label, sizeof ti.label) &&
            eq_opt(t->manufacturer, ti.manufacturerID, sizeof ti.manufacturerID) &&
            eq_opt(t->serial, ti.serialNumber, sizeof ti.serialNumber) &&
            eq_opt(t->model, ti.model, sizeof ti.model)) {
            t->slot = slots[k];
            return TSL_OK;
        }
        if (!(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        char lab[40];
        tslp_p11_fixed(ti.label, sizeof ti.label, lab, sizeof lab);
        int w = snprintf(seen + used, sizeof seen - used, "%s\"%s\"", used ? ", " : "", lab);
        if (w > 0 && (size_t)w < sizeof seen - used)
            used += (size_t)w;
    }
    return tslp_fail(err, TSL_ERR_NOT_FOUND, 0,
                     "pkcs11: no token \"%s\" in module %s (tokens present: %s)", t->shown,
                     t->mod->path, used ? seen : "none");
}

/* Reads the PIN into pin (at most TSLP_P11_PIN_MAX bytes). */
static tsl_status read_pin(const tslp_p11_token *t, char *pin, size_t *len, tsl_error *err)
{
    if (t->pin_source != NULL) {
        const char *path = t->pin_source;
        if (strncmp(path, "file:", 5) == 0)
            path += 5;
        if (strncmp(path, "//", 2) == 0) /* file:///abs/path */
            path += 2;
        char *buf = NULL;
        size_t n = 0;
        struct stat sb;
        tsl_status st = tslp_read_key_file(path, &buf, &n, &sb, err);
        if (st != TSL_OK) {
            tslp_error_prefix(err, "pkcs11: pin-source");
            return st;
        }
        if ((st = tslp_check_private_mode(path, &sb, err)) != TSL_OK) {
            tslp_free_secret(buf, n);
            tslp_error_prefix(err, "pkcs11: pin-source");
            return st;
        }
        /* One line: a trailing newline is not part of the PIN. */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        if (n == 0 || n > TSLP_P11_PIN_MAX || memchr(buf, '\n', n) != NULL) {
            tslp_free_secret(buf, n);
            return tslp_fail(err, TSL_ERR_KEY, 0,
                             "pkcs11: pin-source %s: not one line of 1 to %zu bytes", path,
                             TSLP_P11_PIN_MAX);
        }
        memcpy(pin, buf, n);
        tslp_free_secret(buf, n);
        *len = n;
        return TSL_OK;
    }
    const char *env = getenv("TSL_PKCS11_PIN");
    if (env == NULL || env[0] == '\0')
        return tslp_fail(err, TSL_ERR_KEY, 0,
                         "pkcs11: token \"%s\" needs a PIN: give pin-source=file:PATH in the "
                         "URI or set TSL_PKCS11_PIN",
                         t->shown);
    size_t n = strlen(env);
    if (n > TSLP_P11_PIN_MAX)
        return tslp_fail(err, TSL_ERR_KEY, 0, "pkcs11: $TSL_PKCS11_PIN is longer than %zu bytes",
                         TSLP_P11_PIN_MAX);
    memcpy(pin, env, n);
    *len = n;
    return TSL_OK;
}

static tsl_status login(tslp_p11_token *t, CK_SESSION_HANDLE s, tsl_error *err)
{
    CK_FUNCTION_LIST *f = t->mod->f;
    CK_TOKEN_INFO ti;
    CK_RV rv = f->C_GetTokenInfo(t->slot, &ti);
    if (rv != CKR_OK)
        return p11_fail(err, TSL_ERR_IO, rv, "pkcs11: token \"%s\": C_GetTokenInfo failed (%s%s)",
                        t->shown, "");
    if (!(ti.flags & CKF_LOGIN_REQUIRED))
        return TSL_OK;
    if (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
        rv = f->C_Login(s, CKU_USER, NULL, 0);
    } else {
        char pin[TSLP_P11_PIN_MAX + 1];
        size_t n = 0;
        tsl_status st = read_pin(t, pin, &n, err);
        if (st != TSL_OK)
            return st;
        uint8_t h[32];
        if (tslp_sha256((const uint8_t *)pin, n, h) != TSL_OK) {
            tslp_cleanse(pin, sizeof pin);
            return tslp_fail(err, TSL_ERR_CRYPTO, 0, "pkcs11: SHA-256 failed");
        }
        /* The PIN the token refused is not offered again: each wrong try counts
         * towards the token's lockout. */
        if (t->have_bad_pin && memcmp(h, t->bad_pin, 32) == 0) {
            tslp_cleanse(pin, sizeof pin);
            return tslp_fail(err, TSL_ERR_KEY, 0,
                             "pkcs11: token \"%s\": the PIN was refused before "
                             "(CKR_PIN_INCORRECT) and is not tried again; fix the PIN "
                             "source, or restart",
                             t->shown);
        }
        rv = f->C_Login(s, CKU_USER, (unsigned char *)pin, (CK_ULONG)n);
        tslp_cleanse(pin, sizeof pin);
        if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
            memcpy(t->bad_pin, h, 32);
            t->have_bad_pin = 1;
        }
        tslp_cleanse(h, sizeof h);
    }
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        t->logged_in = 1;
        return TSL_OK;
    }
    __atomic_add_fetch(&c_login_failures, 1, __ATOMIC_RELAXED);
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE)
        return p11_fail(err, TSL_ERR_KEY, rv,
                        "pkcs11: token \"%s\": wrong PIN (%s%s); it is not tried again by "
                        "this process",
                        t->shown, "");
    if (rv == CKR_PIN_LOCKED)
        return p11_fail(err, TSL_ERR_KEY, rv,
                        "pkcs11: token \"%s\": the PIN is locked (%s%s); the security "
                        "officer must reset it",
                        t->shown, "");
    return p11_fail(err, TSL_ERR_KEY, rv, "pkcs11: token \"%s\": C_Login failed (%s%s)",
                    t->shown, "");
}

/* Finalizes and initializes module m again, so that it scans its tokens anew, at most
 * once per REINIT_SECONDS (a key that never existed must not make every publish
 * restart the module). The other tokens of m are marked lost: their sessions and
 * login went with it. Under reg_mu. Returns 1 when it re-initialised (*st its
 * result), 0 when it was too soon. */
#define REINIT_SECONDS 5
static int module_reinit(p11_module *m, tslp_p11_token *self, tsl_error *err,
                         tsl_status *st)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (m->last_reinit != 0 && ts.tv_sec - m->last_reinit < REINIT_SECONDS)
        return 0;
    m->last_reinit = ts.tv_sec != 0 ? ts.tv_sec : 1;
    for (size_t k = 0; k < ntokens; k++)
        if (tokens[k] != self && tokens[k]->mod == m)
            __atomic_store_n(&tokens[k]->lost, 1, __ATOMIC_RELAXED);
    pthread_rwlock_wrlock(&m->rw);
    if (!m->down)
        m->f->C_Finalize(NULL);
    __atomic_add_fetch(&m->epoch, 1, __ATOMIC_RELEASE);
    *st = module_init(m, err);
    if (*st != TSL_OK)
        snprintf(m->why, sizeof m->why, "%.200s",
                 err != NULL ? err->msg : "C_Initialize failed");
    __atomic_store_n(&m->down, *st != TSL_OK, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&m->rw);
    return 1;
}

/* Closes every session of t (the old generation) and finds and logs in the token
 * again. Under t->mu (or before t is shared); may_reinit only when reg_mu is not
 * held. Lock order: t->mu, reg_mu, the module's rw lock. */
static tsl_status reopen(tslp_p11_token *t, int may_reinit, tsl_error *err)
{
    CK_FUNCTION_LIST *f = t->mod->f;
    pthread_rwlock_t *rw = &t->mod->rw;
    pthread_rwlock_rdlock(rw);
    /* Only our own sessions: C_CloseAllSessions would also close those of another
     * handle on the same token (a URI with another pin-source). Sessions in use are
     * closed when they come back (session_put sees the old generation). */
    unsigned now = __atomic_load_n(&t->mod->epoch, __ATOMIC_ACQUIRE);
    if (t->epoch == now) {
        if (t->keeper != CK_INVALID_HANDLE)
            f->C_CloseSession(t->keeper);
        for (size_t k = 0; k < t->nfree; k++)
            f->C_CloseSession(t->pool[k].h);
    }
    for (size_t k = 0; k < t->nstale && t->prev_epoch == now; k++)
        f->C_CloseSession(t->stale[k]);
    t->nstale = 0;
    t->prev_epoch = t->epoch;
    t->gen++;
    t->keeper = CK_INVALID_HANDLE;
    t->nfree = t->nopen = 0;
    t->logged_in = 0;
    int down = __atomic_load_n(&t->mod->down, __ATOMIC_ACQUIRE);
    tsl_status st;
    if (down)
        st = tslp_fail(err, TSL_ERR_IO, 0, "%s (retrying every %d s)", t->mod->why,
                       REINIT_SECONDS);
    else
        st = find_slot(t, err);
    pthread_rwlock_unlock(rw);
    if ((st == TSL_ERR_NOT_FOUND || down) && t->mod->ours && may_reinit) {
        /* The token vanished from the module's view: most modules rescan their tokens
         * only in C_Initialize. */
        pthread_mutex_lock(&reg_mu);
        tsl_status rst = TSL_OK;
        int done = module_reinit(t->mod, t, err, &rst);
        pthread_mutex_unlock(&reg_mu);
        if (done) { /* else err holds the first answer */
            pthread_rwlock_rdlock(rw);
            st = rst == TSL_OK ? find_slot(t, err) : rst;
            pthread_rwlock_unlock(rw);
        }
    }
    if (st != TSL_OK)
        return st;
    pthread_rwlock_rdlock(rw);
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        st = p11_fail(err, TSL_ERR_IO, rv, "pkcs11: token \"%s\": C_OpenSession failed (%s%s)",
                      t->shown, "");
    else if (t->login && (st = login(t, s, err)) != TSL_OK)
        f->C_CloseSession(s);
    if (st == TSL_OK) {
        t->keeper = s;
        t->epoch = __atomic_load_n(&t->mod->epoch, __ATOMIC_ACQUIRE);
        __atomic_store_n(&t->lost, 0, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(rw);
    return st;
}

/* The module p11-kit registers under name (RFC 7512 module-name): the "module:" line
 * of TSLP_P11_CONFIG_DIR/NAME.module, as p11-kit reads it. */
static tsl_status named_module(const char *name, char *path, size_t size, tsl_error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789._-") != n || name[0] == '.')
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "pkcs11 URI: module-name must be 1 to 64 of A-Z a-z 0-9 . _ -");
    char conf[512];
    snprintf(conf, sizeof conf, "%s/%s.module", TSLP_P11_CONFIG_DIR, name);
    FILE *f = fopen(conf, "re");
    if (f == NULL)
        return tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: module-name %s: %s: %s", name, conf,
                         strerror(errno));
    char line[1024];
    path[0] = 0;
    while (path[0] == 0 && fgets(line, sizeof line, f) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "module:", 7) != 0)
            continue;
        p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, " \t\r\n")] = 0;
        if (*p != 0)
            snprintf(path, size, "%s", p);
    }
    fclose(f);
    if (path[0] == 0)
        return tslp_fail(err, TSL_ERR_IO, 0, "pkcs11: module-name %s: %s has no module: line",
                         name, conf);
    return TSL_OK;
}

tsl_status tslp_p11_token_open(const tslp_p11_uri *u, const char *module, int want_login,
                               tslp_p11_token **out, tsl_error *err)
{
    *out = NULL;
    char named[1024];
    if (u->module_name != NULL && u->module_path == NULL) {
        tsl_status nst = named_module(u->module_name, named, sizeof named, err);
        if (nst != TSL_OK)
            return nst;
    }
    pthread_mutex_lock(&reg_mu);
    /* The URI's module-name comes before --pkcs11-module: the URI names it. */
    const char *path = u->module_name != NULL && u->module_path == NULL
                           ? named
                           : module_path(u, module);
    p11_module *m = NULL;
    tsl_status st = module_get(path, &m, err);
    for (size_t k = 0; st == TSL_OK && k < ntokens; k++) {
        tslp_p11_token *t = tokens[k];
        if (t->mod == m && same(t->label, u->token) && same(t->manufacturer, u->manufacturer) &&
            same(t->serial, u->serial) && same(t->model, u->model) &&
            same(t->pin_source, u->pin_source)) {
            pthread_mutex_unlock(&reg_mu);
            pthread_mutex_lock(&t->mu);
            /* A token first opened to list it logs in when a signer needs it. */
            if (want_login && !t->login) {
                t->login = 1;
                __atomic_store_n(&t->lost, 1, __ATOMIC_RELAXED);
            }
            st = __atomic_load_n(&t->lost, __ATOMIC_RELAXED) ? reopen(t, 1, err) : TSL_OK;
            pthread_mutex_unlock(&t->mu);
            if (st == TSL_OK)
                *out = t;
            return st;
        }
    }
    if (st == TSL_OK && ntokens == TSLP_P11_MAX_TOKENS)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "pkcs11: more than %d tokens",
                       TSLP_P11_MAX_TOKENS);
    tslp_p11_token *t = NULL;
    if (st == TSL_OK && (t = tslp_calloc(1, sizeof *t)) == NULL)
        st = tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11: out of memory");
    if (st == TSL_OK) {
        const char *src[] = {u->token, u->manufacturer, u->serial, u->model, u->pin_source};
        char **dst[] = {&t->label, &t->manufacturer, &t->serial, &t->model, &t->pin_source};
        for (int k = 0; k < 5; k++)
            if (src[k] != NULL && (*dst[k] = tslp_strndup(src[k], strlen(src[k]))) == NULL)
                st = tslp_fail(err, TSL_ERR_NOMEM, 0, "pkcs11: out of memory");
        t->mod = m;
        t->login = want_login;
        snprintf(t->shown, sizeof t->shown, "%s", u->token != NULL ? u->token : "(any)");
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
    }
    /* Opened under reg_mu: two threads opening the same token make one. The token is
     * kept even when it is not found or its PIN is refused: the next open finds the
     * refused PIN remembered and does not offer it again. */
    if (t != NULL && st != TSL_OK) {
        tslp_free(t->label);
        tslp_free(t->manufacturer);
        tslp_free(t->serial);
        tslp_free(t->model);
        tslp_free(t->pin_source);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        tslp_free(t);
        t = NULL;
    }
    if (t != NULL) {
        /* Not under t->mu: no other thread reaches t before reg_mu is released (and
         * the lock order is t->mu, then reg_mu). */
        tokens[ntokens++] = t;
        if ((st = reopen(t, 0, err)) != TSL_OK)
            __atomic_store_n(&t->lost, 1, __ATOMIC_RELAXED);
        if (st == TSL_OK)
            *out = t;
    }
    pthread_mutex_unlock(&reg_mu);
    return st;
}

const void *tslp_p11_funcs(const tslp_p11_token *t)
{
    return t->mod->f;
}

const char *tslp_p11_token_label(const tslp_p11_token *t)
{
    return t->shown;
}

/* Closes the sessions of the previous generation that came back (session_put cannot:
 * it must not wait for t->mu while it holds the module's read lock). Under t->mu. */
static void close_stale(tslp_p11_token *t)
{
    if (t->nstale == 0)
        return;
    pthread_rwlock_rdlock(&t->mod->rw);
    if (t->prev_epoch == __atomic_load_n(&t->mod->epoch, __ATOMIC_ACQUIRE))
        for (size_t k = 0; k < t->nstale; k++)
            t->mod->f->C_CloseSession(t->stale[k]);
    pthread_rwlock_unlock(&t->mod->rw);
    t->nstale = 0;
}

tsl_status tslp_p11_session_get(tslp_p11_token *t, unsigned long *session, unsigned *gen,
                                tsl_error *err)
{
    tsl_status st = TSL_OK;
    int reopens = 0;
    pthread_mutex_lock(&t->mu);
    close_stale(t);
    for (;;) {
        if (__atomic_load_n(&t->lost, __ATOMIC_RELAXED)) {
            /* Twice at most: a module that loses every new session must not make
             * this loop forever. */
            if (reopens++ == 2) {
                st = tslp_fail(err, TSL_ERR_IO, 0,
                               "pkcs11: token \"%s\": lost again right after reopening",
                               t->shown);
                break;
            }
            __atomic_add_fetch(&c_reopens, 1, __ATOMIC_RELAXED);
            if ((st = reopen(t, 1, err)) != TSL_OK) {
                __atomic_store_n(&c_lost_now, 1, __ATOMIC_RELAXED);
                break;
            }
            __atomic_store_n(&c_lost_now, 0, __ATOMIC_RELAXED);
        }
        if (t->nfree > 0) {
            p11_session *s = &t->pool[--t->nfree];
            *session = s->h;
            *gen = s->gen;
            break;
        }
        if (t->nopen < TSLP_P11_MAX_SESSIONS) {
            CK_SESSION_HANDLE h;
            pthread_rwlock_rdlock(&t->mod->rw);
            CK_RV rv = t->mod->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
            pthread_rwlock_unlock(&t->mod->rw);
            if (rv == CKR_OK) {
                t->nopen++;
                *session = h;
                *gen = t->gen;
                break;
            }
            if (tslp_p11_rv_lost(rv)) {
                __atomic_store_n(&t->lost, 1, __ATOMIC_RELAXED);
                continue;
            }
            st = p11_fail(err, TSL_ERR_IO, rv,
                          "pkcs11: token \"%s\": C_OpenSession failed (%s%s)", t->shown, "");
            break;
        }
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    /* The caller calls into the module until session_put: under the read lock. A
     * re-initialisation between here and there only makes the session fail cleanly. */
    if (st == TSL_OK)
        pthread_rwlock_rdlock(&t->mod->rw);
    return st;
}

void tslp_p11_session_put(tslp_p11_token *t, unsigned long session, unsigned gen,
                          unsigned long rv)
{
    pthread_rwlock_unlock(&t->mod->rw);
    pthread_mutex_lock(&t->mu);
    if (gen != t->gen) {
        /* Of a lost generation: closed on the next get, unless the module was
         * re-initialised since (then it is void, and its number may be another
         * session's). */
        if (gen + 1 == t->gen && t->nstale < sizeof t->stale / sizeof t->stale[0])
            t->stale[t->nstale++] = session;
    } else if (tslp_p11_rv_lost(rv)) {
        __atomic_store_n(&t->lost, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&c_lost_now, 1, __ATOMIC_RELAXED);
    } else {
        t->pool[t->nfree].h = session;
        t->pool[t->nfree].gen = gen;
        t->nfree++;
    }
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

tsl_status tslp_p11_token_refresh(tslp_p11_token *t, tsl_error *err)
{
    tsl_status st = TSL_OK;
    int done = 0;
    pthread_mutex_lock(&t->mu);
    tsl_error scratch;
    if (err == NULL)
        err = &scratch;
    if (t->mod->ours) {
        pthread_mutex_lock(&reg_mu);
        done = module_reinit(t->mod, t, err, &st);
        pthread_mutex_unlock(&reg_mu);
    }
    if (done)
        __atomic_store_n(&t->lost, 1, __ATOMIC_RELAXED); /* the next session reopens the token */
    pthread_mutex_unlock(&t->mu);
    if (st != TSL_OK)
        return st;
    return done ? TSL_OK : TSL_ERR_NOT_FOUND;
}

void tslp_p11_set_lost(int lost)
{
    __atomic_store_n(&c_lost_now, lost, __ATOMIC_RELAXED);
}

tsl_status tslp_p11_mech_check(tslp_p11_token *t, unsigned long mt, const char *mname,
                               const char *alg, tsl_error *err)
{
    CK_MECHANISM_INFO mi;
    pthread_rwlock_rdlock(&t->mod->rw);
    CK_RV rv = t->mod->f->C_GetMechanismInfo(t->slot, mt, &mi);
    pthread_rwlock_unlock(&t->mod->rw);
    if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && !(mi.flags & CKF_SIGN)))
        return tslp_fail(err, TSL_ERR_UNSUPPORTED, 0,
                         "pkcs11: token \"%s\" does not offer %s for signing, which %s needs",
                         t->shown, mname, alg);
    if (rv != CKR_OK)
        return p11_fail(err, TSL_ERR_IO, rv,
                        "pkcs11: token \"%s\": C_GetMechanismInfo failed (%s%s)", t->shown, "");
    return TSL_OK;
}

void tsl_pkcs11_get_stats(tsl_pkcs11_stats *out)
{
    if (out == NULL)
        return;
    out->signs = __atomic_load_n(&c_signs, __ATOMIC_RELAXED);
    out->sign_failures = __atomic_load_n(&c_sign_failures, __ATOMIC_RELAXED);
    out->reopens = __atomic_load_n(&c_reopens, __ATOMIC_RELAXED);
    out->login_failures = __atomic_load_n(&c_login_failures, __ATOMIC_RELAXED);
    out->lost = __atomic_load_n(&c_lost_now, __ATOMIC_RELAXED);
    pthread_mutex_lock(&reg_mu);
    out->tokens = ntokens;
    pthread_mutex_unlock(&reg_mu);
}

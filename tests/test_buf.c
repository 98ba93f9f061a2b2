/* test_buf.c - the bounded growable buffer (src/core/buf.h): appends keep every byte
 * across growth, growth past the limit is refused with TSL_ERR_LIMIT naming the buffer
 * and the limit and leaves it unchanged, an allocation failure leaves it unchanged too,
 * and take() hands over exactly the bytes and empties it. */
#include "tt.h"

#include "core/tsl_int.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TT_TEST(buf_append_grow_take)
{
    tslp_buf b;
    tslp_buf_init(&b, 100000, "test buffer");
    TT_EQ_U(b.len, 0);
    TT_CHECK(b.data == NULL);
    /* 3000 appends of 7 bytes: several doublings, every byte where it belongs. */
    uint8_t chunk[7];
    for (unsigned i = 0; i < 3000; i++) {
        for (unsigned k = 0; k < 7; k++)
            chunk[k] = (uint8_t)(i * 7 + k);
        TT_OK(tslp_buf_append(&b, chunk, 7, NULL));
    }
    TT_EQ_U(b.len, 21000);
    TT_CHECK(b.cap >= b.len && b.cap <= b.limit);
    size_t n = 0;
    uint8_t *p = tslp_buf_take(&b, &n);
    TT_CHECK(p != NULL);
    TT_EQ_U(n, 21000);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= p[i] == (uint8_t)i;
    TT_CHECK(ok);
    tslp_free(p);
    /* take() empties the buffer and keeps its limit. */
    TT_CHECK(b.data == NULL);
    TT_EQ_U(b.len, 0);
    TT_EQ_U(b.limit, 100000);
    /* An empty buffer hands over a real allocation of 0 bytes. */
    p = tslp_buf_take(&b, &n);
    TT_CHECK(p != NULL);
    TT_EQ_U(n, 0);
    tslp_free(p);
    TT_OK(tslp_buf_append(&b, NULL, 0, NULL));
    tslp_buf_free(&b);
}

TT_TEST(buf_limit)
{
    tslp_buf b;
    tslp_buf_init(&b, 1000, "cbor output");
    uint8_t x[600];
    memset(x, 0xAB, sizeof x);
    TT_OK(tslp_buf_append(&b, x, 600, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_buf_append(&b, x, 401, &err), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "cbor output: more than the limit of 1000 bytes");
    TT_EQ_U(b.len, 600); /* unchanged */
    TT_CHECK(b.cap <= 1000); /* never allocated past the limit */
    /* Exactly to the limit is fine; then not one byte more, nor a huge request. */
    TT_OK(tslp_buf_append(&b, x, 400, NULL));
    TT_EQ_U(b.len, 1000);
    TT_EQ_U(b.cap, 1000);
    TT_ERR(tslp_buf_reserve(&b, 1, NULL), TSL_ERR_LIMIT);
    TT_ERR(tslp_buf_reserve(&b, SIZE_MAX, NULL), TSL_ERR_LIMIT);
    TT_EQ_U(b.data[999], 0xAB);
    tslp_buf_free(&b);
    TT_CHECK(b.data == NULL);

    /* A limit under the first growth step allocates only the limit. */
    tslp_buf_init(&b, 10, "tiny");
    TT_OK(tslp_buf_reserve(&b, 3, NULL));
    TT_EQ_U(b.cap, 10);
    TT_ERR(tslp_buf_reserve(&b, 11, NULL), TSL_ERR_LIMIT);
    tslp_buf_free(&b);
}

TT_TEST(buf_nomem)
{
    tslp_buf b;
    tslp_buf_init(&b, (size_t)1 << 20, "test buffer");
    uint8_t x[300] = {1};
    TT_OK(tslp_buf_append(&b, x, 200, NULL));
    size_t cap = b.cap;
    tsl_error err;
    tsl_error_clear(&err);
    tslp_test_fail_alloc_after(1);
    TT_ERR(tslp_buf_append(&b, x, 300, &err), TSL_ERR_NOMEM);
    tslp_test_fail_alloc_after(0);
    TT_CONTAINS(err.msg, "test buffer: out of memory");
    TT_EQ_U(b.len, 200);
    TT_EQ_U(b.cap, cap);
    TT_EQ_U(b.data[0], 1);
    TT_OK(tslp_buf_append(&b, x, 300, NULL));
    TT_EQ_U(b.len, 500);
    tslp_buf_free(&b);
}

/* ---- secret buffers: nothing they drop is left in freed memory -------------------- */

/* The block a test watches, and what tslp_free found in it just before freeing it. */
static const uint8_t *watched;
static size_t watched_len;
static int watched_freed, watched_clean;

static void watch_free(void *p)
{
    if (p != watched)
        return;
    watched_freed = 1;
    watched_clean = 1;
    for (size_t i = 0; i < watched_len; i++)
        watched_clean &= watched[i] == 0;
}

static void watch(const uint8_t *p, size_t n)
{
    watched = p;
    watched_len = n;
    watched_freed = watched_clean = 0;
    tslp_test_on_free(watch_free);
}

TT_TEST(buf_wipe)
{
    uint8_t x[37];
    memset(x, 0x5A, sizeof x);
    tslp_wipe(x + 1, 35);
    TT_EQ_U(x[0], 0x5A);
    TT_EQ_U(x[36], 0x5A);
    int zero = 1;
    for (size_t i = 1; i < 36; i++)
        zero &= x[i] == 0;
    TT_CHECK(zero);
    tslp_wipe(NULL, 0); /* allowed */
}

TT_TEST(buf_secret_grow_wipes_old_block)
{
    tslp_buf b;
    tslp_buf_init_secret(&b, 1 << 20, "secret");
    uint8_t k[200];
    memset(k, 0xC3, sizeof k);
    TT_OK(tslp_buf_append(&b, k, sizeof k, NULL));
    TT_EQ_U(b.cap, 256);
    /* A terminator written past len (as the JWK writer does) must be wiped too. */
    b.data[b.len] = 0x77;
    const uint8_t *old = b.data;
    watch(old, b.cap);
    TT_OK(tslp_buf_append(&b, k, sizeof k, NULL)); /* 400 > 256: grows */
    tslp_test_on_free(NULL);
    TT_CHECK(watched_freed);
    TT_CHECK(watched_clean);
    TT_CHECK(b.data != old);
    TT_EQ_U(b.len, 400);
    int same = 1;
    for (size_t i = 0; i < b.len; i++)
        same &= b.data[i] == 0xC3;
    TT_CHECK(same);

    /* free() wipes the whole block, not only len bytes. */
    b.data[b.len] = 0x77;
    watch(b.data, b.cap);
    tslp_buf_free(&b);
    tslp_test_on_free(NULL);
    TT_CHECK(watched_freed);
    TT_CHECK(watched_clean);
    TT_CHECK(b.data == NULL);
}

TT_TEST(buf_secret_take_wipes_slack)
{
    tslp_buf b;
    tslp_buf_init_secret(&b, 1 << 20, "secret");
    uint8_t k[300];
    memset(k, 0xE1, sizeof k);
    TT_OK(tslp_buf_append(&b, k, sizeof k, NULL));
    size_t cap = b.cap;
    TT_EQ_U(cap, 512);
    memset(b.data + b.len, 0xE1, cap - b.len); /* stale secret bytes in the slack */
    b.len = 100;
    size_t n = 0;
    uint8_t *p = tslp_buf_take(&b, &n);
    TT_CHECK(p != NULL);
    TT_EQ_U(n, 100);
    /* Not shrunk (a moving realloc would free the old block unwiped), so all cap bytes
     * are still ours to read: the first 100 kept, the rest wiped. */
    int ok = 1;
    for (size_t i = 0; i < cap; i++)
        ok &= p[i] == (i < 100 ? 0xE1 : 0);
    TT_CHECK(ok);
    tslp_wipe(p, n);
    tslp_free(p);
}

TT_TEST(buf_secret_nomem_keeps_secret)
{
    /* A failed growth leaves the old block in place and untouched. */
    tslp_buf b;
    tslp_buf_init_secret(&b, 1 << 20, "secret");
    uint8_t k[256];
    memset(k, 0x11, sizeof k);
    TT_OK(tslp_buf_append(&b, k, sizeof k, NULL));
    tsl_error err;
    tsl_error_clear(&err);
    tslp_test_fail_alloc_after(1);
    TT_ERR(tslp_buf_append(&b, k, 1, &err), TSL_ERR_NOMEM);
    tslp_test_fail_alloc_after(0);
    TT_CONTAINS(err.msg, "secret: out of memory");
    TT_EQ_U(b.len, 256);
    TT_EQ_U(b.data[255], 0x11);
    tslp_buf_free(&b);
}

/* ---- arrays of elements ------------------------------------------------------------ */

typedef struct {
    uint64_t a, b, c;
} triple;

TT_TEST(elems_grow_and_cap)
{
    triple *v = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        if (n == cap)
            TT_OK(TSLP_ELEMS_RESERVE(v, n, cap, 1, 1000, "triples", NULL));
        TT_CHECK(cap > n && cap <= 1000);
        v[n].a = i;
        v[n].b = i * 3;
        v[n++].c = ~i;
    }
    int ok = 1;
    for (uint64_t i = 0; i < n; i++)
        ok &= v[i].a == i && v[i].b == i * 3 && v[i].c == ~i;
    TT_CHECK(ok);
    TT_EQ_U(cap, 1000); /* whole elements, and never past the cap */
    /* One more is refused with the cap named in items, and the array is unchanged. */
    tsl_error err;
    tsl_error_clear(&err);
    triple *before = v;
    TT_ERR(TSLP_ELEMS_RESERVE(v, n, cap, 1, 1000, "triples", &err), TSL_ERR_LIMIT);
    TT_EQ_STR(err.msg, "triples: more than the limit of 1000 items");
    TT_CHECK(v == before);
    TT_EQ_U(cap, 1000);
    TT_EQ_U(v[999].a, 999);
    /* A huge request cannot wrap n + more. */
    TT_ERR(TSLP_ELEMS_RESERVE(v, n, cap, SIZE_MAX, 1000, "triples", NULL), TSL_ERR_LIMIT);
    tslp_free(v);
}

TT_TEST(elems_overflow_names_cap)
{
    /* A cap larger than the address space allows at this element size: the count whose
     * byte size would wrap is refused, naming the cap, before anything is allocated. */
    struct big {
        uint8_t x[1 << 20];
    } *v = NULL;
    size_t cap = 0;
    tsl_error err;
    tsl_error_clear(&err);
    size_t count = SIZE_MAX / sizeof *v + 1;
    TT_ERR(TSLP_ELEMS_RESERVE(v, 0, cap, count, SIZE_MAX, "big things", &err),
           TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "big things: ");
    TT_CONTAINS(err.msg, "overflow the address space");
    char want[80];
    snprintf(want, sizeof want, "(limit %zu items)", SIZE_MAX);
    TT_CONTAINS(err.msg, want);
    TT_CHECK(v == NULL);
    TT_EQ_U(cap, 0);
}

TT_TEST(elems_nomem)
{
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    TT_OK(TSLP_ELEMS_RESERVE(v, n, cap, 64, 1 << 20, "words", NULL));
    for (n = 0; n < 64; n++)
        v[n] = (uint32_t)n;
    size_t cap0 = cap;
    uint32_t *before = v;
    tsl_error err;
    tsl_error_clear(&err);
    tslp_test_fail_alloc_after(1);
    TT_ERR(TSLP_ELEMS_RESERVE(v, n, cap, cap0, 1 << 20, "words", &err), TSL_ERR_NOMEM);
    tslp_test_fail_alloc_after(0);
    TT_CONTAINS(err.msg, "words: out of memory");
    TT_CHECK(v == before);
    TT_EQ_U(cap, cap0);
    TT_EQ_U(v[63], 63);
    tslp_free(v);
}

/* ---- the key file reader, a secret buffer with a cap ------------------------------- */

/* Writes n bytes of c to a new temporary file; its path goes to path. */
static int write_temp(char *path, size_t n, int c)
{
    snprintf(path, 64, "/tmp/tsl-buf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    static uint8_t block[65536];
    memset(block, c, sizeof block);
    size_t left = n;
    while (left > 0) {
        size_t k = left < sizeof block ? left : sizeof block;
        if (write(fd, block, k) != (ssize_t)k) {
            close(fd);
            return -1;
        }
        left -= k;
    }
    return close(fd);
}

TT_TEST(buf_key_file_cap)
{
    char path[64];
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    /* Exactly the cap is read whole, terminated. */
    TT_CHECK(write_temp(path, TSLP_KEY_FILE_MAX, 'k') == 0);
    tsl_status s = tslp_read_key_file(path, &text, &len, &st, NULL);
    unlink(path);
    TT_OK(s);
    TT_EQ_U(len, TSLP_KEY_FILE_MAX);
    TT_EQ_U(text[0], 'k');
    TT_EQ_U(text[len - 1], 'k');
    TT_EQ_U(text[len], 0);
    tslp_wipe(text, len + 1);
    tslp_free(text);
    /* One byte more is refused, with the message key files always had. */
    TT_CHECK(write_temp(path, TSLP_KEY_FILE_MAX + 1, 'k') == 0);
    tsl_error err;
    tsl_error_clear(&err);
    s = tslp_read_key_file(path, &text, &len, &st, &err);
    unlink(path);
    TT_ERR(s, TSL_ERR_LIMIT);
    char want[96];
    snprintf(want, sizeof want, "%s: larger than %zu bytes", path, TSLP_KEY_FILE_MAX);
    TT_EQ_STR(err.msg, want);
    /* A small file: its bytes, and nothing stale after the terminator. */
    TT_CHECK(write_temp(path, 10, 'q') == 0);
    s = tslp_read_key_file(path, &text, &len, &st, NULL);
    unlink(path);
    TT_OK(s);
    TT_EQ_U(len, 10);
    TT_EQ_STR(text, "qqqqqqqqqq");
    tslp_free_secret(text, len + 1);
}

TT_TEST(buf_printf_appends_text)
{
    /* Formatted text goes after what is there, stays a C string, and is refused whole
     * past the limit. */
    tslp_buf b;
    tslp_buf_init(&b, 16, "report");
    TT_OK(tslp_buf_printf(&b, NULL, "%-4s|", "ab"));
    TT_OK(tslp_buf_printf(&b, NULL, "%u", 42u));
    TT_EQ_U(b.len, 7);
    TT_EQ_STR((const char *)b.data, "ab  |42");
    tsl_error err;
    tsl_error_clear(&err);
    TT_ERR(tslp_buf_printf(&b, &err, "%s", "0123456789"), TSL_ERR_LIMIT);
    TT_CONTAINS(err.msg, "report");
    TT_EQ_U(b.len, 7);
    TT_EQ_STR((const char *)b.data, "ab  |42");
    tslp_buf_free(&b);
}

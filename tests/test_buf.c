/* test_buf.c - the bounded growable buffer (src/core/buf.h): appends keep every byte
 * across growth, growth past the limit is refused with TSL_ERR_LIMIT naming the buffer
 * and the limit and leaves it unchanged, an allocation failure leaves it unchanged too,
 * and take() hands over exactly the bytes and empties it. */
#include "tt.h"

#include "core/tsl_int.h"

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

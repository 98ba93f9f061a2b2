/* fuzz_lst.c - libFuzzer target for the `lst` decoders: base64url decoding and bounded
 * zlib inflation (tsl_b64url_decode, tsl_list_decompress).
 *
 * The input is taken as base64url `lst` text; its last byte picks the bits per entry
 * (last byte % 4 -> 1, 2, 4, 8), so corpus files are plain lst strings. Not the first
 * byte: every zlib stream starts 0x78 (or 0x08-0x68), whose base64url is 'e' (or 'C',
 * 'G', 'K', 'O', 'S', 'W', 'a'), which would only ever pick 2 or 8 bits. The text is
 * decoded and inflated with max_inflated 1 MiB, then the same input is inflated again
 * as raw zlib bytes. Oracles (abort() on violation):
 * - a failing call returns the code it records in tsl_error, with a non-empty message,
 *   and never TSL_ERR_ARG (the arguments here are always valid);
 * - base64url decoding is canonical (strict), so re-encoding a decoded input gives back
 *   exactly the input text;
 * - a decoded list has the requested bits, size len*8/bits (section 8.3), at most
 *   max_inflated bytes, answers tsl_list_get below its size and TSL_ERR_INDEX at it,
 *   and its tsl_list_count() adds up to its size. */
#include "fuzz_common.h"
#include "tsl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_INFLATED ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned bits_of[4] = {1, 2, 4, 8};

/* A failure must be reported consistently: the returned code in err, with a message. */
static void check_list(const tsl_list *l, unsigned bits)
{
    size_t len = 0;
    const uint8_t *bytes = tsl_list_bytes(l, &len);
    uint64_t size = tsl_list_size(l);
    if (tsl_list_bits(l) != bits || len > FUZZ_MAX_INFLATED ||
        size != (uint64_t)len * 8 / bits || (len > 0 && bytes == NULL))
        abort();

    unsigned v = 0;
    if (tsl_list_get(l, size, &v, NULL) != TSL_ERR_INDEX ||
        tsl_list_get(l, UINT64_MAX, &v, NULL) != TSL_ERR_INDEX)
        abort();
    if (size > 0) {
        const uint64_t probes[4] = {0, size / 2, size / 3 + 1, size - 1};
        for (int i = 0; i < 4; i++) {
            if (probes[i] >= size)
                continue;
            if (tsl_list_get(l, probes[i], &v, NULL) != TSL_OK || v >= (1u << bits))
                abort();
            /* The entry lives in byte idx*bits/8, LSB-first. */
            uint64_t bit = probes[i] * bits;
            unsigned want = (bytes[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
            if (v != want)
                abort();
        }
    }

    uint64_t counts[256];
    tsl_list_count(l, counts);
    uint64_t total = 0;
    for (unsigned i = 0; i < 256; i++) {
        if (i >= (1u << bits) && counts[i] != 0)
            abort();
        total += counts[i];
    }
    if (total != size)
        abort();
}

static void inflate_and_check(unsigned bits, const uint8_t *z, size_t z_len,
                              const tsl_limits *lim)
{
    tsl_list *l = NULL;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_list_decompress(bits, z, z_len, lim, &l, &err);
    if (st != TSL_OK) {
        fuzz_check_failure(st, &err);
        if (l != NULL)
            abort(); /* *out is set only on TSL_OK */
        return;
    }
    check_list(l, bits);
    tsl_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_inflated = FUZZ_MAX_INFLATED;
    unsigned bits = size > 0 ? bits_of[data[size - 1] % 4] : 1;

    uint8_t *z = NULL;
    size_t z_len = 0;
    tsl_error err;
    tsl_error_clear(&err);
    tsl_status st = tsl_b64url_decode((const char *)data, size, &z, &z_len, &err);
    if (st == TSL_OK) {
        char *text = NULL;
        size_t text_len = 0;
        st = tsl_b64url_encode(z, z_len, &text, &text_len, NULL);
        if (st == TSL_OK &&
            (text_len != size || text[text_len] != '\0' || memcmp(text, data, size) != 0))
            abort();
        tsl_free(text);
        /* An empty decode may come back as NULL; the inflater gets a valid pointer. */
        inflate_and_check(bits, z != NULL ? z : (const uint8_t *)"", z_len, &lim);
        tsl_free(z);
    } else {
        fuzz_check_failure(st, &err);
    }

    inflate_and_check(bits, data, size, &lim);
    return 0;
}

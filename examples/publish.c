/* publish.c - an embedder publishing a store without the `tsl` command: it opens the
 * library's publisher on a store, runs one publishing round (signing what is missing
 * or stale), takes the snapshot, and answers one GET per list with the answering call,
 * as an HTTP server would. For each list it prints the id, the status, the media type
 * and the ETag (the first 16 bytes of the body's SHA-256, in hex), for example
 *
 *     L1 200 application/statuslist+jwt "1f0c...e2"
 *
 * Usage: publish STORE [jwt|cwt]          (built by `make` into build/examples/) */
#include <tsl.h>

#include <stdio.h>
#include <string.h>

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "publish: %s\n", line);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: publish STORE [jwt|cwt]\n");
        return 2;
    }
    const char *accept = argc == 3 && strcmp(argv[2], "cwt") == 0 ? TSL_MEDIA_CWT
                                                                  : TSL_MEDIA_JWT;
    tsl_error err;
    tsl_error_clear(&err);

    /* The publisher: one round signs what needs it and builds the snapshot. */
    tsl_publisher_options opt;
    memset(&opt, 0, sizeof opt);
    opt.retention = 7 * 86400;
    opt.log = log_line;
    tsl_publisher *pub = NULL;
    if (tsl_publisher_open(argv[1], &opt, &pub, &err) != TSL_OK ||
        tsl_publisher_round(pub, 0, &err) != TSL_OK) {
        fprintf(stderr, "publish: %s\n", err.msg);
        tsl_publisher_close(pub);
        return 1;
    }
    tsl_snapshot *snap = tsl_publisher_snapshot(pub);

    /* The lists and where they are served (their uri's path). */
    tsl_store *st = NULL;
    char **ids = NULL;
    size_t n = 0;
    if (tsl_store_open(argv[1], &st, &err) != TSL_OK ||
        tsl_store_list_ids(st, &ids, &n, &err) != TSL_OK) {
        fprintf(stderr, "publish: %s\n", err.msg);
        n = 0;
    }
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        tsl_list_info info;
        memset(&info, 0, sizeof info);
        char path[TSL_URI_MAX + 1];
        if (tsl_store_list_info(st, ids[k], &info, &err) != TSL_OK ||
            tsl_uri_path(info.uri, path, sizeof path, &err) != TSL_OK) {
            fprintf(stderr, "publish: %s: %s\n", ids[k], err.msg);
            tsl_list_info_free(&info);
            rc = 1;
            continue;
        }
        tsl_list_info_free(&info);

        /* One request, answered without a socket. */
        tsl_http_request rq;
        memset(&rq, 0, sizeof rq);
        rq.method = "GET";
        rq.path = path;
        rq.accept = accept;
        tsl_http_response resp;
        tsl_publish_answer(snap, &rq, &resp);
        const char *type = "-", *etag = "-";
        for (size_t h = 0; h < resp.nheaders; h++) {
            if (strcmp(resp.headers[h].name, "Content-Type") == 0)
                type = resp.headers[h].value;
            else if (strcmp(resp.headers[h].name, "ETag") == 0)
                etag = resp.headers[h].value;
        }
        printf("%s %u %s %s\n", ids[k], resp.status, type, etag);
        if (resp.status != 200)
            rc = 1;
        tsl_http_response_free(&resp);
    }
    tsl_store_ids_free(ids, n);
    tsl_store_close(st);
    tsl_snapshot_release(snap);
    tsl_publisher_close(pub);
    return rc;
}

/* filigrane jobs: the durable job queue, for an operator.
 * filigrane previews rebuild: stamps previews again through the same jobs
 * (after FILIGRANE_MARK_TEXT changed, for instance): the worker's runners
 * replace each preview and record it in the audit trail; the old
 * preview's blob loses its reference and the collector removes it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "storage/jobs.h"
#include "storage/meta.h"

static const char USAGE_JOBS[] =
    "filigrane jobs [--data DIR] [--state pending|running|done|failed]";
static const char USAGE_PREVIEWS[] = "filigrane previews rebuild (--order ORDER | --all) [--data DIR]";

/* Opens the store (cli_open_store). */
static int open_store(const char *data, store_meta **m)
{
    return cli_open_store("jobs", USAGE_JOBS, data, m);
}

static const char *default_data(void)
{
    const char *data = getenv("FILIGRANE_DATA");
    return data && *data ? data : "./var";
}

int cli_jobs(int argc, char **argv)
{
    const char *data = default_data(), *state = NULL;
    store_meta *m = NULL;
    store_job_list l = {0};
    fg_reason r = {{0}};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
            state = argv[++i];
        else
            return cli_usage_error("jobs", USAGE_JOBS, "unknown argument");
    }
    int status = open_store(data, &m);
    if (status)
        return status;
    fg_result rc = store_job_list_get(m, state, 0, &l, &r);
    if (rc != FG_OK) {
        store_meta_free(m);
        return rc == FG_EUSAGE ? cli_usage_error("jobs", USAGE_JOBS, r.text)
                               : cli_error("filigrane.db", rc, r.text);
    }
    /* One job a line, tab-separated, for people and for cut/awk. */
    printf("id\tkind\tsubject\torder\tstate\tattempts\tcreated_at\tupdated_at\towner\t"
           "lease_left_s\tlast_error\n");
    int64_t now = 0;
    {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        now = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    }
    for (size_t i = 0; i < l.n; i++) {
        const store_job *j = &l.items[i];
        long long left = j->lease_until > now ? (long long)((j->lease_until - now) / 1000) : 0;
        printf("%lld\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%lld\t%s\n", (long long)j->id, j->kind,
               j->subject, j->order_id[0] ? j->order_id : "-", j->state, j->attempts,
               j->created_at, j->updated_at, j->lease_owner[0] ? j->lease_owner : "-", left,
               j->last_error[0] ? j->last_error : "-");
    }
    fprintf(stderr, "%zu job(s)\n", l.n);
    store_job_list_release(&l);
    store_meta_free(m);
    return 0;
}

int cli_previews(int argc, char **argv)
{
    const char *data = default_data(), *order = NULL;
    bool all = false;
    store_meta *m = NULL;
    fg_reason r = {{0}};
    int64_t added = 0;
    if (argc < 2 || strcmp(argv[1], "rebuild") != 0)
        return cli_usage_error("previews", USAGE_PREVIEWS, "the only action is rebuild");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--order") == 0 && i + 1 < argc)
            order = argv[++i];
        else if (strcmp(argv[i], "--all") == 0)
            all = true;
        else
            return cli_usage_error("previews", USAGE_PREVIEWS, "unknown argument");
    }
    /* Exactly one: a forgotten --order must not rebuild every order. */
    if (all == (order != NULL))
        return cli_usage_error("previews", USAGE_PREVIEWS, "give --order ORDER or --all");
    int status = open_store(data, &m);
    if (status)
        return status;
    fg_result rc = FG_OK;
    if (order) {
        store_order o;
        rc = store_order_get(m, order, &o, &r);
    }
    if (rc == FG_OK)
        rc = store_job_rebuild_previews(m, order, &added, &r);
    store_meta_free(m);
    if (rc != FG_OK)
        return cli_error(NULL, rc, r.text);
    printf("queued %lld preview job(s)\n", (long long)added);
    return 0;
}

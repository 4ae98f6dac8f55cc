/*
 * The runner of the HTTP layer's suites (frontends/common, driven directly,
 * no sockets). CTest runs it once per suite with CK_RUN_SUITE set; fork mode
 * is forced so one crashing test is an error in the report, not the end of
 * the run.
 */
#include "httptest.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(fe_http_suite());
    srunner_add_suite(sr, fe_head_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* A misspelt CK_RUN_SUITE runs nothing: that must not pass. */
    if (run == 0) {
        fprintf(stderr, "no checks ran: is CK_RUN_SUITE a suite of this runner?\n");
        return EXIT_FAILURE;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

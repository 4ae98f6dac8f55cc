/*
 * The Check test runner. Every suite is registered here; CTest runs each one
 * as its own test by setting CK_RUN_SUITE. A run that executes no check
 * fails: a misspelt suite name must not pass.
 */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(record_suite());
    srunner_add_suite(sr, core_suite());
    for (int k = 0; k < TARGET_COUNT; k++)
        srunner_add_suite(sr, contract_suite((target_kind)k));
    srunner_add_suite(sr, sqlite_suite());
    srunner_add_suite(sr, postgres_suite());
    srunner_add_suite(sr, postgres_outage_suite());
    srunner_add_suite(sr, chaos_suite());
    srunner_run_all(sr, CK_ENV);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (run == 0) {
        fprintf(stderr, "no checks ran: is CK_RUN_SUITE or CK_RUN_CASE misspelt?\n");
        return EXIT_FAILURE;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

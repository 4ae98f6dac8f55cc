/*
 * The runner of the command-line tool's suites. CTest runs it once per
 * suite with CK_RUN_SUITE set; fork mode is forced so one crashing test is
 * an error in the report, not the end of the run.
 */
#include "cliutil.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    if (cli_tmp_root_create() < 0) {
        perror("epochreg_cli_tests: mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(fe_common_suite());
#ifdef EPOCHREG_CLI_TEST_SQLITE
    srunner_add_suite(sr, cli_sqlite_suite());
#endif
#ifdef EPOCHREG_CLI_TEST_POSTGRES
    srunner_add_suite(sr, cli_postgres_suite());
#endif
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_tmp_root_remove();
    /* A misspelt CK_RUN_SUITE runs nothing: that must not pass. */
    if (run == 0) {
        fprintf(stderr, "no checks ran: is CK_RUN_SUITE a suite of this runner?\n");
        return EXIT_FAILURE;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

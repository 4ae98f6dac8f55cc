#ifndef EPOCHREG_HTTPTEST_H
#define EPOCHREG_HTTPTEST_H

#include <check.h>

Suite *fe_http_suite(void); /* test_fe_http.c: routes, parameters, statuses */
Suite *fe_head_suite(void); /* test_fe_head.c: the request-head validator */

#endif

/*
 * A stand-in libpq.so.5 for pq_loader's "old" mode: it has PQclear and
 * PQcmdStatus, as every libpq has, but none of the later functions the
 * backend needs, like a library older than libpq 14.
 */
void PQclear(void *res);
const char *PQcmdStatus(void *res);

void PQclear(void *res)
{
    (void)res;
}

const char *PQcmdStatus(void *res)
{
    (void)res;
    return "";
}

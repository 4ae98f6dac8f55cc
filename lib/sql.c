/*
 * SQL text shared by the SQL backends. Statements are assembled only from the
 * constant fragments below; values always travel as bound parameters.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

unsigned int epoch__list_variant(const epoch_query *q)
{
    unsigned int v = 0;
    if (q->after != EPOCH_UNSET)
        v |= EPOCH__LIST_AFTER;
    if (q->before != EPOCH_UNSET)
        v |= EPOCH__LIST_BEFORE;
    if (q->since_us != EPOCH_UNSET)
        v |= EPOCH__LIST_SINCE;
    if (q->until_us != EPOCH_UNSET)
        v |= EPOCH__LIST_UNTIL;
    if (q->tag)
        v |= EPOCH__LIST_TAG;
    if (q->order == EPOCH_ORDER_ASC)
        v |= EPOCH__LIST_ASC;
    return v;
}

static int append(char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= size)
        return -1;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return 0;
}

int epoch__list_sql(char *buf, size_t size, unsigned int variant)
{
    static const struct {
        unsigned int bit;
        const char *cond;
    } filters[] = {
        {EPOCH__LIST_AFTER, "id > $1"},        {EPOCH__LIST_BEFORE, "id < $2"},
        {EPOCH__LIST_SINCE, "epoch_us >= $3"}, {EPOCH__LIST_UNTIL, "epoch_us < $4"},
        {EPOCH__LIST_TAG, "tag = $5"},
    };
    size_t len = 0;
    if (size == 0 || variant >= EPOCH__LIST_VARIANTS)
        return -1;
    buf[0] = '\0';
    if (append(buf, size, &len, "SELECT " EPOCH__SQL_COLUMNS " FROM epochreg_records") <
        0)
        return -1;
    const char *sep = " WHERE ";
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (!(variant & filters[i].bit))
            continue;
        if (append(buf, size, &len, sep) < 0 ||
            append(buf, size, &len, filters[i].cond) < 0)
            return -1;
        sep = " AND ";
    }
    return append(buf, size, &len,
                  (variant & EPOCH__LIST_ASC) ? " ORDER BY id ASC LIMIT $6"
                                              : " ORDER BY id DESC LIMIT $6");
}

void epoch__list_params(const epoch_query *q, char bufs[EPOCH__LIST_PARAMS][24],
                        const char *values[EPOCH__LIST_PARAMS])
{
    const int64_t nums[4] = {q->after, q->before, q->since_us, q->until_us};
    for (int i = 0; i < 4; i++)
        values[i] = nums[i] == EPOCH_UNSET ? NULL : epoch__i64_text(bufs[i], 24, nums[i]);
    values[4] = q->tag;
    values[5] = epoch__i64_text(bufs[5], 24, (int64_t)q->limit + 1);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void epoch__ids_assign(epoch_record *recs, int *existed, int64_t *ids, size_t count)
{
    qsort(ids, count, sizeof(*ids), compare_i64);
    for (size_t i = 0; i < count; i++) {
        recs[i].id = ids[i];
        existed[i] = 0;
    }
}

/*
 * epochreg — register the current epoch time in a durable store and read the
 * registrations back.
 *
 * The one header applications include. Backend authors also include
 * <epochreg/sys/backend.h>, which this file deliberately leaves out: its
 * promise of stability is weaker (see README, "ABI policy").
 *
 *     epoch_store *store;
 *     epoch_error err;
 *     if (epoch_store_open(&store, "sqlite:/var/lib/app/epochs.db", NULL, &err) < 0)
 *         fprintf(stderr, "%s\n", err.message);
 *     epoch_entry entry = {0};
 *     entry.tag = "backup-job";
 *     epoch_record rec;
 *     if (epoch_register(&rec, store, &entry, &err) >= 0)
 *         printf("registered %lld\n", (long long)rec.id);
 *     epoch_store_close(store);
 */
#ifndef EPOCHREG_EPOCHREG_H
#define EPOCHREG_EPOCHREG_H

#include "common.h"
#include "version.h"
#include "errors.h"
#include "record.h"
#include "store.h"

#endif /* EPOCHREG_EPOCHREG_H */

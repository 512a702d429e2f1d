# The mechanical part of the store split (issue 11): calls through the old
# one ops table (sl_store_ops, src/store/store.h before the split) become
# calls of the inline wrappers of src/store/txn.h, sink.h and jobstore.h.
# Apply with:  sed -E -i -f scripts/stores-rename.sed FILES...
# What it cannot do (by hand): job_list's filter argument, the sink's
# write/flush (target_insert*, spill), counters as increments
# (sl_js_chunk_commit / sl_js_counts_add instead of job_update of counters).
#
# the engine's run (struct ingest: g->st is the job store, g->sink the
# sink, g->txn their shared transaction)
s/g->ops->(begin|commit|rollback)\(g->st\)/sl_txn_\1(g->txn)/g
s/g->ops->target_prepare\(g->st, /sl_sink_prepare(g->sink, /g
s/g->ops->target_key_owner\(g->st, /sl_sink_key_owner(g->sink, /g
s/g->ops->target_delete_job\(g->st, /sl_sink_delete_job(g->sink, /g
s/g->ops->close\(g->st\)/sl_js_close(g->st)/g
s/sl_store_errmsg\(g->st\)/sl_txn_errmsg(g->txn)/g
s/g->ops->([a-z_]+)\(g->st, /sl_js_\1(g->st, /g
# one-shot users of a job store (st, r->st: an sl_jobstore *)
s/([a-z]+(->[a-z]+)?)->ops->(begin|commit|rollback)\(\1\)/sl_txn_\3(\1->txn)/g
s/([a-z]+(->[a-z]+)?)->ops->close\(\1\)/sl_js_close(\1)/g
s/([a-z]+(->[a-z]+)?)->ops->([a-z_]+)\(\1, /sl_js_\3(\1, /g
s/sl_store_errmsg\(([a-z]+(->[a-z]+)?)\)/sl_js_errmsg(\1)/g
s/sl__store_open_msg\(([^,]+), /sl_jobstore_open(\1, 0, /g
s/sl_store \*st\b/sl_jobstore *st/g
s/const sl_store_ops \*ops;/sl_txn *txn; \/* the transaction the sink and the job store share *\//g

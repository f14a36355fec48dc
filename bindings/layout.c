/*
 * layout.c - print the size and field offsets of every public struct of
 * include/splinter.h, one per line:
 *
 *     spl_meta 64                 (struct size)
 *     spl_meta.epoch 0 8          (field offset and size)
 *
 * The bindings' layout tests compile this with `cc -Iinclude` and compare
 * each line with the struct they mirror (ctypes, #[repr(C)], ...), so a
 * field added to the header without the bindings fails their tests.
 * Keep every field of every public struct listed here.
 */
#include <stddef.h>
#include <stdio.h>

#include "splinter.h"

#define S(t) printf(#t " %zu\n", sizeof(t))
#define F(t, f) printf(#t "." #f " %zu %zu\n", offsetof(t, f), sizeof(((t *)0)->f))

int main(void)
{
    S(spl_geometry);
    F(spl_geometry, slots); F(spl_geometry, key_max); F(spl_geometry, val_max);
    F(spl_geometry, vec_dim);

    S(spl_options);
    F(spl_options, version); F(spl_options, backing); F(spl_options, flags);
    F(spl_options, mode); F(spl_options, geom); F(spl_options, feed_len);
    F(spl_options, vec_format); F(spl_options, tandem_sep); F(spl_options, numa_mode);
    F(spl_options, huge_pages); F(spl_options, numa_nodes); F(spl_options, vec_cells);

    S(spl_info);
    F(spl_info, geom); F(spl_info, backing); F(spl_info, probe_max); F(spl_info, slot_stride);
    F(spl_info, region_bytes); F(spl_info, used); F(spl_info, load); F(spl_info, recoveries);
    F(spl_info, changes); F(spl_info, probe_longest); F(spl_info, probe_mean);
    F(spl_info, features); F(spl_info, read_only); F(spl_info, cell_stride);
    F(spl_info, cells_high); F(spl_info, capacity); F(spl_info, free);
    F(spl_info, index_words); F(spl_info, undo_recs); F(spl_info, page_bytes);
    F(spl_info, numa_nodes); F(spl_info, numa_mode); F(spl_info, numa_sampled);
    F(spl_info, numa_absent); F(spl_info, numa_pages); F(spl_info, store_id);
    F(spl_info, cells); F(spl_info, cells_used); F(spl_info, resident_bytes);

    S(spl_meta);
    F(spl_meta, epoch); F(spl_meta, labels); F(spl_meta, ctime_ns); F(spl_meta, mtime_ns);
    F(spl_meta, atime_ns); F(spl_meta, val_len); F(spl_meta, slot); F(spl_meta, type);
    F(spl_meta, user_flags); F(spl_meta, watch);

    S(spl_view);
    F(spl_view, data); F(spl_view, len); F(spl_view, epoch); F(spl_view, slot);
    F(spl_view, type);

    S(spl_entry);
    F(spl_entry, key); F(spl_entry, key_len); F(spl_entry, val); F(spl_entry, meta);

    S(spl_filter);
    F(spl_filter, prefix); F(spl_filter, glob); F(spl_filter, labels); F(spl_filter, flags);

    S(spl_event);
    F(spl_event, seq); F(spl_event, epoch); F(spl_event, groups); F(spl_event, slot);
    F(spl_event, kind); F(spl_event, key_len);

    S(spl_vec_query);
    F(spl_vec_query, vec); F(spl_vec_query, key); F(spl_vec_query, dim); F(spl_vec_query, k);
    F(spl_vec_query, metric); F(spl_vec_query, flags); F(spl_vec_query, labels);
    F(spl_vec_query, prefix); F(spl_vec_query, threads); F(spl_vec_query, ef);

    S(spl_vec_hit);
    F(spl_vec_hit, key); F(spl_vec_hit, key_len); F(spl_vec_hit, score); F(spl_vec_hit, slot);
    F(spl_vec_hit, epoch);

    S(spl_vec_result);
    F(spl_vec_result, n); F(spl_vec_result, scanned); F(spl_vec_result, skipped);
    F(spl_vec_result, hits); F(spl_vec_result, flags);
    S(spl_retry);
    F(spl_retry, opaque);

    S(spl_key);
    F(spl_key, key); F(spl_key, len); F(spl_key, home); F(spl_key, fp); F(spl_key, seed);

    S(spl_frag_info);
    F(spl_frag_info, name); F(spl_frag_info, version); F(spl_frag_info, summary);
    F(spl_frag_info, errmsg); F(spl_frag_info, path); F(spl_frag_info, args);
    F(spl_frag_info, argc); F(spl_frag_info, abi); F(spl_frag_info, state); F(spl_frag_info, err);
    F(spl_frag_info, host_pid); F(spl_frag_info, index); F(spl_frag_info, host_id);
    F(spl_frag_info, registered_ns); F(spl_frag_info, started_ns);
    F(spl_frag_info, heartbeat_age_ns); F(spl_frag_info, events); F(spl_frag_info, errors);
    F(spl_frag_info, resyncs); F(spl_frag_info, restarts); F(spl_frag_info, lag);
    F(spl_frag_info, groups); F(spl_frag_info, labels); F(spl_frag_info, events_per_s);

    S(spl_host_opts);
    F(spl_host_opts, version); F(spl_host_opts, flags); F(spl_host_opts, only);
    F(spl_host_opts, log_fd);
    return 0;
}

/*
 * Copyright (c) 2026 The ovs-flexmap authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

#include <config.h>

#include "flexmap-cache.h"
#include "flexmap-cache-private.h"

#include <inttypes.h>

#include "flexmap.h"
#include "odp-util.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "util.h"

/* Formatting of the map cache for the appctl commands (flexmap/show,
 * flexmap/dump-cache).  Reads only through the cache's public readers and
 * the entry layout. */

/* Formats a line on the connection tables of 'cache' for flexmap/show and
 * flexmap/dump-cache. */
void
flexmap_cache_conn_info_format(const struct flexmap_cache *cache,
                               struct ds *ds)
{
    struct flexmap_cache_conn_info info;

    flexmap_cache_get_conn_info(cache, &info);
    if (!info.n_tables) {
        ds_put_format(ds, "  connection tables: none yet (made with the "
                      "first pool), %"PRIuSIZE" connections each\n",
                      info.capacity);
        return;
    }
    ds_put_format(ds, "  connection tables: %u, %"PRIuSIZE" connections "
                  "each; %.1f MiB reserved, resident as used; %"PRIu64
                  " new connections not remembered (table full)\n",
                  info.n_tables, info.capacity, info.reserved / 1048576.0,
                  info.full);
}

/* Formatting. */

void
flexmap_cache_entry_format(const struct flexmap_cache *cache,
                           const struct flexmap_cache_entry *e,
                           const struct flexmap_cache_conns *conns,
                           struct ds *s)
{
    const struct flexmap_key *key = &e->key;
    struct flexmap_cache_stats stats;

    ds_put_format(s, "table=0x%"PRIx32",", e->table_id);
    flexmap_key_format(key, s);

    flexmap_cache_entry_get_stats(cache, e, &stats);
    ds_put_format(s, " packets:%"PRIu64" bytes:%"PRIu64" backends:",
                  stats.n_packets, stats.n_bytes);
    for (size_t i = 0; i < e->n_backends; i++) {
        const struct flexmap_dp_backend *b = &e->backends[i];

        if (flexmap_port_is_tnl(b->port)) {
            const struct flexmap_tnl_actions *ta
                = flexmap_cache_tnl_get(cache, b->port);

            ds_put_format(s, "%s "ETH_ADDR_FMT"->tunnel next hop %"PRIu32
                          " (%s) weight %"PRIu16, i ? "," : "",
                          ETH_ADDR_ARGS(b->mac),
                          odp_to_u32(b->port) - FLEXMAP_TNL_PORT_BASE,
                          ta && ta->len[0] ? "resolved" : "unresolved",
                          b->weight);
        } else {
            ds_put_format(s, "%s "ETH_ADDR_FMT"->port %"PRIu32" weight %"
                          PRIu16, i ? "," : "", ETH_ADDR_ARGS(b->mac),
                          odp_to_u32(b->port), b->weight);
        }
        if (e->n_backends > 1) {
            struct flexmap_cache_stats bs;

            flexmap_cache_entry_get_backend_stats(cache, e, i, &bs);
            ds_put_format(s, " packets:%"PRIu64" bytes:%"PRIu64
                          " conns:%"PRIuSIZE, bs.n_packets, bs.n_bytes,
                          flexmap_cache_conns_get(conns, e, i));
        }
        if (b->flags & FLEXMAP_BACKEND_TUNNEL) {
            ds_put_cstr(s, " tun_dst=");
            ipv6_format_mapped(&b->tun_dst, s);
            ds_put_format(s, " tun_id=%#"PRIx64, ntohll(b->tun_id));
        }
    }
}

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

#ifndef FLEXMAP_CHASH_H
#define FLEXMAP_CHASH_H 1

/* Consistent-hash slot table for multi-backend map entries.
 *
 * A table maps a flow's 32-bit 5-tuple hash to the index of one backend of
 * an entry.  It is built once per change of the entry's backends by weighted
 * rendezvous (highest random weight) hashing, evaluated for every slot, so
 * that a lookup is one multiply and one byte load.
 *
 * The mapping depends only on the backends' identities and weights, never on
 * their order or on history, so that every node (and every restart) computes
 * the same table for the same pool, and:
 *
 *   - removing or draining a backend moves only the flows it had;
 *   - adding a backend, or raising its weight, moves flows only to it;
 *   - each live backend gets a share of the slots close to its share of the
 *     total weight (binomial spread; see flexmap-chash.c for the figures).
 *
 * The number of slots is the same for every table with two or more live
 * backends (FLEXMAP_CHASH_SLOTS).  It must not depend on the number of
 * backends: a table of another size hashes flows to other slots, which
 * would move almost every flow whenever the size changed.
 *
 * Thread-safety: a built table is immutable; any number of threads may look
 * it up at once.  Building is single-threaded and allocates nothing. */

#include <stddef.h>
#include <stdint.h>

/* Slots per table with two or more live backends.  A prime; changing it
 * changes every mapping, so every node of a deployment must use the same
 * value.  (Overridable at build time only for experiments.) */
#ifndef FLEXMAP_CHASH_SLOTS
#define FLEXMAP_CHASH_SLOTS 262139u
#endif

/* Most backends a table can index (slot values are uint8_t). */
#define FLEXMAP_CHASH_MAX_BACKENDS 64

struct flexmap_chash {
    uint32_t n_slots;           /* 0: no live backend; 1: exactly one. */
    uint8_t slots[];            /* Backend index per slot. */
};

/* Returns the number of bytes to allocate for a table of an entry with
 * 'n_backends' backends (1 <= n_backends <= FLEXMAP_CHASH_MAX_BACKENDS). */
size_t flexmap_chash_size(size_t n_backends);

/* Builds 'table', which must have flexmap_chash_size(n) bytes, for the 'n'
 * backends whose stable identities are 'ids' and weights are 'weights'.
 * A zero weight drains a backend: it is never chosen.  Identities should be
 * distinct; backends with equal identities are ordered by index. */
void flexmap_chash_build(struct flexmap_chash *table, const uint64_t ids[],
                         const uint16_t weights[], size_t n);

/* Returns the index of the backend that 'table' chooses for a flow whose
 * 5-tuple hash is 'hash', or -1 if every weight is zero. */
static inline int
flexmap_chash_lookup(const struct flexmap_chash *table, uint32_t hash)
{
    if (!table->n_slots) {
        return -1;
    }
    return table->slots[((uint64_t) hash * table->n_slots) >> 32];
}

#endif /* flexmap-chash.h */

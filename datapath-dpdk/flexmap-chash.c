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

#include "flexmap-chash.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* Consistent-hash slot table: weighted rendezvous hashing, tabulated.
 *
 * Algorithm
 * =========
 *
 * Rendezvous or "highest random weight" (HRW) hashing (Thaler and
 * Ravishankar, "Using name-based mappings to increase hit rates", IEEE/ACM
 * Trans. Networking 6(1), 1998) sends a key to the backend that scores
 * highest for it, each backend's score being a hash of (key, backend).
 * Here the keys are the table's slots.  For slot s and live backend i with
 * weight w_i > 0:
 *
 *     u_i(s) = (x_i(s) + 0.5) / 2^52,    x_i(s) = top 52 bits of
 *              splitmix64(splitmix64(id_i + G) ^ splitmix64(s * G + S))
 *
 *     winner(s) = argmax_i  w_i / -ln(u_i(s))  =  argmin_i -ln(u_i(s)) / w_i
 *
 * -ln(u) of a uniform u is exponential with mean 1, so -ln(u_i) / w_i is
 * exponential with rate w_i, and the smallest of independent exponentials
 * is backend i's with probability w_i / sum(w): each slot goes to i with
 * exactly its share of the weight.  This is the weighted form of HRW
 * (Schindelhauer and Schomaker, "Weighted distributed hash tables", SPAA
 * 2005; also known as "weighted rendezvous hashing").  u is built from 52
 * bits, rather than 64, so that u and 1 - u are exact in a double and never
 * 0 or 1.  Ties of scores are broken by the larger x, then the smaller
 * identity, then the smaller index; ties of x have a 2^-52 chance per pair.
 *
 * A flow with 5-tuple hash h uses slot (h * M) >> 32, M slots.
 *
 * Because a slot's winner depends only on the scores of the live backends
 * for that slot, and a backend's score depends only on its identity, its
 * weight and the slot:
 *
 *   - removing or draining backend r changes exactly the slots r won;
 *   - adding backend a changes exactly the slots a now wins;
 *   - raising w_a only lowers a's scores, so slots move only to a;
 *   - the order of the backends in the caller's arrays does not matter.
 *
 * Why rendezvous rather than Maglev
 * =================================
 *
 * Maglev (Eisenbud et al., "Maglev: A fast and reliable software network
 * load balancer", NSDI 2016) fills its table by letting backends take turns
 * claiming slots from their own permutations.  That balances the table to
 * within one slot per backend, but whether a slot is still free when a
 * backend's turn comes depends on every other backend, so removing one
 * backend also moves a small share of the other backends' flows (the paper
 * reports this as the price of balance).  With rendezvous hashing that share
 * is exactly zero, which is what this table is for: connections to the
 * backends that stay must not break.  The price is balance: each slot is an
 * independent draw, so a backend's slot count is binomial (below).
 *
 * Table size and memory
 * =====================
 *
 * The slot count M is the same for every table with two or more live
 * backends.  It cannot depend on the number of backends N: a flow's slot is
 * (h * M) >> 32, so with another M almost every flow lands on a slot with
 * another key, and a pool growing from, say, 63 to 64 backends would move
 * about 63/64 of all flows, the very thing consistent hashing must avoid.
 * (A one-slot table is used when only one backend is live; that is exact,
 * since every slot of a full table would name that backend.)
 *
 * With equal weights a backend's slot count is Binomial(M, 1/N), so its
 * share is off 1/N by a relative standard deviation of
 * sqrt((1 - p) / (M p)) = sqrt((N - 1) / M), and the worst of the N
 * backends is typically 2 to 3 such deviations off.  Measured over ten
 * random pools each (worst backend's relative error, mean / max):
 *
 *         M:      65521        262139       1048573
 *     N =  4:   0.8 / 1.8%   0.5 / 0.9%   0.2 / 0.3%
 *     N = 16:   3.1 / 4.1%   1.7 / 2.7%   0.9 / 1.4%
 *     N = 32:   5.3 / 7.2%   2.3 / 2.9%   1.3 / 1.8%
 *     N = 64:   8.2 / 12.0%  3.9 / 4.8%   1.9 / 2.8%
 *
 * M = 262139, the largest prime below 2^18 (a prime is not needed by
 * rendezvous hashing, which has no permutation to generate; it is kept only
 * for familiarity), is the compromise this product takes between spread,
 * memory and build time: sigma = sqrt((N - 1) / M) is 0.2% at N = 2, 0.34%
 * at N = 4, 0.76% at N = 16 and 1.6% at N = 64, so a pool of up to 16 equal
 * backends stays within about 3% of even and the largest pools (64) within
 * about 5%.  Any table whose slots are assigned independently of each other,
 * as zero disruption requires here, needs about N / e^2 slots for a
 * relative error e: 3% at N = 64 would take 2^20 slots (1 MB per entry,
 * 0.2-0.5 s to build), which a product with thousands of pools cannot
 * afford.
 *
 * Memory is M bytes per multi-backend entry: 256 kB (262139 bytes plus a
 * 4-byte header); single-backend entries have no table.  A lookup reads one
 * byte of it, so it costs one cache miss for an entry that is not hot, and
 * only for packets that the connection affinity table does not already
 * place.  Building costs M * N hashes and about M * ln(N) logarithms (see
 * chash_build_slots()); no logarithm at all with equal weights: measured
 * here, about 5-15 ms for 2 to 4 backends and 60-140 ms for 64.  The build
 * runs in the thread that writes the map, outside the cache's writer lock.
 * Every node of a deployment must use the same M, since M is part of the
 * mapping.
 *
 * Determinism: the table depends only on the identities, the weights, M and
 * the constants below.  With unequal weights, it also depends on log()
 * ordering scores correctly; two libms can disagree on a slot only where two
 * scores are within a rounding error of each other. */

/* Odd 64-bit constants: 2^64 / golden ratio, and an arbitrary one.  Part of
 * the mapping: changing them moves every flow. */
#define CHASH_GOLDEN 0x9e3779b97f4a7c15ULL
#define CHASH_SLOT_SEED 0x5bd1e9955bd1e995ULL

/* 2^-52 and 1 + 2^-32 (see chash_build_slots()). */
#define CHASH_2M52 (1.0 / 4503599627370496.0)
#define CHASH_PRUNE_MARGIN (1.0 + 1.0 / 4294967296.0)

/* The splitmix64 finalizer (Steele, Lea & Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014): a bijection of 64-bit
 * values in which every input bit affects every output bit. */
static inline uint64_t
chash_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A live (non-zero weight) backend. */
struct chash_backend {
    uint64_t key;               /* chash_mix64() of the identity. */
    uint64_t id;                /* Identity, for breaking ties. */
    double weight;              /* Weight, > 0. */
    uint8_t idx;                /* Index in the caller's arrays. */
};

size_t
flexmap_chash_size(size_t n_backends)
{
    ovs_assert(n_backends >= 1 && n_backends <= FLEXMAP_CHASH_MAX_BACKENDS);
    return (sizeof(struct flexmap_chash)
            + (n_backends == 1 ? 1 : FLEXMAP_CHASH_SLOTS));
}

/* Returns true if a candidate with 'score', 'x' (52-bit hash), 'id' and
 * 'idx' beats the best one so far.  Lower score wins; then the higher hash
 * (so that equal weights order by hash alone, whatever rounding does to the
 * scores); then the lower identity; then the lower index. */
static inline bool
chash_beats(double score, uint64_t x, const struct chash_backend *b,
            double best_score, uint64_t best_x,
            const struct chash_backend *best)
{
    if (score != best_score) {
        return score < best_score;
    } else if (x != best_x) {
        return x > best_x;
    } else if (b->id != best->id) {
        return b->id < best->id;
    } else {
        return b->idx < best->idx;
    }
}

/* Returns the key of slot 's'. */
static inline uint64_t
chash_slot_key(uint32_t s)
{
    return chash_mix64(s * CHASH_GOLDEN + CHASH_SLOT_SEED);
}

/* Returns the 52-bit hash 'x' of backend 'b' for the slot with 'slot_key'.
 * The backend's u is then (x + 0.5) / 2^52. */
static inline uint64_t
chash_x(const struct chash_backend *b, uint64_t slot_key)
{
    return chash_mix64(b->key ^ slot_key) >> 12;
}

/* Returns -ln(u) / weight, the score of 'b' with hash 'x' (lower wins). */
static inline double
chash_score(const struct chash_backend *b, uint64_t x)
{
    return -log(((double) (int64_t) x + 0.5) * CHASH_2M52) / b->weight;
}

/* The tables are built a block of slots at a time, backend by backend, so
 * that the hashes of one backend for a block's slots are independent of
 * each other and the CPU can compute several at once. */
#define CHASH_BLOCK 64

/* Equal weights: w / -ln(u) is then largest for the largest u, that is, the
 * largest 'x', so no logarithm is needed.  This picks exactly what
 * chash_build_slots() would: that orders equal-weight backends by the same
 * keys (x, identity, index), since -ln(u) / w is non-increasing in 'x'. */
static void
chash_build_slots_equal(uint8_t *slots, uint32_t n_slots,
                        const struct chash_backend *bs, size_t n)
{
    for (uint32_t s0 = 0; s0 < n_slots; s0 += CHASH_BLOCK) {
        uint32_t m = MIN(CHASH_BLOCK, n_slots - s0);
        uint64_t keys[CHASH_BLOCK], best_x[CHASH_BLOCK];
        uint64_t best[CHASH_BLOCK];     /* Wide, for conditional moves. */
        bool tie = false;

        for (uint32_t j = 0; j < m; j++) {
            keys[j] = chash_slot_key(s0 + j);
            best_x[j] = chash_x(&bs[0], keys[j]);
            best[j] = 0;
        }
        for (size_t i = 1; i < n; i++) {
            for (uint32_t j = 0; j < m; j++) {
                uint64_t x = chash_x(&bs[i], keys[j]);

                /* Branch-free: which backend wins is unpredictable. */
                tie |= x == best_x[j];
                best[j] = x > best_x[j] ? i : best[j];
                best_x[j] = x > best_x[j] ? x : best_x[j];
            }
        }

        if (OVS_UNLIKELY(tie)) {
            /* Two equal 'x' for one slot (a 2^-52 chance per pair): redo
             * the block, ordering equal 'x' by identity, then index. */
            for (uint32_t j = 0; j < m; j++) {
                best_x[j] = chash_x(&bs[0], keys[j]);
                best[j] = 0;
                for (size_t i = 1; i < n; i++) {
                    uint64_t x = chash_x(&bs[i], keys[j]);
                    const struct chash_backend *b = &bs[i];
                    const struct chash_backend *c = &bs[best[j]];

                    if (x > best_x[j]
                        || (x == best_x[j]
                            && (b->id < c->id
                                || (b->id == c->id && b->idx < c->idx)))) {
                        best[j] = i;
                        best_x[j] = x;
                    }
                }
            }
        }

        for (uint32_t j = 0; j < m; j++) {
            slots[s0 + j] = bs[best[j]].idx;
        }
    }
}

/* Any weights. */
static void
chash_build_slots(uint8_t *slots, uint32_t n_slots,
                  const struct chash_backend *bs, size_t n)
{
    for (uint32_t s0 = 0; s0 < n_slots; s0 += CHASH_BLOCK) {
        uint32_t m = MIN(CHASH_BLOCK, n_slots - s0);
        uint64_t keys[CHASH_BLOCK], best_x[CHASH_BLOCK];
        double best_score[CHASH_BLOCK];
        uint8_t best[CHASH_BLOCK];

        for (uint32_t j = 0; j < m; j++) {
            keys[j] = chash_slot_key(s0 + j);
            best_x[j] = chash_x(&bs[0], keys[j]);
            best_score[j] = chash_score(&bs[0], best_x[j]);
            best[j] = 0;
        }
        for (size_t i = 1; i < n; i++) {
            const struct chash_backend *b = &bs[i];
            double prune = b->weight * CHASH_PRUNE_MARGIN;

            for (uint32_t j = 0; j < m; j++) {
                uint64_t x = chash_x(b, keys[j]);

                /* Pruning.  With u = (x + 0.5) / 2^52 and v = 1 - u (both
                 * exact in a double), -ln(u) >= v, so a backend with
                 * v > best_score * weight cannot win.  The margin (1 +
                 * 2^-32; weight times it is exact) covers the rounding of
                 * log(), of the division and of the product, so that the
                 * pruned scan picks exactly what a full scan would.  Only
                 * about ln(n) backends per slot get past this test. */
                double v = (((double) (int64_t) ((1ULL << 52) - 1 - x) + 0.5)
                            * CHASH_2M52);
                if (v > best_score[j] * prune) {
                    continue;
                }

                double score = chash_score(b, x);
                if (chash_beats(score, x, b, best_score[j], best_x[j],
                                &bs[best[j]])) {
                    best[j] = i;
                    best_x[j] = x;
                    best_score[j] = score;
                }
            }
        }

        for (uint32_t j = 0; j < m; j++) {
            slots[s0 + j] = bs[best[j]].idx;
        }
    }
}

void
flexmap_chash_build(struct flexmap_chash *table, const uint64_t ids[],
                    const uint16_t weights[], size_t n)
{
    struct chash_backend bs[FLEXMAP_CHASH_MAX_BACKENDS];
    size_t n_live = 0;

    ovs_assert(n >= 1 && n <= FLEXMAP_CHASH_MAX_BACKENDS);
    for (size_t i = 0; i < n; i++) {
        if (weights[i]) {
            struct chash_backend *b = &bs[n_live++];

            b->key = chash_mix64(ids[i] + CHASH_GOLDEN);
            b->id = ids[i];
            b->weight = weights[i];
            b->idx = i;
        }
    }

    if (n_live == 0) {
        table->n_slots = 0;
    } else if (n_live == 1) {
        /* Every slot of a full table would name this backend. */
        table->n_slots = 1;
        table->slots[0] = bs[0].idx;
    } else {
        bool equal = true;

        for (size_t i = 1; i < n_live; i++) {
            equal = equal && bs[i].weight == bs[0].weight;
        }
        table->n_slots = FLEXMAP_CHASH_SLOTS;
        (equal ? chash_build_slots_equal : chash_build_slots)(
            table->slots, table->n_slots, bs, n_live);
    }
}

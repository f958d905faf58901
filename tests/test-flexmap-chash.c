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

/* Unit tests for consistent hashing (datapath-dpdk/flexmap-chash.c).
 *
 * Flows are N_FLOWS synthetic 5-tuple hashes (hash_uint64() of a counter).
 * Exact properties (which flows may move) are checked on every one of
 * them.  Each test prints its measured figures on stdout.
 *
 * Check runs each test in a child process (CK_FORK=no to run them in one,
 * e.g. under valgrind). */

#include <config.h>

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flexmap-chash.h"
#include "hash.h"
#include "util.h"

#define N_FLOWS (1u << 20)          /* Flows for most tests. */
#define N_FLOWS_SPREAD (4u << 20)   /* Flows for the spread tests. */

/* Helpers. */

/* The 5-tuple hash of synthetic flow 'i'. */
static uint32_t
flow_hash(uint32_t i)
{
    return hash_uint64(i);
}

/* The identity of synthetic backend 'i': its MAC 02:00:5e:00:hi:lo in the
 * high 48 bits and its port in the low 16, as the cache will derive it. */
static uint64_t
backend_id(uint32_t i)
{
    uint64_t mac = 0x02005e000000ULL | (i & 0xffff);

    return (mac << 16) | ((8000 + i) & 0xffff);
}

static struct flexmap_chash *
build(const uint64_t ids[], const uint16_t weights[], size_t n)
{
    struct flexmap_chash *t = xmalloc(flexmap_chash_size(n));

    flexmap_chash_build(t, ids, weights, n);
    return t;
}

/* Builds a table of 'n' backends 0...n-1 of weight 1. */
static struct flexmap_chash *
build_equal(size_t n, uint64_t ids[])
{
    uint16_t weights[FLEXMAP_CHASH_MAX_BACKENDS];

    for (size_t i = 0; i < n; i++) {
        ids[i] = backend_id(i);
        weights[i] = 1;
    }
    return build(ids, weights, n);
}

/* Looks up the first 'n_flows' flows in 't' into 'out'. */
static void
lookup_flows(const struct flexmap_chash *t, int8_t *out, uint32_t n_flows)
{
    for (uint32_t i = 0; i < n_flows; i++) {
        out[i] = flexmap_chash_lookup(t, flow_hash(i));
    }
}

/* Counts the flows of each backend of 't' into 'counts[]'. */
static void
count_flows(const struct flexmap_chash *t, size_t n, uint32_t n_flows,
            uint32_t counts[])
{
    uint32_t bad = 0;

    memset(counts, 0, n * sizeof *counts);
    for (uint32_t i = 0; i < n_flows; i++) {
        int b = flexmap_chash_lookup(t, flow_hash(i));

        if (b >= 0 && b < n) {
            counts[b]++;
        } else {
            bad++;
        }
    }
    ck_assert_uint_eq(bad, 0);
}

/* Returns how many of the flows 't' does not send to 'b'. */
static uint32_t
count_not(const struct flexmap_chash *t, int b)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < N_FLOWS; i++) {
        n += flexmap_chash_lookup(t, flow_hash(i)) != b;
    }
    return n;
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
print(const char *format, ...)
    OVS_PRINTF_FORMAT(1, 2);

static void
print(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    fflush(stdout);
}

/* 1. Removing a backend moves only its flows.
 *
 * Removes backend 'r' of 'n' (and, separately, drains it with weight 0):
 * every flow that changes must have been on 'r', and every
 * flow of 'r' must change.  'weighted' gives backend i weight i + 1, so
 * that the general (logarithm) path is tested as well as the equal-weight
 * one. */
static void
check_remove(size_t n, size_t r, bool weighted)
{
    uint64_t ids[FLEXMAP_CHASH_MAX_BACKENDS], ids2[FLEXMAP_CHASH_MAX_BACKENDS];
    uint16_t w[FLEXMAP_CHASH_MAX_BACKENDS], w2[FLEXMAP_CHASH_MAX_BACKENDS];
    int8_t *before = xmalloc(N_FLOWS), *after = xmalloc(N_FLOWS);
    uint32_t moved = 0, on_r = 0, bad = 0;
    struct flexmap_chash *a, *b, *d;
    size_t n2 = 0;

    for (size_t i = 0; i < n; i++) {
        ids[i] = backend_id(i);
        w[i] = weighted ? i + 1 : 1;
        if (i != r) {
            ids2[n2] = ids[i];
            w2[n2++] = w[i];
        }
    }
    a = build(ids, w, n);
    b = build(ids2, w2, n2);

    lookup_flows(a, before, N_FLOWS);
    lookup_flows(b, after, N_FLOWS);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        int new = after[i] + (after[i] >= (int) r);

        on_r += before[i] == (int) r;
        if (before[i] != new) {
            bad += before[i] != (int) r;
            moved++;
        }
    }
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(moved, on_r);

    /* Draining instead of removing moves exactly the same flows. */
    w[r] = 0;
    d = build(ids, w, n);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        bad += flexmap_chash_lookup(d, flow_hash(i)) != (after[i]
                                                          + (after[i]
                                                             >= (int) r));
    }
    ck_assert_uint_eq(bad, 0);

    print("remove: N=%2"PRIuSIZE" %s, backend %2"PRIuSIZE": "
          "%.4f of flows moved (its share), 0 others moved\n",
          n, weighted ? "weights 1..N" : "equal       ",
          r, (double) moved / N_FLOWS);

    free(before);
    free(after);
    free(a);
    free(b);
    free(d);
}

START_TEST(test_remove)
{
    check_remove(4, 1, false);
    check_remove(5, 4, false);
    check_remove(10, 0, false);
    check_remove(64, 37, false);
    check_remove(10, 6, true);
    check_remove(32, 31, true);
}
END_TEST

/* 2. Adding a backend moves flows only to it, and about its fair share:
 * at most 1.15 / (N + 1) of the flows. */
static void
check_add(size_t n)
{
    uint64_t ids[FLEXMAP_CHASH_MAX_BACKENDS];
    uint16_t w[FLEXMAP_CHASH_MAX_BACKENDS];
    int8_t *before = xmalloc(N_FLOWS), *after = xmalloc(N_FLOWS);
    uint32_t moved = 0, bad = 0;
    struct flexmap_chash *a, *b;
    double frac, bound = 1.15 / (n + 1);

    /* The new backend is inserted in the middle, so that indexes shift. */
    size_t pos = n / 2;
    for (size_t i = 0, j = 0; i <= n; i++) {
        ids[i] = backend_id(i == pos ? 1000 : j++);
        w[i] = 1;
    }
    b = build(ids, w, n + 1);
    memmove(&ids[pos], &ids[pos + 1], (n - pos) * sizeof ids[0]);
    a = build(ids, w, n);

    lookup_flows(a, before, N_FLOWS);
    lookup_flows(b, after, N_FLOWS);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        int old = before[i] + (before[i] >= (int) pos);

        if (old != after[i]) {
            bad += after[i] != (int) pos;
            moved++;
        }
    }
    ck_assert_uint_eq(bad, 0);
    frac = (double) moved / N_FLOWS;
    print("add: N=%2"PRIuSIZE" -> %2"PRIuSIZE": %.4f of flows moved, "
          "all to the new backend (ideal 1/(N+1) = %.4f, bound %.4f)\n",
          n, n + 1, frac, 1.0 / (n + 1), bound);
    ck_assert_double_le(frac, bound);
    ck_assert_uint_gt(moved, 0);

    free(before);
    free(after);
    free(a);
    free(b);
}

START_TEST(test_add)
{
    check_add(4);
    check_add(9);
    check_add(63);
}
END_TEST

/* 3. Equal weights: each backend's share of the flows is within 2%
 * (relative) of 1/N, up to the largest pools (over 4M flows the binomial
 * sigma is sqrt((N - 1) / 4M), 0.39% at N = 64). */
static void
check_spread(size_t n)
{
    uint64_t ids[FLEXMAP_CHASH_MAX_BACKENDS];
    uint32_t flows[FLEXMAP_CHASH_MAX_BACKENDS];
    struct flexmap_chash *t = build_equal(n, ids);
    double worst_flows = 0;

    count_flows(t, n, N_FLOWS_SPREAD, flows);
    for (size_t i = 0; i < n; i++) {
        double df = fabs((double) flows[i] * n / N_FLOWS_SPREAD - 1);

        worst_flows = MAX(worst_flows, df);
    }
    print("spread: N=%2"PRIuSIZE": worst backend off 1/N by %.2f%% of %u "
          "flows (binomial sigma %.2f%%); table %"PRIuSIZE" bytes\n",
          n, worst_flows * 100, N_FLOWS_SPREAD,
          100 * sqrt((n - 1.0) / N_FLOWS_SPREAD), flexmap_chash_size(n));
    ck_assert_double_le(worst_flows, 0.02);
    free(t);
}

START_TEST(test_spread)
{
    check_spread(2);
    check_spread(4);
    check_spread(5);
    check_spread(16);
    check_spread(64);
}
END_TEST

/* 4. Weights 1:2:3:4 give shares within 2% (relative) of 0.1 ... 0.4. */
START_TEST(test_weights)
{
    static const uint16_t w[4] = { 1, 2, 3, 4 };
    uint64_t ids[4];
    uint32_t flows[4];
    struct flexmap_chash *t;

    for (size_t i = 0; i < 4; i++) {
        ids[i] = backend_id(i);
    }
    t = build(ids, w, 4);
    count_flows(t, 4, N_FLOWS_SPREAD, flows);
    for (size_t i = 0; i < 4; i++) {
        double want = w[i] / 10.0;
        double f = (double) flows[i] / N_FLOWS_SPREAD;

        print("weights: backend %"PRIuSIZE" weight %"PRIu16": share %.4f of "
              "flows (want %.1f; off %+.2f%%)\n",
              i, w[i], f, want, (f / want - 1) * 100);
        ck_assert_double_le(fabs(f / want - 1), 0.02);
    }
    free(t);
}
END_TEST

/* 5. Raising one weight from 1 to 2 moves flows only to that backend, and
 * about 2/(N+1) - 1/N of them. */
START_TEST(test_weight_change)
{
    enum { N = 8, J = 3 };
    uint64_t ids[N];
    uint16_t w[N];
    int8_t *before = xmalloc(N_FLOWS), *after = xmalloc(N_FLOWS);
    struct flexmap_chash *a, *b;
    uint32_t moved = 0, bad = 0;
    double frac, want = 2.0 / (N + 1) - 1.0 / N;

    a = build_equal(N, ids);            /* Equal-weight path... */
    for (size_t i = 0; i < N; i++) {
        w[i] = 1;
    }
    w[J] = 2;
    b = build(ids, w, N);               /* ...then the general path. */

    lookup_flows(a, before, N_FLOWS);
    lookup_flows(b, after, N_FLOWS);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        if (before[i] != after[i]) {
            bad += after[i] != J;
            moved++;
        }
    }
    ck_assert_uint_eq(bad, 0);
    frac = (double) moved / N_FLOWS;
    print("weight change: N=%d, backend %d weight 1 -> 2: %.4f of flows "
          "moved, all to it (ideal 2/(N+1) - 1/N = %.4f)\n",
          N, J, frac, want);
    ck_assert_double_le(fabs(frac / want - 1), 0.05);

    /* And back to 1: the same table as before, byte for byte. */
    struct flexmap_chash *c = build_equal(N, ids);
    ck_assert_int_eq(memcmp(a, c, flexmap_chash_size(N)), 0);

    free(before);
    free(after);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* 6. Drained backends, all-drained entries, single backends. */
START_TEST(test_drained)
{
    uint64_t ids[5];
    uint16_t w[5] = { 1, 1, 0, 1, 1 };
    uint32_t flows[5];
    struct flexmap_chash *t;

    for (size_t i = 0; i < 5; i++) {
        ids[i] = backend_id(i);
    }
    t = build(ids, w, 5);
    ck_assert_uint_eq(t->n_live, 4);
    count_flows(t, 5, N_FLOWS, flows);
    ck_assert_uint_eq(flows[2], 0);
    print("drained: backend 2 of 5 with weight 0: %"PRIu32" of %u flows; "
          "others %"PRIu32" %"PRIu32" %"PRIu32" %"PRIu32"\n", flows[2],
          N_FLOWS, flows[0], flows[1], flows[3], flows[4]);
    free(t);

    /* All weights zero: every lookup misses. */
    memset(w, 0, sizeof w);
    t = build(ids, w, 5);
    ck_assert_uint_eq(t->n_live, 0);
    ck_assert_uint_eq(count_not(t, -1), 0);
    ck_assert_int_eq(flexmap_chash_lookup(t, 0), -1);
    ck_assert_int_eq(flexmap_chash_lookup(t, UINT32_MAX), -1);
    free(t);

    /* One live backend of several: always it. */
    w[3] = 7;
    t = build(ids, w, 5);
    ck_assert_uint_eq(t->n_live, 1);
    ck_assert_uint_eq(count_not(t, 3), 0);
    ck_assert_int_eq(flexmap_chash_lookup(t, UINT32_MAX), 3);
    free(t);

    /* A single backend: always 0. */
    ck_assert_uint_eq(flexmap_chash_size(1),
                      sizeof *t + sizeof(struct flexmap_chash_backend));
    w[0] = 1;
    t = build(ids, w, 1);
    ck_assert_uint_eq(t->n_live, 1);
    ck_assert_uint_eq(count_not(t, 0), 0);
    ck_assert_int_eq(flexmap_chash_lookup(t, 0), 0);
    ck_assert_int_eq(flexmap_chash_lookup(t, UINT32_MAX), 0);
    free(t);

    /* A single weight-0 backend: every lookup misses. */
    w[0] = 0;
    t = build(ids, w, 1);
    ck_assert_int_eq(flexmap_chash_lookup(t, 12345), -1);
    free(t);
}
END_TEST

/* 7. Determinism: the same input gives the same bytes; the order of the
 * backends does not matter, only their identities (and weights). */
static void
check_permutation(size_t n, bool weighted)
{
    uint64_t ids[FLEXMAP_CHASH_MAX_BACKENDS], pids[FLEXMAP_CHASH_MAX_BACKENDS];
    uint16_t w[FLEXMAP_CHASH_MAX_BACKENDS], pw[FLEXMAP_CHASH_MAX_BACKENDS];
    size_t perm[FLEXMAP_CHASH_MAX_BACKENDS];
    struct flexmap_chash *a, *a2, *p;
    uint32_t seed = 42, bad = 0;

    for (size_t i = 0; i < n; i++) {
        ids[i] = backend_id(i);
        w[i] = weighted ? 1 + i % 5 : 1;
        perm[i] = i;
    }
    /* Fisher-Yates with a fixed seed. */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j;

        seed = hash_int(seed, 0);
        j = seed % (i + 1);
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (size_t i = 0; i < n; i++) {
        pids[i] = ids[perm[i]];
        pw[i] = w[perm[i]];
    }

    a = build(ids, w, n);
    a2 = build(ids, w, n);
    ck_assert_int_eq(memcmp(a, a2, flexmap_chash_size(n)), 0);

    p = build(pids, pw, n);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        uint32_t h = flow_hash(i);

        bad += (pids[flexmap_chash_lookup(p, h)]
                != ids[flexmap_chash_lookup(a, h)]);
    }
    ck_assert_uint_eq(bad, 0);
    print("determinism: N=%2"PRIuSIZE" %s: two builds byte-identical; "
          "permuted build names the same backend for all %u flows\n",
          n, weighted ? "weighted" : "equal   ", N_FLOWS);
    free(a);
    free(a2);
    free(p);
}

START_TEST(test_determinism)
{
    check_permutation(16, false);
    check_permutation(16, true);
    check_permutation(32, true);
}
END_TEST

/* The identity, not the index, decides: changing one identity is like
 * removing that backend and adding another. */
START_TEST(test_identity)
{
    enum { N = 6, J = 2 };
    uint64_t ids[N];
    struct flexmap_chash *a, *b;
    uint16_t w[N];
    uint32_t changed = 0, bad = 0;

    a = build_equal(N, ids);
    ids[J] = backend_id(999);
    for (size_t i = 0; i < N; i++) {
        w[i] = 1;
    }
    b = build(ids, w, N);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        int x = flexmap_chash_lookup(a, flow_hash(i));
        int y = flexmap_chash_lookup(b, flow_hash(i));

        if (x != y) {
            /* Lost by the old identity or won by the new one. */
            bad += x != J && y != J;
            changed++;
        }
    }
    ck_assert_uint_eq(bad, 0);
    print("identity: N=%d, backend %d's identity changed: %.4f of flows "
          "changed, all to or from it (at most 2/N = %.4f)\n", N, J,
          (double) changed / N_FLOWS, 2.0 / N);
    ck_assert_double_le((double) changed / N_FLOWS, 2.0 / N);
    free(a);
    free(b);
}
END_TEST

/* Lookup times (printed, not asserted: the machine may be loaded). */
START_TEST(test_lookup_time)
{
    static const size_t ns[] = { 2, 4, 16, 64 };
    enum { N_LOOKUPS = 1 << 22 };

    for (size_t k = 0; k < ARRAY_SIZE(ns); k++) {
        uint64_t ids[FLEXMAP_CHASH_MAX_BACKENDS];
        uint16_t w[FLEXMAP_CHASH_MAX_BACKENDS];
        struct flexmap_chash *t;
        size_t n = ns[k];
        double t0, t1, t2;
        uint32_t sum = 0;

        t = build_equal(n, ids);
        t0 = now_ms();
        for (uint32_t i = 0; i < N_LOOKUPS; i++) {
            sum += flexmap_chash_lookup(t, flow_hash(i));
        }
        t1 = now_ms();
        for (size_t i = 0; i < n; i++) {
            w[i] = 1 + i % 4;
        }
        flexmap_chash_build(t, ids, w, n);
        for (uint32_t i = 0; i < N_LOOKUPS; i++) {
            sum += flexmap_chash_lookup(t, flow_hash(i));
        }
        t2 = now_ms();
        print("lookup time: N=%2"PRIuSIZE": %.1f ns equal weights, %.1f ns "
              "weights 1..4 (hash of the flow included; checksum %"PRIu32
              ")\n", n, (t1 - t0) * 1e6 / N_LOOKUPS,
              (t2 - t1) * 1e6 / N_LOOKUPS, sum);
        free(t);
    }
}
END_TEST

static Suite *
flexmap_chash_suite(void)
{
    Suite *s = suite_create("flexmap-chash");
    TCase *tc;

    tc = tcase_create("disruption");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_add);
    tcase_add_test(tc, test_weight_change);
    tcase_add_test(tc, test_identity);
    suite_add_tcase(s, tc);

    tc = tcase_create("balance");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_spread);
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_drained);
    suite_add_tcase(s, tc);

    tc = tcase_create("build");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_lookup_time);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(flexmap_chash_suite());
    int n_failed;

    srunner_run_all(sr, CK_NORMAL);
    n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Native reference walker for `npm run bench`: the same work as the engine's raw walks, written
 * the way a C simulator would write it, so the bench can print how far the TypeScript hot loop is
 * from native code on this machine in the same run.
 *
 *  gva:  4-level IA-32e walk (SDM Vol. 3A §4.5) of random 4 KiB pages over 1 Mi mapped pages:
 *        per level read the entry, present, reserved bits (MAXPHYADDR 46, NXE), accumulate R/W,
 *        U/S and XD, leaf at level 1 or PS; then the permission check through a 16-entry
 *        permission bitmap indexed by the error code (as KVM's permissions[16]), the protection-key
 *        check against PKRU (the TypeScript bench guest has CR4.PKE, PKRU 0) and the A/D check
 *        (set A on every level and D on the leaf when missing; a warm guest has them all set).
 *  gva-lanes: the same walks LANES at a time, level by level (every walk's level-4 entry, then
 *        every walk's level-3 entry, ...), as src/walker/walk-batch-lanes.ts walks a batch: the
 *        loads of one level do not depend on each other, so all LANES are in flight at once; a
 *        group with a walk that needs more than reads goes one walk at a time (walk4).
 *  2d:   the same walk of L2's tables where every table frame and the final frame go through a
 *        4-level EPT walk (SDM §29.3.2: read/write/execute bits, reserved bits and the
 *        bad_mt_xwr bitmap on every level, A on every level and D on the leaf with EPTP bit 6): 24 refs.
 *
 * Inputs are generated with the workloads' xorshift32 (src/workload/generators.ts) and the same
 * seeds and address layout as bench/walk.bench.ts and bench/walk2d.bench.ts. Output: one JSON
 * line per figure, {"name","value","unit"}, medians of 7 rounds of 1 Mi walks after a warm-up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGES (1u << 20)
#define N (1u << 20)
#define ROUNDS 7

static uint32_t xs;
static uint32_t xorshift(void) {
  xs ^= xs << 13;
  xs ^= xs >> 17;
  xs ^= xs << 5;
  return xs;
}

/* Guest physical memory: tables only, as a flat array of 4 KiB frames from frame 0. */
static uint64_t *mem;
static uint64_t nframes, next_frame;

static uint64_t alloc_table(void) {
  if (next_frame >= nframes) { fprintf(stderr, "table pool exhausted\n"); exit(1); }
  return next_frame++;
}

static inline uint64_t *entry(uint64_t frame, unsigned idx) { return &mem[frame * 512 + idx]; }

#define P 1ull
#define RW 2ull
#define US 4ull
#define A 0x20ull
#define D 0x40ull
#define PS 0x80ull
#define XD (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull
/* MAXPHYADDR 46: bits 51:46 reserved; with NXE, XD is not. PS at level 4 reserved. */
#define RSVD_HI 0x000fc00000000000ull

static uint64_t rsvd[5];
static uint8_t permissions[16]; /* bit i of permissions[pfec>>1]: fault for ACC value i (U|W|X) */
static volatile uint32_t pkru_v; /* 0, read at run time so the check is not folded away */
static uint32_t pkru, pkru_mask;

static void build_permissions(void) {
  /* ACC bits: 1 = exec, 2 = write, 4 = user (KVM's ACC_EXEC/WRITE/USER). CR0.WP=1, SMEP, SMAP on. */
  for (unsigned pf = 0; pf < 16; pf++) {
    unsigned write = pf & 1, user = (pf >> 1) & 1, fetch = (pf >> 3) & 1, rsvd_ac = (pf >> 2) & 1;
    uint8_t m = 0;
    for (unsigned acc = 0; acc < 8; acc++) {
      unsigned x = acc & 1, w = (acc >> 1) & 1, u = (acc >> 2) & 1;
      unsigned f = 0;
      if (fetch && !x) f = 1;
      if (write && !w) f = 1; /* CR0.WP=1: supervisor writes obey W too */
      if (user && !u) f = 1;
      if (!user && u && fetch) f = 1;        /* SMEP */
      if (!user && u && !fetch && !rsvd_ac) f = 1; /* SMAP unless EFLAGS.AC (encoded in the RSVD slot) */
      m |= (uint8_t)(f << acc);
    }
    permissions[pf] = m;
  }
}

static uint64_t build_paging4(uint64_t va_base, uint64_t data_frame) {
  uint64_t root = alloc_table();
  for (uint64_t i = 0; i < PAGES; i++) {
    uint64_t va = va_base + i * 4096;
    uint64_t t = root;
    for (int level = 4; level > 1; level--) {
      unsigned idx = (va >> (12 + 9 * (level - 1))) & 511;
      uint64_t *e = entry(t, idx);
      if (!(*e & P)) *e = (alloc_table() << 12) | P | RW | US;
      t = (*e & ADDR_MASK) >> 12;
    }
    *entry(t, (va >> 12) & 511) = ((data_frame + i) << 12) | P | RW | US | XD;
  }
  return root;
}

/* Returns the gfn, or ~0 on a fault. pfec as the #PF error code: 2 write, 4 user, 16 fetch. */
static inline uint64_t walk4(uint64_t root, uint64_t va, unsigned pfec) {
  uint64_t t = root, e = 0;
  uint64_t acc_and = ~0ull, nx_or = 0;
  uint64_t *ents[5];
  int level;
  for (level = 4;; level--) {
    uint64_t *pe = entry(t, (va >> (12 + 9 * (level - 1))) & 511);
    e = *pe;
    ents[level] = pe;
    if (!(e & P)) return ~0ull;
    if (e & rsvd[level]) return ~0ull;
    acc_and &= e;
    nx_or |= e & XD;
    if (level == 1 || (e & PS)) break;
    t = (e & ADDR_MASK) >> 12;
  }
  unsigned acc = (nx_or ? 0 : 1) | (acc_and & RW ? 2 : 0) | (acc_and & US ? 4 : 0);
  if ((permissions[pfec >> 1] >> acc) & 1) return ~0ull;
  /* CR4.PKE: protection key of the leaf (bits 62:59) against PKRU, for user pages (SDM §4.6.2). */
  unsigned pk = (pkru >> (((e >> 59) & 15) * 2)) & 3;
  if (pk & (pkru_mask >> ((pfec & ~1u) | ((acc & 4) ? 8 : 0)))) return ~0ull;
  if (!(acc_and & A) || ((pfec & 2) && !(e & D))) {
    for (int l = 4; l >= level; l--) *ents[l] |= A;
    if (pfec & 2) *ents[level] |= D;
  }
  return (e & ADDR_MASK) >> 12;
}

/*
 * LANES walks of the same pfec at once, level by level (the `gva-lanes` figure): the GFNs' sum, as
 * walk4's results summed. Any walk that is not a read-only 4 KiB walk (a fault, a 2 MiB or 1 GiB
 * leaf, an A or D bit to set) sends the whole group through walk4 one walk at a time instead.
 */
#define LANES 8
static inline uint64_t walk4_lanes(uint64_t root, const uint64_t *va, unsigned pfec) {
  uint64_t t[LANES], e[LANES], acc_and[LANES], nx_or[LANES], s = 0;
  int ok = 1;
  for (int k = 0; k < LANES; k++) { t[k] = root; acc_and[k] = ~0ull; nx_or[k] = 0; }
  for (int level = 4; level >= 1; level--) {
    for (int k = 0; k < LANES; k++) {
      e[k] = *entry(t[k], (va[k] >> (12 + 9 * (level - 1))) & 511);
      ok &= (e[k] & P) && !(e[k] & rsvd[level]) && (level == 1 || !(e[k] & PS));
      acc_and[k] &= e[k];
      nx_or[k] |= e[k] & XD;
      t[k] = (e[k] & ADDR_MASK) >> 12;
    }
  }
  for (int k = 0; k < LANES; k++) {
    unsigned acc = (nx_or[k] ? 0 : 1) | (acc_and[k] & RW ? 2 : 0) | (acc_and[k] & US ? 4 : 0);
    ok &= !((permissions[pfec >> 1] >> acc) & 1);
    unsigned pk = (pkru >> (((e[k] >> 59) & 15) * 2)) & 3;
    ok &= !(pk & (pkru_mask >> ((pfec & ~1u) | ((acc & 4) ? 8 : 0))));
    ok &= (acc_and[k] & A) && (!(pfec & 2) || (e[k] & D));
    s += t[k];
  }
  if (!ok) {
    s = 0;
    for (int k = 0; k < LANES; k++) s += walk4(root, va[k], pfec);
  }
  return s;
}

/* EPT: bits 0 R, 1 W, 2 X; 8 A, 9 D. */
#define EPT_R 1ull
#define EPT_W 2ull
#define EPT_X 4ull
#define EPT_A 0x100ull
#define EPT_D 0x200ull
static uint64_t ept_rsvd[5];
/* bad_mt_xwr as KVM builds it (mmu.c: __reset_rsvds_bits_mask_ept): bit (e & 63) set = misconfig:
 * W without R, W+X without R (no execute-only support assumed off: X-only allowed), memory
 * types 2, 3 and 7 in leaves' bits 5:3. */
static uint64_t bad_mt_xwr;

static uint64_t ept_root;
static void ept_map(uint64_t ngfn, uint64_t gfn) {
  uint64_t t = ept_root;
  uint64_t a = ngfn << 12;
  for (int level = 4; level > 1; level--) {
    uint64_t *e = entry(t, (a >> (12 + 9 * (level - 1))) & 511);
    if (!(*e & 7)) *e = (alloc_table() << 12) | EPT_R | EPT_W | EPT_X;
    t = (*e & ADDR_MASK) >> 12;
  }
  *entry(t, (a >> 12) & 511) = (gfn << 12) | EPT_R | EPT_W | EPT_X | (6ull << 3);
}

/* nGPA frame → GPA frame, or ~0 on an EPT violation/misconfig; write sets D on the leaf. */
static inline uint64_t ept_walk(uint64_t ngfn, int write) {
  uint64_t t = ept_root, e = 0, acc = ~0ull;
  uint64_t *ents[5];
  int level;
  for (level = 4;; level--) {
    uint64_t *pe = entry(t, (ngfn >> (9 * (level - 1))) & 511);
    e = *pe;
    ents[level] = pe;
    if (!(e & 7)) return ~0ull;
    if ((e & ept_rsvd[level]) || ((bad_mt_xwr >> (e & 63)) & 1)) return ~0ull;
    acc &= e;
    if (level == 1 || (e & PS)) break;
    t = (e & ADDR_MASK) >> 12;
  }
  if (!(acc & EPT_R) || (write && !(acc & EPT_W))) return ~0ull;
  if (!(acc & EPT_A) || (write && !(e & EPT_D))) {
    for (int l = 4; l >= level; l--) *ents[l] |= EPT_A;
    if (write) *ents[level] |= EPT_D;
  }
  return (e & ADDR_MASK) >> 12;
}

/* L2 tables live at nGPA = GPA (identity-mapped by EPT), as in bench/walk2d.bench.ts. */
static inline uint64_t walk2d(uint64_t root_n, uint64_t va, unsigned pfec) {
  uint64_t tn = root_n, e = 0, acc_and = ~0ull, nx_or = 0;
  uint64_t *ents[5];
  int level;
  for (level = 4;; level--) {
    uint64_t tg = ept_walk(tn, 1); /* the CPU may write A/D into the table: a write access */
    if (tg == ~0ull) return ~0ull;
    uint64_t *pe = entry(tg, (va >> (12 + 9 * (level - 1))) & 511);
    e = *pe;
    ents[level] = pe;
    if (!(e & P) || (e & rsvd[level])) return ~0ull;
    acc_and &= e;
    nx_or |= e & XD;
    if (level == 1 || (e & PS)) break;
    tn = (e & ADDR_MASK) >> 12;
  }
  unsigned acc = (nx_or ? 0 : 1) | (acc_and & RW ? 2 : 0) | (acc_and & US ? 4 : 0);
  if ((permissions[pfec >> 1] >> acc) & 1) return ~0ull;
  if (!(acc_and & A) || ((pfec & 2) && !(e & D))) {
    for (int l = 4; l >= level; l--) *ents[l] |= A;
    if (pfec & 2) *ents[level] |= D;
  }
  return ept_walk((e & ADDR_MASK) >> 12, (pfec & 2) != 0);
}

/* `walk-c cpu` times on the thread's CPU clock instead of the wall clock: on a machine shared with
 * other work the CPU time of the walks is what compares with the TypeScript side's CPU time. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(clock_id, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t vas[N];
static volatile uint64_t sink;

/* Timed rounds per figure: ROUNDS, or 1 in `round` mode (below). */
static int rounds = ROUNDS;

/* Time `call` over the N walks, `step` walks per call (i is the first walk's index). */
#define TIME_STEP(label, step, call)                                        \
  do {                                                                      \
    uint64_t s = 0;                                                         \
    for (uint32_t i = 0; i < 100000; i += step) s += call;                  \
    double per[ROUNDS];                                                     \
    for (int r = 0; r < rounds; r++) {                                      \
      double t0 = now_ns();                                                 \
      for (uint32_t i = 0; i < N; i += step) s += call;                     \
      per[r] = (now_ns() - t0) / N;                                         \
    }                                                                       \
    qsort(per, rounds, sizeof per[0], cmp);                                 \
    sink = s;                                                               \
    printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"ns/walk\"}\n", label, per[rounds / 2]); \
  } while (0)
#define TIME(label, call) TIME_STEP(label, 1, call)

/*
 * Arguments: [cpu] [round gva|gva-lanes|2d]. `cpu`: the thread's CPU clock. `round K`: build only figure K's
 * tables and time one round of N walks after the warm pass (native.bench.ts runs one such process
 * next to each TypeScript round, so each TypeScript/C ratio compares walks timed seconds apart).
 */
/* vas[]: N random 4 KiB pages of the PAGES mapped from `base`, each with a random offset, drawn
 * with xorshift32 from `seed` as the TypeScript benches draw them (same seed, same addresses). */
static void random_vas(uint64_t base, uint32_t seed) {
  xs = seed;
  for (uint32_t i = 0; i < N; i++) {
    uint32_t a = xorshift() % PAGES, off = xorshift() & 0xfff;
    vas[i] = base + (uint64_t)a * 4096 + off;
  }
}

int main(int argc, char **argv) {
  int a = 1;
  if (a < argc && strcmp(argv[a], "cpu") == 0) {
    clock_id = CLOCK_THREAD_CPUTIME_ID;
    a++;
  }
  const char *only = NULL;
  if (a + 1 < argc && strcmp(argv[a], "round") == 0) {
    only = argv[a + 1];
    if (strcmp(only, "gva") != 0 && strcmp(only, "gva-lanes") != 0 && strcmp(only, "2d") != 0) {
      fprintf(stderr, "round: unknown figure %s (gva, gva-lanes or 2d)\n", only);
      return 2;
    }
    rounds = 1;
    a += 2;
  }
  if (a < argc) {
    fprintf(stderr, "usage: %s [cpu] [round gva|gva-lanes|2d]\n", argv[0]);
    return 2;
  }
  nframes = (64ull << 20) / 4096 * 2; /* 128 MiB of table frames: enough for 1 Mi pages twice over */
  mem = calloc(nframes * 512, 8);
  if (!mem) return 1;
  for (int l = 1; l <= 4; l++) rsvd[l] = RSVD_HI;
  rsvd[4] |= PS;
  for (int l = 1; l <= 4; l++) ept_rsvd[l] = RSVD_HI;
  ept_rsvd[4] |= PS;
  build_permissions();
  pkru = pkru_v;
  pkru_mask = 0;
  /* pkru_mask bit (pfec & ~1 | user-page << 3): user-page data accesses are checked (SDM §4.6.2). */
  for (unsigned pf = 0; pf < 16; pf += 2) pkru_mask |= (1u | ((pf & 2) ? 2u : 0)) << (pf | 8);
  for (unsigned b = 0; b < 64; b++) {
    unsigned xwr = b & 7, mt = b >> 3;
    if (xwr == 2 || xwr == 6 || mt == 2 || mt == 3 || mt == 7) bad_mt_xwr |= 1ull << b;
  }
  const unsigned pfec = 2 | 4; /* user write, as the TypeScript benches */

  /* gva: 4-level, tables from frame 0, data frames far above (never touched). */
  const uint64_t base = 0x7f0000000000ull;
  if (only == NULL || strncmp(only, "gva", 3) == 0) {
    uint64_t root = build_paging4(base, 0x200000);
    random_vas(base, 4 * 7919);
    for (uint32_t i = 0; i < N; i++) {
      if (walk4(root, vas[i], pfec) == ~0ull) { fprintf(stderr, "gva walk faulted\n"); return 1; }
    }
    if (only == NULL || strcmp(only, "gva") == 0) TIME("c.gva_walk.4level.random4k", walk4(root, vas[i], pfec));
    if (only == NULL || strcmp(only, "gva-lanes") == 0) TIME_STEP("c.gva_walk.4level.random4k.lanes", LANES, walk4_lanes(root, &vas[i], pfec));
  }
  if (only != NULL && strcmp(only, "2d") != 0) return 0;

  /* 2d: EPT identity-maps the table frames (nGPA = GPA) and maps data frames 1:1 elsewhere. */
  next_frame = 0;
  memset(mem, 0, nframes * 512 * 8);
  ept_root = alloc_table();
  uint64_t l2_first = nframes / 2; /* L2 tables in the upper half of the pool */
  for (uint64_t f = l2_first; f < nframes; f++) ept_map(f, f);
  for (uint64_t i = 0; i < PAGES; i++) ept_map(0x200000 + i, 0x300000 + i);
  next_frame = l2_first;
  uint64_t root2 = build_paging4(base, 0x200000);
  random_vas(base, 2024);
  for (uint32_t i = 0; i < N; i++) {
    if (walk2d(root2, vas[i], pfec) == ~0ull) { fprintf(stderr, "2d walk faulted\n"); return 1; }
  }
  TIME("c.walk2d.4x4.random4k", walk2d(root2, vas[i], pfec));
  if (only == NULL) TIME("c.walk1d.4level.random4k", walk4(root2, vas[i], pfec));
  return 0;
}

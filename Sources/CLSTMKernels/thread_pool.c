// The worker pool and barrier of include/lstm_threads.h.
//
// Each worker owns one slot. A caller claims a free slot (owner 0 → 1), writes the task, and
// posts it by storing a new ticket (generation << 2 | POSTED). The worker joins by moving the
// ticket to JOINED; a caller that stops waiting moves it to CLOSED instead, and whichever
// compare-and-swap comes first wins, so a late worker never touches a task it did not join.
// The caller then tells the joined workers their member numbers (`members` ≠ 0 is the go
// signal), runs member 0 itself, and waits for each joined worker's `done` to reach the
// generation. Idle workers spin on their ticket for spin_ns, then sleep on a condition
// variable; `sleeping` tells a caller that it must signal (sequentially consistent stores and
// loads on both sides, so one of them always sees the other).
#define _GNU_SOURCE
#include "lstm_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

enum { POSTED = 1, JOINED = 2, CLOSED = 3 };
enum { MAX_WORKERS = 63 };

typedef struct {
    // Written by the caller, read by the worker.
    _Alignas(64) unsigned ticket;
    int member, members;
    lstmk_task task;
    void *context;
    int owner;
    int sleeping;
    // Written by the worker.
    _Alignas(64) unsigned done;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    // Set once by the worker when it first runs (ensure_workers waits for it).
    int started;
#if defined(__linux__)
    // The CPUs the worker may use once started (the creator's); it starts on one other CPU.
    int has_home;
    cpu_set_t home;
#endif
} worker_slot;

static worker_slot *slots[MAX_WORKERS];
static int slot_count; // slots[0 ..< slot_count] are started; only grows
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static long long spin_ns = -1; // -1: not read from the environment yet

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static long long monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

long long lstmk_pool_spin_ns(void) {
    long long s = __atomic_load_n(&spin_ns, __ATOMIC_RELAXED);
    if (s >= 0) return s;
    s = 1000000;
    const char *e = getenv("LSTMTOOL_SPIN_US");
    if (e && *e) {
        char *end = 0;
        long long us = strtoll(e, &end, 10);
        if (end && *end == 0 && us >= 0 && us <= 10000000) s = us * 1000;
    }
    __atomic_store_n(&spin_ns, s, __ATOMIC_RELAXED);
    return s;
}

void lstmk_pool_set_spin_ns(long long nanoseconds) {
    __atomic_store_n(&spin_ns, nanoseconds < 0 ? 0 : nanoseconds, __ATOMIC_RELAXED);
}

/// Waits until the slot's generation differs from `seen`, spinning first; returns the ticket.
static unsigned wait_for_ticket(worker_slot *w, unsigned seen) {
    const long long spin = lstmk_pool_spin_ns();
    long long start = -1;
    for (unsigned spins = 0;; spins++) {
        unsigned t = __atomic_load_n(&w->ticket, __ATOMIC_ACQUIRE);
        if ((t >> 2) != seen) return t;
        if ((spins & 255) == 0) {
            long long now = monotonic_ns();
            if (start < 0) start = now;
            if (now - start >= spin) break;
            // Every few microseconds, let a thread that shares this core run (returns at once
            // when there is none): a spinning worker must never starve the thread it serves.
            if (spins) sched_yield();
        }
        cpu_relax();
    }
    pthread_mutex_lock(&w->mutex);
    __atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
    unsigned t;
    while (((t = __atomic_load_n(&w->ticket, __ATOMIC_SEQ_CST)) >> 2) == seen) pthread_cond_wait(&w->cond, &w->mutex);
    __atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&w->mutex);
    return t;
}

static void *worker_main(void *arg) {
    worker_slot *w = arg;
#if defined(__linux__)
    // Started on a CPU other than its creator's (see start_worker); from here on the scheduler
    // may place it anywhere its creator could run.
    if (w->has_home) pthread_setaffinity_np(pthread_self(), sizeof w->home, &w->home);
#endif
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    unsigned seen = 0;
    for (;;) {
        unsigned t = wait_for_ticket(w, seen);
        seen = t >> 2;
        if ((t & 3) != POSTED) continue;
        // Join, unless the caller has closed this generation meanwhile.
        if (!__atomic_compare_exchange_n(&w->ticket, &t, (seen << 2) | JOINED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        int members;
        for (unsigned spins = 0; (members = __atomic_load_n(&w->members, __ATOMIC_ACQUIRE)) == 0; spins++) {
            if (spins < 4096) cpu_relax(); else sched_yield();
        }
        w->task(w->context, members < 0 ? 0 : w->member, members < 0 ? 0 : members);
        __atomic_store_n(&w->done, seen, __ATOMIC_RELEASE);
    }
    return 0;
}

/// Where a new worker starts. Linux puts a new thread on its creator's CPU; a creator that is
/// busy computing (the usual case: the first parallel product of a run) then keeps it off that
/// CPU, and an idle second CPU of a small virtual machine may not pull it over for milliseconds,
/// so every task of a short run went without it (seen on a 2-vCPU KVM guest: LSTM H = 128, B = 1
/// took 0.55 ms on two threads in one process of three, 0.19 ms in the others). So worker i
/// starts on the i-th allowed CPU after the creator's, then takes back the creator's whole set.
static void place_worker(worker_slot *w, pthread_attr_t *attr, int index) {
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) return;
    const int here = sched_getcpu(), count = CPU_COUNT(&allowed);
    int skip = index % (count - 1), chosen = -1;
    for (int step = 1; step <= CPU_SETSIZE && chosen < 0; step++) {
        const int cpu = ((here < 0 ? 0 : here) + step) % CPU_SETSIZE;
        if (cpu != here && CPU_ISSET(cpu, &allowed) && skip-- == 0) chosen = cpu;
    }
    if (chosen < 0) return;
    cpu_set_t first;
    CPU_ZERO(&first);
    CPU_SET(chosen, &first);
    if (pthread_attr_setaffinity_np(attr, sizeof first, &first) != 0) return;
    w->home = allowed;
    w->has_home = 1;
#else
    (void)w;
    (void)attr;
    (void)index;
#endif
}

/// Starts workers until there are `count` (or as many as could be started); returns how many.
/// Waits (up to 20 ms) until each new worker has run, so that the first task finds it awake.
static int ensure_workers(int count) {
    if (count > MAX_WORKERS) count = MAX_WORKERS;
    int have = __atomic_load_n(&slot_count, __ATOMIC_ACQUIRE);
    if (have >= count) return have;
    pthread_mutex_lock(&start_lock);
    have = slot_count;
    while (have < count) {
        worker_slot *w = 0;
        if (posix_memalign((void **)&w, 64, sizeof *w) != 0 || !w) break;
        *w = (worker_slot){0};
        pthread_mutex_init(&w->mutex, 0);
        pthread_cond_init(&w->cond, 0);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        place_worker(w, &attr, have);
        pthread_t thread;
        int failed = pthread_create(&thread, &attr, worker_main, w);
        if (failed && w->has_home) { // a CPU this process may not use after all: start anywhere
            w->has_home = 0;
            pthread_attr_destroy(&attr);
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            failed = pthread_create(&thread, &attr, worker_main, w);
        }
        pthread_attr_destroy(&attr);
        if (failed) {
            pthread_cond_destroy(&w->cond);
            pthread_mutex_destroy(&w->mutex);
            free(w);
            break;
        }
#if defined(__linux__)
        pthread_setname_np(thread, "lstmtool-worker");
#endif
        const long long begin = monotonic_ns();
        while (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE) && monotonic_ns() - begin < 20000000LL) sched_yield();
        slots[have++] = w;
        __atomic_store_n(&slot_count, have, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&start_lock);
    return have;
}

/// lstmk_parallel, or (dynamic) the same without waiting for anyone to join: the task starts at
/// once on the calling thread with members = 0, workers that join run it with members = 0 too,
/// and those that have not joined when the calling thread is done are closed.
static int run_parallel(lstmk_task task, void *context, int threads, long long join_timeout_ns, int dynamic) {
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    worker_slot *claimed[MAX_WORKERS];
    unsigned generation[MAX_WORKERS];
    int joined[MAX_WORKERS];
    int n = 0;
    if (threads > 1) {
        const int have = ensure_workers(threads - 1);
        for (int i = 0; i < have && n < threads - 1; i++) {
            int free_slot = 0;
            if (__atomic_compare_exchange_n(&slots[i]->owner, &free_slot, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                claimed[n++] = slots[i];
        }
    }
    if (n == 0) {
        task(context, 0, 1);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        worker_slot *w = claimed[i];
        w->task = task;
        w->context = context;
        __atomic_store_n(&w->members, dynamic ? -1 : 0, __ATOMIC_RELAXED);
        generation[i] = (__atomic_load_n(&w->ticket, __ATOMIC_RELAXED) >> 2) + 1;
        __atomic_store_n(&w->ticket, (generation[i] << 2) | POSTED, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&w->mutex);
            pthread_cond_signal(&w->cond);
            pthread_mutex_unlock(&w->mutex);
        }
    }
    if (dynamic) {
        task(context, 0, 0);
        for (int i = 0; i < n; i++) {
            worker_slot *w = claimed[i];
            unsigned posted = (generation[i] << 2) | POSTED;
            if (!__atomic_compare_exchange_n(&w->ticket, &posted, (generation[i] << 2) | CLOSED, 0, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
                for (unsigned spins = 0; __atomic_load_n(&w->done, __ATOMIC_ACQUIRE) != generation[i]; spins++) {
                    if (spins < 4096) cpu_relax(); else sched_yield();
                }
            }
            __atomic_store_n(&w->owner, 0, __ATOMIC_RELEASE);
        }
        return 0;
    }
    // Wait for them to join, up to the timeout; close the generation of those that did not.
    const long long start = monotonic_ns();
    int members = 1;
    for (int i = 0; i < n; i++) {
        worker_slot *w = claimed[i];
        joined[i] = 0;
        for (unsigned spins = 0;; spins++) {
            unsigned t = __atomic_load_n(&w->ticket, __ATOMIC_ACQUIRE);
            if ((t & 3) == JOINED) {
                joined[i] = 1;
                break;
            }
            if ((spins & 63) == 0 && monotonic_ns() - start > join_timeout_ns) {
                unsigned posted = (generation[i] << 2) | POSTED;
                joined[i] = !__atomic_compare_exchange_n(&w->ticket, &posted, (generation[i] << 2) | CLOSED, 0,
                                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
                break;
            }
            cpu_relax();
        }
        if (joined[i]) members++;
    }
    for (int i = 0, m = 1; i < n; i++) {
        if (!joined[i]) continue;
        claimed[i]->member = m++;
        __atomic_store_n(&claimed[i]->members, members, __ATOMIC_RELEASE);
    }
    task(context, 0, members);
    for (int i = 0; i < n; i++) {
        worker_slot *w = claimed[i];
        if (joined[i]) {
            for (unsigned spins = 0; __atomic_load_n(&w->done, __ATOMIC_ACQUIRE) != generation[i]; spins++) {
                if (spins < 4096) cpu_relax(); else sched_yield();
            }
        }
        __atomic_store_n(&w->owner, 0, __ATOMIC_RELEASE);
    }
    return members;
}

int lstmk_parallel(lstmk_task task, void *context, int threads, long long join_timeout_ns) {
    return run_parallel(task, context, threads, join_timeout_ns, 0);
}

typedef struct {
    void (*body)(void *context, long item);
    void *context;
    long items;
    long next; // the next item not yet taken
} loop_state;

static void loop_task(void *context, int member, int members) {
    (void)member;
    (void)members;
    loop_state *l = context;
    for (long i; (i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) < l->items;) l->body(l->context, i);
}

void lstmk_parallel_for(void (*body)(void *context, long item), void *context, long items, int threads) {
    loop_state l = {body, context, items, 0};
    if (threads <= 1 || items <= 1) loop_task(&l, 0, 1);
    else run_parallel(loop_task, &l, threads, 0, 1);
}

// The last thread to arrive resets the count and publishes the next generation; the others
// spin on the generation, then also yield the processor, so that a thread whose partner has
// lost its core does not hold on to its own for a whole time slice.
void lstmk_barrier_init(lstmk_barrier *b) {
    b->count = 0;
    b->generation = 0;
    b->stop = 0;
}

void lstmk_barrier_wait(lstmk_barrier *b, int parties) {
    const int gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == parties) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen; spins++) {
        if (spins < 4096) cpu_relax(); else sched_yield();
    }
}

int lstmk_barrier_wait_stop(lstmk_barrier *b, int parties, int stop) {
    // The flag names the barrier generation it is for: a member still leaving the previous
    // barrier must not see a decision made for this one (it would stop a step early and leave
    // the others waiting here).
    const int gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (stop) __atomic_store_n(&b->stop, gen + 1, __ATOMIC_RELAXED); // published by the barrier's release
    lstmk_barrier_wait(b, parties);
    return __atomic_load_n(&b->stop, __ATOMIC_RELAXED) == gen + 1;
}

// The team hold-off of lstmk_team_allowed: a time before which no team forms, and the length of
// the last hold-off. Relaxed atomics: concurrent reports may lose one doubling, which is harmless.
static long long team_blocked_until_ns, team_hold_ns;

int lstmk_team_allowed(void) {
    const long long until = __atomic_load_n(&team_blocked_until_ns, __ATOMIC_RELAXED);
    return until == 0 || monotonic_ns() >= until;
}

void lstmk_team_report(int paid) {
    if (paid) {
        __atomic_store_n(&team_hold_ns, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&team_blocked_until_ns, 0, __ATOMIC_RELAXED);
        return;
    }
    long long hold = __atomic_load_n(&team_hold_ns, __ATOMIC_RELAXED);
    hold = hold == 0 ? 2000000LL : hold >= 64000000LL ? 64000000LL : 2 * hold;
    __atomic_store_n(&team_hold_ns, hold, __ATOMIC_RELAXED);
    __atomic_store_n(&team_blocked_until_ns, monotonic_ns() + hold, __ATOMIC_RELAXED);
}

long long lstmk_team_hold_ns(void) { return __atomic_load_n(&team_hold_ns, __ATOMIC_RELAXED); }

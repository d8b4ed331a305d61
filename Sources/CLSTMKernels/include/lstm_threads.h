// The threads of lstmtool's evaluator: a pool of persistent workers and a barrier.
//
// Why not Dispatch: a step of a small recurrent layer takes microseconds, and handing work to
// a Dispatch thread that has gone to sleep costs tens of microseconds (on a virtual machine, the
// idle virtual CPU must be woken by the host). The pool's workers are started once and, after
// each task, keep spinning for a while (LSTMTOOL_SPIN_US microseconds, 1000 by default) before
// they sleep, so that a task that follows soon — the next step's product, the next call of a
// streaming loop — starts within a fraction of a microsecond on a core that is already awake.
//
// No task ever waits for a worker that does not come: lstmk_parallel gives each claimed worker
// join_timeout_ns to start, then runs with those that did (at worst the calling thread alone).
#ifndef LSTM_THREADS_H
#define LSTM_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/// A task run by several threads at once: member is 0 on the calling thread and 1 ..< members
/// on the workers that joined; members is the same for all of them.
typedef void (*lstmk_task)(void *context, int member, int members);

/// Runs task(context, member, members) on members ≤ threads threads at once, the calling thread
/// being member 0, and returns members once every member has returned. Workers come from the
/// process's pool (started on first use, at most 63, never stopped); a worker already claimed
/// by another call, or one that has not started the task within join_timeout_ns nanoseconds,
/// is left out (it will not touch context). So members may be any number from 1 to threads,
/// and the task must split its work by the members it is given.
int lstmk_parallel(lstmk_task task, void *context, int threads, long long join_timeout_ns);

/// Runs body(context, item) for every item in [0, items), each exactly once, on the calling
/// thread and on up to threads − 1 workers of the pool that take items as they come: the
/// calling thread starts at once and never waits for a worker to wake up (one that has not
/// joined when the items run out is left out); it returns when every item is done.
void lstmk_parallel_for(void (*body)(void *context, long item), void *context, long items, int threads);

/// How long idle workers spin before they sleep, in nanoseconds (from LSTMTOOL_SPIN_US, else
/// 1 ms); 0: they sleep at once (as for a machine shared with other work).
long long lstmk_pool_spin_ns(void);
void lstmk_pool_set_spin_ns(long long nanoseconds);

/// A barrier for the members of one task: lstmk_barrier_wait returns once `parties` threads
/// have called it (then it can be used again), with every write made before the call visible
/// to every thread after it. It spins with pause instructions, then also yields the processor.
/// Initialised before the task starts (its members learn their number only as they start, so
/// the number is passed to each wait, the same by every member).
typedef struct {
    int count;
    int generation;
    int stop;
} lstmk_barrier;
void lstmk_barrier_init(lstmk_barrier *barrier);
void lstmk_barrier_wait(lstmk_barrier *barrier, int parties);
/// lstmk_barrier_wait that also hands out a decision: a thread that passes stop = 1 marks this
/// crossing of the barrier before arriving; every thread gets 1 as it leaves this crossing (0
/// from any other), so all of them see one thread's decision at the same barrier. One thread
/// only may decide.
int lstmk_barrier_wait_stop(lstmk_barrier *barrier, int parties, int stop);

/// Whether threads of this process should share the steps of a recurrent pass in lockstep now.
/// A lockstep team is only as fast as its slowest member at every step, so on a machine where
/// another process (or the host of a virtual machine) takes a core away, a team is slower than
/// one thread; then the team reports it (lstmk_team_report(0)) and teams are held off for a
/// while that doubles with every report in a row (2 ms, 4 ms, … 64 ms), while single threads run
/// the steps. lstmk_team_report(1): a team ran its steps and paid; the hold-off starts over.
int lstmk_team_allowed(void);
void lstmk_team_report(int paid);
/// The length of the current hold-off in nanoseconds (0 after a team that paid).
long long lstmk_team_hold_ns(void);

#ifdef __cplusplus
}
#endif

#endif

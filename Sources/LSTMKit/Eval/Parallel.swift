internal import CLSTMKernels

/// Runs `body(member, members)` on up to `threads` threads at once through the worker pool of
/// `CLSTMKernels` (include/lstm_threads.h): member 0 on the calling thread, the others on
/// persistent workers that keep spinning for a while after each task, so that a step of a few
/// microseconds can be shared without a hand-off through Dispatch. Returns `members` (1 when no
/// worker was free or none started within `joinTimeoutNanoseconds`) after every member has
/// returned; the body must split its work by the `members` it is given.
@discardableResult
func parallel(threads: Int, joinTimeoutNanoseconds: Int64 = ParallelTuning.joinTimeoutNanoseconds,
              _ body: (_ member: Int, _ members: Int) -> Void) -> Int {
    let threads = Swift.min(threads, 1 + (ParallelTuning.workersThatJoin ?? threads))
    guard threads > 1 else {
        body(0, 1)
        return 1
    }
    return withoutActuallyEscaping(body) { escapable in
        let task = ParallelTask(escapable)
        return withExtendedLifetime(task) {
            Int(lstmk_parallel({ context, member, members in
                Unmanaged<ParallelTask>.fromOpaque(context!).takeUnretainedValue().body(Int(member), Int(members))
            }, Unmanaged.passUnretained(task).toOpaque(), Int32(Swift.min(threads, 64)), joinTimeoutNanoseconds))
        }
    }
}

/// Runs `body(item)` for every item in 0..<items, each once, on this thread and up to
/// `threads` − 1 workers of the pool that take items as they come (lstmk_parallel_for): this
/// thread starts at once and never waits for a worker to wake up.
func parallelFor(items: Int, threads: Int, _ body: (_ item: Int) -> Void) {
    guard threads > 1, items > 1 else {
        for i in 0..<items { body(i) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let task = LoopTask(escapable)
        withExtendedLifetime(task) {
            lstmk_parallel_for({ context, item in
                Unmanaged<LoopTask>.fromOpaque(context!).takeUnretainedValue().body(Int(item))
            }, Unmanaged.passUnretained(task).toOpaque(), items, Int32(Swift.min(threads, 64)))
        }
    }
}

/// The body of one `parallelFor` call (see `ParallelTask`).
private final class LoopTask: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}

/// The body of one `parallel` call, handed to the C pool as an opaque pointer that lives for
/// the call (lstmk_parallel returns only after every member that joined has returned).
private final class ParallelTask: @unchecked Sendable {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
}

/// How long a `parallel` call waits for a worker to start its task before it goes on without
/// it: 200 µs, a few times what waking a sleeping worker costs. Tests set it long, so that every
/// worker joins.
package enum ParallelTuning {
    nonisolated(unsafe) package static var joinTimeoutNanoseconds: Int64 = 200_000
    /// The smallest product (2·m·k·n) whose column panels are shared between threads.
    nonisolated(unsafe) package static var productSplitFlops = 1_000_000
    /// Tests only: threads sharing the steps of a pass (`PassRunner.recurTogether`) stop after
    /// this many steps, as when their waits cost more than sharing saves.
    nonisolated(unsafe) package static var teamStopsAfterSteps: Int? = nil
    /// Tests only: false forms a team whenever one applies, ignoring the pool's hold-off after
    /// slow teams (`lstmk_team_allowed`), so that a test on a busy machine still runs one.
    nonisolated(unsafe) package static var holdTeamsOffWhenSlow = true
    /// Tests only: at most this many workers join a `parallel` call, as when the others do not
    /// start within the join timeout on a busy machine (0: a team of one).
    nonisolated(unsafe) package static var workersThatJoin: Int? = nil

    /// Whether a team may form now (the pool's hold-off, unless a test switched it off).
    static var teamsAllowed: Bool { !holdTeamsOffWhenSlow || lstmk_team_allowed() != 0 }
}

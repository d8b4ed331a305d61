import CLSTMKernels
import Dispatch
import Foundation
import XCTest
@testable import LSTMKit

/// The worker pool and barrier of CLSTMKernels (include/lstm_threads.h), under contention:
/// every member of a task runs exactly once and has returned when `parallel` returns, callers
/// on several threads at once share the pool without losing a member, and a decision handed
/// out at a barrier reaches every member at the same crossing.
final class WorkerPoolTests: XCTestCase {
    /// Counts, per call, how often each member index ran (written by the members themselves).
    final class Tally: @unchecked Sendable {
        var runs = [Int](repeating: 0, count: 8)
        var members = 0
        let lock = NSLock()
    }

    func testEveryMemberRunsOnceAndHasReturnedWhenTheCallReturns() {
        let failures = Tally()
        // Three callers at once, asking for 1 to 5 threads: they compete for the workers.
        DispatchQueue.concurrentPerform(iterations: 3) { caller in
            for call in 0..<2_000 {
                let threads = 1 + (call + caller) % 5
                let tally = Tally()
                let members = parallel(threads: threads, joinTimeoutNanoseconds: call % 7 == 0 ? 0 : 5_000_000) { k, n in
                    tally.lock.lock()
                    tally.runs[k] += 1
                    tally.members = n
                    tally.lock.unlock()
                }
                tally.lock.lock()
                let ok = members >= 1 && members <= threads && tally.members == members
                    && tally.runs[0..<members].allSatisfy { $0 == 1 } && tally.runs[members...].allSatisfy { $0 == 0 }
                tally.lock.unlock()
                if !ok {
                    failures.lock.lock()
                    failures.members += 1
                    failures.lock.unlock()
                }
            }
        }
        XCTAssertEqual(failures.members, 0, "calls whose members did not each run exactly once")
    }

    /// lstmk_parallel_for from three threads at once: every item runs exactly once per call.
    func testEveryItemOfALoopRunsOnce() {
        let bad = Tally()
        DispatchQueue.concurrentPerform(iterations: 3) { caller in
            for call in 0..<1_000 {
                let items = 1 + (call * 7 + caller) % 64
                // Under a lock, so that an item run twice shows as a count of 2, not a lost update.
                let counts = Tally()
                counts.runs = [Int](repeating: 0, count: 64)
                withExtendedLifetime(counts) {
                    lstmk_parallel_for({ context, item in
                        let t = Unmanaged<Tally>.fromOpaque(context!).takeUnretainedValue()
                        t.lock.lock()
                        t.runs[Int(item)] += 1
                        t.lock.unlock()
                    }, Unmanaged.passUnretained(counts).toOpaque(), items, Int32(1 + call % 4))
                }
                counts.lock.lock()
                let ok = (0..<64).allSatisfy { counts.runs[$0] == ($0 < items ? 1 : 0) }
                counts.lock.unlock()
                if !ok {
                    bad.lock.lock()
                    bad.members += 1
                    bad.lock.unlock()
                }
            }
        }
        XCTAssertEqual(bad.members, 0, "loops in which an item did not run exactly once")
    }

    func testTwoThreadsJoinWhenAWorkerIsFree() {
        // With a long timeout and no other caller, a call for two threads gets both.
        XCTAssertEqual(parallel(threads: 2, joinTimeoutNanoseconds: 10_000_000_000) { _, _ in }, 2)
    }

    /// Member 0 decides, at a random crossing, to stop; every member must leave at that same
    /// crossing (a member still leaving the previous crossing must not see the decision early:
    /// it would return while the others wait for it).
    /// A slow team holds teams off for 2 ms, then 4, 8, … up to 64 ms while reports of slow
    /// teams follow one another; a team that paid ends the hold-off at once.
    func testSlowTeamsHoldTeamsOffForLongerAndLongerUntilOnePays() {
        lstmk_team_report(1)
        XCTAssertEqual(lstmk_team_allowed(), 1)
        XCTAssertEqual(lstmk_team_hold_ns(), 0)
        var holds: [Int64] = []
        for _ in 0..<8 {
            lstmk_team_report(0)
            XCTAssertEqual(lstmk_team_allowed(), 0, "right after a slow team")
            holds.append(lstmk_team_hold_ns())
        }
        XCTAssertEqual(holds, [2, 4, 8, 16, 32, 64, 64, 64].map { Int64($0) * 1_000_000 })
        lstmk_team_report(1)
        XCTAssertEqual(lstmk_team_allowed(), 1)
        XCTAssertEqual(lstmk_team_hold_ns(), 0)
        lstmk_team_report(0)
        let start = DispatchTime.now().uptimeNanoseconds
        while lstmk_team_allowed() == 0 && DispatchTime.now().uptimeNanoseconds - start < 5_000_000_000 { usleep(200) }
        let waited = DispatchTime.now().uptimeNanoseconds - start
        XCTAssertGreaterThanOrEqual(waited, 1_900_000, "held off about 2 ms after one slow team")
        XCTAssertLessThan(waited, 5_000_000_000)
        lstmk_team_report(1)
    }

    func testABarrierDecisionReachesEveryMemberAtTheSameCrossing() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let stopAt = Int.random(in: 1...200, using: &rng)
            let stoppedAt = Tally()
            let barrier = UnsafeMutablePointer<lstmk_barrier>.allocate(capacity: 1)
            defer { barrier.deallocate() }
            lstmk_barrier_init(barrier)
            let members = parallel(threads: 2 + round % 2, joinTimeoutNanoseconds: 10_000_000_000) { k, n in
                var crossing = 0
                while crossing < 1_000 {
                    crossing += 1
                    if lstmk_barrier_wait_stop(barrier, Int32(n), k == 0 && crossing == stopAt ? 1 : 0) != 0 { break }
                }
                stoppedAt.lock.lock()
                stoppedAt.runs[k] = crossing
                stoppedAt.lock.unlock()
            }
            XCTAssertGreaterThan(members, 1)
            XCTAssertEqual(Array(stoppedAt.runs[0..<members]), [Int](repeating: stopAt, count: members), "round \(round)")
        }
    }
}

internal import CLSTMKernels
import Dispatch
import LSTMCore

/// Runs one pass of one layer over the whole batch. All buffers are allocated once, before
/// the time loop; a step allocates nothing.
///
/// Threads (f32 only): large passes are split by batch rows — each thread computes the input
/// projections of its own slice of rows and runs the whole time loop on it (rows never
/// interact), chunk after chunk, so there is one hand-off per pass, none per step or chunk.
/// Otherwise (small batches) two threads may share each step by unit ranges in lockstep
/// (`recurTogether`), or one thread runs the pass and large products split their column
/// panels over the threads. Every element is computed by one thread in the same order either
/// way, so the results do not depend on the thread count (docs/CELLS.md §11.2).
struct PassRunner<F: EvalScalar> {
    let pass: PreparedPass<F>
    let steps: Int
    let batch: Int
    let lengths: [Int]
    /// Threads the f32 path may use.
    let threads: Int

    init(pass: PreparedPass<F>, steps: Int, batch: Int, lengths: [Int], threads: Int) {
        self.pass = pass
        self.steps = steps
        self.batch = batch
        self.lengths = lengths
        self.threads = threads
    }

    /// x: [T, B, I]; h: [B, P] in/out; c: [B, H] in/out (LSTM); writes h_t into
    /// y[t, b, yOffset ..< yOffset + P] with row stride `yStride`.
    ///
    /// The input projections are computed a chunk of time steps at a time (about 1 MiB of
    /// them, an L2's worth, when they come to more than 4 MiB in all; else, and for threads
    /// sharing each step and in f64, about 4 MiB), just before the steps that use them: the
    /// same bits as one product over all steps (each element is its own chain), a working set
    /// that stays in cache, and no page-faulting through fresh memory on every run. (Chunks of 4 MiB were mapped afresh
    /// by malloc on every run and faulted in page by page: LSTM H = 128, B = 8, T = 1000 on
    /// Zen 5 took 16.1 ms on one thread and 10.7 on two, against 11.5 and 6.4 with 1 MiB;
    /// onnxruntime 17.7 and 9.0.) A reverse pass with unequal sequence lengths visits rows at
    /// different time indices in one step, so it takes all steps in one chunk.
    func run(x: [F], h: inout [F], c: inout [F], y: inout [F], yStride: Int, yOffset: Int) {
        let s = pass.spec
        let g = s.gateCount * s.hiddenSize, inSize = s.inputSize
        guard steps * batch > 0 else { return }
        let uniform = lengths.allSatisfy { $0 == steps }
        let rowBytes = batch * g * MemoryLayout<F>.stride
        // Slices of rows, one per thread (f32 only, and only when the recurrence is worth
        // more than ~8 M multiply-adds), of at least 16 rows each: a slice of fewer rows reads
        // all of W_h per step for little work, so small batches share each step instead
        // (`recur`), unless W_h is small (below). The threads take the slices as they come (`parallelFor`), so a worker that
        // is slow to wake does not hold the others up.
        // Recurrent weights of 3 MiB or more (H ≥ 512) do not stay in one core's L2: up to
        // B = 128 the threads share each step instead (`recurTogether`), each streaming its own
        // columns of W_h, and a team moves panels away from a member whose core runs slower,
        // which a slice, fixed for the whole pass, cannot (Zen 5, two threads, LSTM H = 1024,
        // B = 32: 142–162 ms against 162–182 with slices; H = 512, B = 32 with another program
        // on the second core: 65–73 ms against 82, onnxruntime 88). From B = 256 on, each
        // slice's W_h is reused over enough rows, and slices are 7–10 % faster (H = 512,
        // B = 256 and 1024; docs/PERFORMANCE.md).
        let perStep = batch * g * (s.outputSize + 8)
        let wideRecurrence = batch <= 128 && g * s.outputSize * MemoryLayout<F>.stride >= 3 << 20
            && teamSize(rows: batch, threads: threads) != nil
        // Batches of 8 to 31 rows whose W_h fits in a core's L2 with room to spare (512 KiB or
        // less: LSTM H ≤ 181, GRU H ≤ 209) take slices of 4 rows or more: each core then reads
        // all of W_h from its own L2 every step, with no barrier per step and no h passed between
        // cores (Zen 5, two threads, T = 100: LSTM H = 128, B = 8 0.68 ms against 0.76 sharing
        // each step, onnxruntime 0.72; GRU H = 128, B = 8 0.51 against 0.59; LSTM H = 32, B = 8
        // 0.086 against 0.121), when the pass is worth a hand-off (1 M multiply-adds or more).
        let narrowSlices = F.self == Float.self && threads > 1 && batch >= 8 && batch < 32 && perStep * steps >= 1 << 20
            && g * s.outputSize * MemoryLayout<F>.stride <= 512 << 10
        let slices = narrowSlices ? Swift.min(threads, batch / 4)
            : F.self == Float.self && threads > 1 && batch >= 32 && perStep * steps >= 1 << 23 && !wideRecurrence
            ? Swift.min(threads, batch / 16) : 1
        // A team (threads sharing each step) lasts one chunk, and rebalances every 8 steps: its
        // chunks stay about 4 MiB, as before (LSTM H = 512, B = 32 with 1 MiB, 4 steps a chunk:
        // 68 ms on two threads against 37); so do the f64 path's. Projections of 4 MiB or less
        // in all are one chunk: one pass over W_x, which for a large layer at B = 1 (16 MiB at
        // H = 1024) would otherwise push W_h out of L3 in the middle of the steps.
        let teamed = slices == 1 && threads > 1 && teamSize(rows: batch, threads: threads) != nil
        let chunkBytes = teamed || F.self == Double.self || steps * rowBytes <= 4 << 20 ? 4 << 20 : 1 << 20
        let chunk = !pass.reverse || uniform ? Swift.max(1, Swift.min(steps, chunkBytes / Swift.max(1, rowBytes))) : steps
        // Not zero-filled first: the product overwrites every element.
        var xw = [F](unsafeUninitializedCapacity: chunk * batch * g) { _, count in count = chunk * batch * g }
        // Slices share each chunk's input projections when that costs at most one more hand-off
        // per 8 steps: LSTM H = 128, two threads, B = 32: 2.23 ms against 2.29 with each slice's
        // own. With chunks of a few steps (B ≥ 128 at H = 128) each slice projects its own rows,
        // one hand-off per pass (B = 4096: 320 ms against 339 with shared projections).
        let jointProjection = slices > 1 && (narrowSlices || chunk >= 8 || chunk == steps)
        let spaces = (0..<slices).map { k in Workspace<F>(spec: s, rows: (k + 1) * batch / slices - k * batch / slices) }
        let runner = self, rowsAll = batch
        x.withUnsafeBufferPointer { xp in
            h.withUnsafeMutableBufferPointer { hp in
                c.withUnsafeMutableBufferPointer { cp in
                    y.withUnsafeMutableBufferPointer { yp in
                        xw.withUnsafeMutableBufferPointer { op in
                            let xw = UnsafeSendable(op.baseAddress!), xs = UnsafeSendable(UnsafeMutablePointer(mutating: xp.baseAddress!))
                            let hs = UnsafeSendable(hp.baseAddress!), cs = cp.baseAddress.map { UnsafeSendable($0) }
                            let ys = UnsafeSendable(yp.baseAddress!)
                            /// The time indices [t0, t0 + ts) of the chunk of steps [c0, c1).
                            @Sendable func times(_ c0: Int, _ c1: Int) -> (t0: Int, ts: Int) {
                                (chunk == steps ? 0 : (runner.pass.reverse ? steps - c1 : c0), chunk == steps ? steps : c1 - c0)
                            }
                            /// xw[(t − t0)·B + b] = W_x x_t[b] + bias for the rows b in [lo, hi) and the
                            /// time indices of the chunk of steps [c0, c1); returns t0. Each element
                            /// is its own chain, then the bias is added, so the bits are those of one
                            /// product over the whole batch whatever rows a call covers.
                            @Sendable func project(_ c0: Int, _ c1: Int, rows lo: Int, _ hi: Int, gemmThreads: Int) -> Int {
                                let (t0, ts) = times(c0, c1)
                                runner.pass.wxT.withUnsafeBufferPointer { wp in
                                    runner.pass.inputBias.withUnsafeBufferPointer { bp in
                                        if lo == 0 && hi == rowsAll {
                                            F.gemm(xs.p + t0 * rowsAll * inSize, wp.baseAddress!, xw.p, m: ts * rowsAll, k: inSize, n: g,
                                                   threads: gemmThreads, bias: bp.baseAddress!)
                                        } else {
                                            for tt in 0..<ts {
                                                F.gemm(xs.p + ((t0 + tt) * rowsAll + lo) * inSize, wp.baseAddress!, xw.p + (tt * rowsAll + lo) * g,
                                                       m: hi - lo, k: inSize, n: g, threads: gemmThreads, bias: bp.baseAddress!)
                                            }
                                        }
                                    }
                                }
                                return t0
                            }
                            /// Slice k's steps [c0, c1), whose input projections start at time index t0.
                            @Sendable func recurChunk(_ k: Int, _ c0: Int, _ c1: Int, t0: Int, gemmThreads: Int) {
                                let lo = k * rowsAll / slices, hi = (k + 1) * rowsAll / slices
                                let io = StepIO(xw: UnsafePointer(xw.p), h: hs.p, c: cs?.p,
                                                y: ys.p + yOffset + t0 * rowsAll * yStride, yStride: yStride)
                                runner.recur(io, rows: lo..<hi, steps: c0..<c1, t0: t0, ws: spaces[k], gemmThreads: gemmThreads)
                            }
                            // One slice of rows over every chunk: its own input projections, then its
                            // steps. With several slices, each runs on its own thread from the first
                            // chunk to the last: one hand-off per pass.
                            @Sendable func slice(_ k: Int, gemmThreads: Int) {
                                let lo = k * rowsAll / slices, hi = (k + 1) * rowsAll / slices
                                for c0 in stride(from: 0, to: steps, by: chunk) {
                                    let c1 = Swift.min(steps, c0 + chunk)
                                    let t0 = project(c0, c1, rows: lo, hi, gemmThreads: gemmThreads)
                                    recurChunk(k, c0, c1, t0: t0, gemmThreads: gemmThreads)
                                }
                            }
                            if slices == 1 {
                                slice(0, gemmThreads: runner.threads)
                            } else if jointProjection {
                                // The chunk's input projections are one product over every row, its
                                // panels shared by the threads (a slice's own are one product of a
                                // few rows per time step), then the slices.
                                for c0 in stride(from: 0, to: steps, by: chunk) {
                                    let c1 = Swift.min(steps, c0 + chunk)
                                    let t0 = project(c0, c1, rows: 0, rowsAll, gemmThreads: runner.threads)
                                    parallelFor(items: slices, threads: runner.threads) { k in recurChunk(k, c0, c1, t0: t0, gemmThreads: 1) }
                                }
                            } else {
                                parallelFor(items: slices, threads: runner.threads) { k in slice(k, gemmThreads: 1) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The steps `stepRange` over the batch rows `rows` (a slice of the batch; other slices may
    /// run at the same time on other threads, touching other rows only). xw and y in `io`
    /// start at time index t0.
    func recur(_ io: StepIO<F>, rows range: Range<Int>, steps stepRange: Range<Int>, t0: Int, ws: Workspace<F>,
               gemmThreads: Int) {
        guard !range.isEmpty else { return }
        guard gemmThreads > 1, let parties = teamSize(rows: range.count, threads: gemmThreads) else {
            _ = recurAlone(io, rows: range, steps: stepRange, t0: t0, ws: ws, gemmThreads: gemmThreads, yieldsToTeam: false)
            return
        }
        // A team runs as many steps as it can; it stops early when waiting for the others costs
        // more than sharing saves, and then teams are held off for a while (lstmk_team_allowed)
        // during which this thread runs the steps alone, asking again every 16 steps.
        var step = stepRange.lowerBound
        while step < stepRange.upperBound {
            if ParallelTuning.teamsAllowed {
                step = recurTogether(io, rows: range, steps: step..<stepRange.upperBound, t0: t0, parties: parties)
                if step >= stepRange.upperBound { break }
            }
            step = recurAlone(io, rows: range, steps: step..<stepRange.upperBound, t0: t0, ws: ws, gemmThreads: gemmThreads,
                              yieldsToTeam: true)
        }
    }

    /// `recur` on this thread (whose products may still split their panels over gemmThreads).
    /// Returns the first step not run: the upper bound once every step ran or every row has
    /// ended, or, when `yieldsToTeam`, an earlier step (a multiple of 16 steps in) at which
    /// teams are allowed again.
    func recurAlone(_ io: StepIO<F>, rows range: Range<Int>, steps stepRange: Range<Int>, t0: Int, ws: Workspace<F>,
                    gemmThreads: Int, yieldsToTeam: Bool) -> Int {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize, g = s.gateCount * hs
        let nb = range.count, b0 = range.lowerBound
        let recurrentWidth = s.cell == .gru && !s.resetAfter ? 2 * hs : g
        // The slice's view of the shared buffers: xw rows of step t at (t − t0)·B + b0 + b.
        let slice = StepIO(xw: io.xw + b0 * g, h: io.h + b0 * p, c: io.c.map { $0 + b0 * hs }, y: io.y + b0 * io.yStride,
                           yStride: io.yStride)
        let fused = fusedKind
        let lens = lengths
        // The slice's own buffers, moved out of the work space for the loop (no class property
        // accesses per step) and moved back after it.
        var hw: [F] = [], rh: [F] = [], hwn: [F] = [], m: [F] = [], projected: [F] = [], rows: [Int] = [], scratch: [F] = []
        swap(&hw, &ws.hw); swap(&rh, &ws.rh); swap(&hwn, &ws.hwn); swap(&m, &ws.m)
        swap(&projected, &ws.projected); swap(&rows, &ws.rows); swap(&scratch, &ws.scratch)
        defer {
            swap(&hw, &ws.hw); swap(&rh, &ws.rh); swap(&hwn, &ws.hwn); swap(&m, &ws.m)
            swap(&projected, &ws.projected); swap(&rows, &ws.rows); swap(&scratch, &ws.scratch)
        }
        for step in stepRange {
            let done = step - stepRange.lowerBound
            if yieldsToTeam && done > 0 && done % 16 == 0 && ParallelTuning.teamsAllowed { return step }
            let anyActive = rows.withUnsafeMutableBufferPointer {
                markMovingRows(step: step, rows: b0..<(b0 + nb), t0: t0, lengths: lens, into: $0.baseAddress!)
            }
            if !anyActive { break }
            // Small batches alternate the direction of the product's panels from step to step,
            // so that each step starts on weights still in L2 (`gemmPanels`).
            hw.withUnsafeMutableBufferPointer { op in
                pass.whT.multiply(slice.h, into: op.baseAddress!, m: nb, k: p, n: recurrentWidth, threads: gemmThreads,
                                  backwards: nb <= 8 && step % 2 == 1)
            }
            var wroteY = false
            switch s.cell {
            case .rnn: rnnStep(slice, nb: nb, hw: hw, rows: rows)
            case .gru:
                if fused == .gru {
                    fusedGRUStep(slice, nb: nb, hw: hw, rows: rows)
                    wroteY = true
                } else {
                    gruStep(slice, nb: nb, hw: &hw, scratch: &scratch, rh: &rh, hwn: &hwn, rows: rows, gemmThreads: gemmThreads)
                }
            case .lstm:
                if fused == .lstm {
                    wroteY = fusedLSTMStep(slice, nb: nb, hw: hw, m: &m, rows: rows)
                } else {
                    lstmStep(slice, nb: nb, hw: hw, scratch: &scratch, m: &m, rows: rows)
                }
                if s.lstm.projectionSize != nil {
                    project(slice, nb: nb, m: m, projected: &projected, rows: rows, gemmThreads: gemmThreads)
                }
            }
            // Outputs of the rows that moved this step.
            if !wroteY {
                let yStep = batch * slice.yStride
                for b in 0..<nb where rows[b] >= 0 {
                    (slice.y + rows[b] * yStep + b * slice.yStride).update(from: slice.h + b * p, count: p)
                }
            }
        }
        return stepRange.upperBound
    }

    /// Which rows of `rows` move at `step` of this pass: entry b is the time index, relative to
    /// `t0`, that row `rows.lowerBound + b` reads at this step (the pass runs backwards for a
    /// reverse direction), or −1 once the row's sequence has ended. Returns false when no row
    /// moves (the slice is done).
    @inline(__always)
    func markMovingRows(step: Int, rows: Range<Int>, t0: Int, lengths: [Int], into out: UnsafeMutablePointer<Int>) -> Bool {
        var any = false
        for (b, row) in rows.enumerated() {
            let len = lengths[row]
            if step < len {
                out[b] = (pass.reverse ? len - 1 - step : step) - t0
                any = true
            } else {
                out[b] = -1
            }
        }
        return any
    }

    /// How many threads share each step of this pass by unit ranges (`recurTogether`), or nil
    /// when one thread runs the steps (products may still split their panels). Only for the
    /// fused f32 steps without a projection, with H a multiple of 16 (each thread takes whole
    /// panels of every gate block, two at least), and when a step is worth it: at least 16 K
    /// multiply-adds of the recurrent product per thread (LSTM H = 128 at B = 1 on two threads); such a step
    /// takes a few microseconds, a barrier between two cores a fraction of one.
    func teamSize(rows nb: Int, threads: Int) -> Int? {
        let s = pass.spec
        guard F.self == Float.self, fusedKind != .none, s.lstm.projectionSize == nil,
              s.hiddenSize % panelWidth == 0 else { return nil }
        let macs = nb * s.gateCount * s.hiddenSize * s.outputSize
        // Two panels (32 units) per thread at least: with one, the product's register tile is
        // too narrow to pay for the barrier (LSTM H = 32, B = 8: 0.23 ms on two threads, 0.20 on one).
        let parties = Swift.min(threads, s.hiddenSize / (2 * panelWidth), macs / (1 << 14))
        return parties >= 2 ? parties : nil
    }

    /// The steps of one slice of rows on up to `parties` threads in lockstep, with no hand-off
    /// per step: member k of n owns the units [u_k, u_k+1) (whole 16-column panels of every gate
    /// block); it computes their columns of the recurrent product from h_{t−1}, then their gate
    /// step into h_t, then waits at a barrier (the next product reads all of h_t). h alternates
    /// between the caller's buffer and a second one, so no thread writes the h that another may
    /// still be reading: one barrier per step. The members start with even shares; every 8
    /// steps member 0 sets the next shares in proportion to each member's measured time per
    /// panel (published before a barrier, read after it), so a member on a slowed core gets
    /// fewer panels. Every element is computed as on one thread whoever computes it, so the
    /// bits do not depend on the thread count or the shares
    /// (`EvalTests.testF32OutputsDoNotDependOnTheThreadCount`).
    ///
    /// The members come from the worker pool (`parallel`), which leaves out a worker that does
    /// not start within its join timeout; with one member this thread runs the steps alone.
    /// Lockstep pays only while every member has a core: on a busy machine a barrier can wait a
    /// whole scheduling slice, and a team of two is then slower than one thread. So member 0
    /// times its waits, and from the 8th step on, once they add up to more than its own work
    /// plus 250 µs, the team stops after that step (every member sees the decision at the same
    /// barrier) and reports it to the pool, which holds teams off for a while
    /// (`lstmk_team_report`; `recur` runs the steps alone meanwhile); a team that ran all its
    /// steps, or one that no worker joined, reports too. Returns the first step not run (the
    /// upper bound when the team ran them all, or every row had ended).
    func recurTogether(_ io: StepIO<F>, rows range: Range<Int>, steps stepRange: Range<Int>, t0: Int, parties: Int) -> Int {
        let s = pass.spec
        let hs = s.hiddenSize, gates = s.gateCount, g = gates * hs
        let nb = range.count, b0 = range.lowerBound
        let slice = StepIO(xw: io.xw + b0 * g, h: io.h + b0 * hs, c: io.c.map { $0 + b0 * hs }, y: io.y + b0 * io.yStride,
                           yStride: io.yStride)
        let panels = hs / panelWidth, isLSTM = s.cell == .lstm
        var products = [Float](repeating: 0, count: nb * g), spare = [Float](repeating: 0, count: nb * hs)
        var barrier = lstmk_barrier()
        var next = stepRange.upperBound
        let xw: UnsafePointer<Float> = cast(slice.xw), hA: UnsafeMutablePointer<Float> = cast(slice.h)
        let y: UnsafeMutablePointer<Float> = cast(slice.y), c: UnsafeMutablePointer<Float>? = slice.c.map { cast($0) }
        let xwStep = batch * g, yStep = batch * slice.yStride, ldy = slice.yStride
        let stopAfter = ParallelTuning.teamStopsAfterSteps ?? -1
        // Written by member 0 only (this thread), read after the team has returned.
        var teamWasSlow = false, joined = 0, newestInSpare = false
        // Shared by the members, two sets each (by step parity), written before a barrier and
        // read after it: the panel boundaries of the next step (member 0 writes), and each
        // member's time per panel on its last step.
        let bounds = UnsafeMutablePointer<Int>.allocate(capacity: 2 * (parties + 1))
        let perPanel = UnsafeMutablePointer<Double>.allocate(capacity: 2 * parties)
        bounds.initialize(repeating: 0, count: 2 * (parties + 1))
        perPanel.initialize(repeating: 0, count: 2 * parties)
        defer {
            bounds.deallocate()
            perPanel.deallocate()
        }
        pass.whT.values.withUnsafeBufferPointer { wb in
            pass.recurrentBias.withUnsafeBufferPointer { bb in
                products.withUnsafeMutableBufferPointer { pb in
                    spare.withUnsafeMutableBufferPointer { sb in
                        let w: UnsafePointer<Float> = cast(wb.baseAddress!), bhn: UnsafePointer<Float> = cast(bb.baseAddress! + 2 * hs)
                        let hw = pb.baseAddress!, hB = sb.baseAddress!
                        withUnsafeMutablePointer(to: &barrier) { bar in
                            lstmk_barrier_init(bar)
                            /// Member k's share of the steps; returns the first step it did not run.
                            func member(_ k: Int, members: Int) -> Int {
                                var rows = [Int](repeating: -1, count: nb)
                                var waited: UInt64 = 0, worked: UInt64 = 0, mark = DispatchTime.now().uptimeNanoseconds
                                @inline(__always) func lap(_ wait: Bool) -> UInt64 {
                                    let now = DispatchTime.now().uptimeNanoseconds, span = now - mark
                                    if wait { waited += span } else { worked += span }
                                    mark = now
                                    return span
                                }
                                var src = hA, dst = hB, first = stepRange.upperBound, parity = 0
                                var accSpan = 0.0, accPanels = 0.0
                                rows.withUnsafeMutableBufferPointer { rp in
                                    for step in stepRange {
                                        // Every member sees the same rows, so all stop at the same step.
                                        if !markMovingRows(step: step, rows: range, t0: t0, lengths: lengths, into: rp.baseAddress!) {
                                            first = step
                                            break
                                        }
                                        // This step's panels [p0, p1) of every gate block: even shares
                                        // at the first step, then the boundaries member 0 published
                                        // before the last barrier. A team of one (no worker joined)
                                        // publishes nothing: it owns every panel at every step.
                                        let evenShares = step == stepRange.lowerBound || members == 1
                                        @inline(__always) func bound(_ j: Int) -> Int {
                                            evenShares ? j * panels / members : bounds[parity * (members + 1) + j]
                                        }
                                        let p0 = bound(k), p1 = bound(k + 1)
                                        let u0 = p0 * panelWidth, u1 = p1 * panelWidth
                                        // h_t starts as h_{t−1} in this member's units (rows that have
                                        // ended keep it; the GRU step reads it).
                                        for b in 0..<nb { (dst + b * hs + u0).update(from: src + b * hs + u0, count: u1 - u0) }
                                        // Small batches alternate direction (`gemmPanels`).
                                        let backwards = nb <= 8 && step % 2 == 1
                                        for qq in 0..<gates {
                                            let q = backwards ? gates - 1 - qq : qq
                                            gemmPanels(src, w, hw, m: nb, k: hs, n: g, panels: (q * panels + p0)..<(q * panels + p1),
                                                       backwards: backwards)
                                        }
                                        if isLSTM {
                                            lstmk_lstm_step_units_f32(xw, xwStep, hw, c!, dst, hs, y, yStep, ldy, rp.baseAddress!, nb, hs, u0, u1)
                                        } else {
                                            lstmk_gru_step_units_f32(xw, xwStep, hw, bhn, dst, y, yStep, ldy, rp.baseAddress!, nb, hs, u0, u1)
                                        }
                                        let done = step + 1 - stepRange.lowerBound
                                        if members > 1 {
                                            // This member's work per panel since the last rebalancing,
                                            // where member 0 reads it after the barrier (two sets, by
                                            // step parity).
                                            accSpan += Double(lap(false))
                                            accPanels += Double(p1 - p0)
                                            perPanel[parity * members + k] = accSpan / Swift.max(1, accPanels)
                                            if done % 8 == 0 {
                                                accSpan = 0
                                                accPanels = 0
                                            }
                                        }
                                        if k == 0 && members > 1 {
                                            // Every 8 steps, shares in proportion to each member's speed
                                            // over those steps (a core shared with another program runs
                                            // slower: it gets fewer panels), published for the step
                                            // after the next barrier.
                                            let other = 1 - parity, next = other * (members + 1)
                                            if done % 8 == 0 && done >= 8 {
                                                var speed = [Double](repeating: 0, count: members), total = 0.0
                                                for j in 0..<members {
                                                    let t = j == 0 ? perPanel[parity * members] : perPanel[other * members + j]
                                                    speed[j] = t > 0 ? 1 / t : 0
                                                    total += speed[j]
                                                }
                                                var edge = 0.0
                                                bounds[next] = 0
                                                for j in 0..<members {
                                                    edge += total > 0 ? speed[j] / total : 1 / Double(members)
                                                    let wanted = Int((edge * Double(panels)).rounded())
                                                    // Each member keeps one panel at least.
                                                    bounds[next + j + 1] = j == members - 1 ? panels
                                                        : Swift.min(Swift.max(wanted, bounds[next + j] + 1), panels - (members - 1 - j))
                                                }
                                            } else {
                                                for j in 0...members { bounds[next + j] = bound(j) }
                                            }
                                        }
                                        let slow = k == 0 && members > 1 && done >= 8 && waited > worked + 250_000
                                        let stop = slow || k == 0 && members > 1 && done == stopAfter
                                        if slow { teamWasSlow = true }
                                        let stopped = members > 1 && lstmk_barrier_wait_stop(bar, Int32(members), stop ? 1 : 0) != 0
                                        if members > 1 { _ = lap(true) }
                                        swap(&src, &dst)
                                        parity = 1 - parity
                                        if stopped {
                                            first = step + 1
                                            break
                                        }
                                    }
                                }
                                if k == 0 { newestInSpare = src != hA }
                                return first
                            }
                            parallel(threads: parties) { k, members in
                                let ran = member(k, members: members)
                                if k == 0 {
                                    next = ran
                                    joined = members
                                }
                            }
                            // The newest h is in the spare buffer after an odd number of steps.
                            if newestInSpare { hA.update(from: hB, count: nb * hs) }
                        }
                    }
                }
            }
        }
        // A team of one (no worker joined in time) or one that stopped for its waits is held
        // off; one that ran to the end paid. A stop forced by a test reports nothing.
        if joined < 2 || teamWasSlow {
            lstmk_team_report(0)
        } else if next >= stepRange.upperBound {
            lstmk_team_report(1)
        }
        return next
    }

    /// Which fused C step applies to this pass: the plain LSTM (sigmoid, tanh, tanh; no
    /// peepholes, clips or coupling; a projection is fine) and the plain reset-after GRU, in
    /// either precision (the same operations as the element-wise loops below, in the same order).
    var fusedKind: FusedKind {
        let s = pass.spec, a = pass.activations
        guard s.activationClip == nil else { return .none }
        switch s.cell {
        case .lstm:
            guard a.count == 3, a[0] == .sigmoid, a[1] == .tanh, a[2] == .tanh, !s.lstm.coupled, s.lstm.cellClip == nil,
                  pass.peepholeI == nil, pass.peepholeF == nil, pass.peepholeO == nil else { return .none }
            return .lstm
        case .gru:
            guard s.resetAfter, a.count == 2, a[0] == .sigmoid, a[1] == .tanh else { return .none }
            return .gru
        case .rnn:
            return .none
        }
    }

    enum FusedKind { case none, lstm, gru }

    /// The fused LSTM step (C): gates, c and h (or m, with a projection) for every moving row.
    /// Returns whether it also wrote the outputs y.
    func fusedLSTMStep(_ io: StepIO<F>, nb: Int, hw: [F], m: inout [F], rows: [Int]) -> Bool {
        let hs = pass.spec.hiddenSize, g = 4 * hs
        let projection = pass.spec.lstm.projectionSize != nil
        rows.withUnsafeBufferPointer { rp in
            hw.withUnsafeBufferPointer { hp in
                m.withUnsafeMutableBufferPointer { mp in
                    let out = projection ? mp.baseAddress! : io.h
                    let y = projection ? nil : io.y
                    let yStep = projection ? 0 : batch * io.yStride, ldy = projection ? 0 : io.yStride
                    if F.self == Float.self {
                        lstmk_lstm_step_f32(cast(io.xw), batch * g, cast(hp.baseAddress!), cast(io.c!), cast(out), hs,
                                            y.map { cast($0) }, yStep, ldy, rp.baseAddress!, nb, hs)
                    } else {
                        lstmk_lstm_step_f64(cast(io.xw), batch * g, cast(hp.baseAddress!), cast(io.c!), cast(out), hs,
                                            y.map { cast($0) }, yStep, ldy, rp.baseAddress!, nb, hs)
                    }
                }
            }
        }
        return !projection
    }

    /// The fused reset-after GRU step (C); writes h and the outputs y of every moving row.
    func fusedGRUStep(_ io: StepIO<F>, nb: Int, hw: [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        rows.withUnsafeBufferPointer { rp in
            hw.withUnsafeBufferPointer { hp in
                pass.recurrentBias.withUnsafeBufferPointer { bp in
                    let bhn = bp.baseAddress! + 2 * hs
                    if F.self == Float.self {
                        lstmk_gru_step_f32(cast(io.xw), batch * 3 * hs, cast(hp.baseAddress!), cast(bhn), cast(io.h), cast(io.y),
                                           batch * io.yStride, io.yStride, rp.baseAddress!, nb, hs)
                    } else {
                        lstmk_gru_step_f64(cast(io.xw), batch * 3 * hs, cast(hp.baseAddress!), cast(bhn), cast(io.h), cast(io.y),
                                           batch * io.yStride, io.yStride, rp.baseAddress!, nb, hs)
                    }
                }
            }
        }
    }

    /// acc[j] += w[j] · v[j]: a peephole term.
    @inline(__always)
    func addProduct(_ acc: UnsafeMutablePointer<F>, _ w: [F], _ v: UnsafeMutablePointer<F>, _ count: Int) {
        w.withUnsafeBufferPointer { wp in
            for j in 0..<count { acc[j] = acc[j] + wp[j] * v[j] }
        }
    }

    /// Clips a run of pre-activations to [-clip, clip] (ONNX `clip`), if the layer has one.
    @inline(__always)
    func clipRun(_ p: UnsafeMutablePointer<F>, _ count: Int) {
        guard let c = pass.spec.activationClip else { return }
        let hi = F.from(c), lo = -hi
        for j in 0..<count { p[j] = Swift.min(Swift.max(p[j], lo), hi) }
    }

    func rnnStep(_ io: StepIO<F>, nb: Int, hw: [F], rows: [Int]) {
        let hs = pass.spec.hiddenSize
        let act = pass.activations[0]
        hw.withUnsafeBufferPointer { hp in
            for b in 0..<nb where rows[b] >= 0 {
                let x = io.xw + (rows[b] * batch + b) * hs
                let r = hp.baseAddress! + b * hs
                let out = io.h + b * hs
                for j in 0..<hs { out[j] = x[j] + r[j] }
                clipRun(out, hs)
                F.activateRun(act, out, hs)
            }
        }
    }

    func gruStep(_ io: StepIO<F>, nb: Int, hw: inout [F], scratch: inout [F], rh: inout [F], hwn: inout [F], rows: [Int],
                 gemmThreads: Int) {
        let hs = pass.spec.hiddenSize
        let fAct = pass.activations[0], gAct = pass.activations[1]
        let resetAfter = pass.spec.resetAfter
        let width = resetAfter ? 3 * hs : 2 * hs
        let h = io.h
        // z and r of every moving row, in place in hw's first two blocks.
        hw.withUnsafeMutableBufferPointer { hp in
            for b in 0..<nb where rows[b] >= 0 {
                let x = io.xw + (rows[b] * batch + b) * 3 * hs
                let zr = hp.baseAddress! + b * width
                for j in 0..<(2 * hs) { zr[j] = x[j] + zr[j] }
                clipRun(zr, 2 * hs)
                F.activateRun(fAct, zr, 2 * hs)
            }
        }
        if !resetAfter {
            // Reset-before: the recurrent product of the candidate sees r ⊙ h.
            for b in 0..<nb {
                for j in 0..<hs { rh[b * hs + j] = rows[b] >= 0 ? hw[b * width + hs + j] * h[b * hs + j] : 0 }
            }
            rh.withUnsafeBufferPointer { rp in
                hwn.withUnsafeMutableBufferPointer { op in
                    pass.whnT.multiply(rp.baseAddress!, into: op.baseAddress!, m: nb, k: hs, n: hs, threads: gemmThreads)
                }
            }
        }
        hw.withUnsafeBufferPointer { hp in
            hwn.withUnsafeBufferPointer { np in
                pass.recurrentBias.withUnsafeBufferPointer { rb in
                    scratch.withUnsafeMutableBufferPointer { nb2 in
                        let bhn = rb.baseAddress! + 2 * hs
                        let nv = nb2.baseAddress!
                        for b in 0..<nb where rows[b] >= 0 {
                            let x = io.xw + (rows[b] * batch + b) * 3 * hs + 2 * hs
                            let z = hp.baseAddress! + b * width
                            let r = z + hs
                            if resetAfter {
                                let hn = z + 2 * hs
                                for j in 0..<hs { nv[j] = x[j] + r[j] * (hn[j] + bhn[j]) }
                            } else {
                                let hn = np.baseAddress! + b * hs
                                for j in 0..<hs { nv[j] = x[j] + (hn[j] + bhn[j]) }
                            }
                            clipRun(nv, hs)
                            F.activateRun(gAct, nv, hs)
                            let out = h + b * hs
                            for j in 0..<hs { out[j] = (1 - z[j]) * nv[j] + z[j] * out[j] }
                        }
                    }
                }
            }
        }
    }

    func lstmStep(_ io: StepIO<F>, nb: Int, hw: [F], scratch: inout [F], m: inout [F], rows: [Int]) {
        let s = pass.spec
        let hs = s.hiddenSize, g = s.gateCount * hs
        let fAct = pass.activations[0], gAct = pass.activations[1], hAct = pass.activations[2]
        let coupled = s.lstm.coupled
        // Block offsets: IFGO or, coupled, FGO.
        let iOff = 0, fOff = coupled ? 0 : hs, gOff = coupled ? hs : 2 * hs, oOff = coupled ? 2 * hs : 3 * hs
        let cellClip = s.lstm.cellClip.map { F.from($0) }
        let hasProjection = s.lstm.projectionSize != nil
        // Pre-activations of the gates, then h(c_t), in the runner's work space. The loops
        // below have no branches inside, so that the compiler vectorises them.
        let peepI = coupled ? nil : pass.peepholeI, peepF = pass.peepholeF, peepO = pass.peepholeO
        scratch.withUnsafeMutableBufferPointer { gb in
            hw.withUnsafeBufferPointer { hp in
                m.withUnsafeMutableBufferPointer { mb in
                    let a = gb.baseAddress!
                    let hc = a + g
                    let outBase = hasProjection ? mb.baseAddress! : io.h
                    for b in 0..<nb where rows[b] >= 0 {
                        let x = io.xw + (rows[b] * batch + b) * g
                        let r = hp.baseAddress! + b * g
                        let cv = io.c! + b * hs
                        for j in 0..<g { a[j] = x[j] + r[j] }
                        // Input and forget gates see c_{t-1}.
                        if let pf = peepF { addProduct(a + fOff, pf, cv, hs) }
                        if let pi = peepI { addProduct(a + iOff, pi, cv, hs) }
                        clipRun(a, coupled ? 2 * hs : 3 * hs)
                        if coupled {
                            F.activateRun(fAct, a + fOff, hs)
                        } else {
                            F.activateRun(fAct, a + iOff, 2 * hs)  // i and f are adjacent
                        }
                        F.activateRun(gAct, a + gOff, hs)
                        let f = a + fOff, gv = a + gOff
                        if coupled {
                            for j in 0..<hs { cv[j] = f[j] * cv[j] + (1 - f[j]) * gv[j] }
                        } else {
                            let i = a + iOff
                            for j in 0..<hs { cv[j] = f[j] * cv[j] + i[j] * gv[j] }
                        }
                        if let cc = cellClip { for j in 0..<hs { cv[j] = Swift.min(Swift.max(cv[j], -cc), cc) } }
                        // The output gate sees c_t.
                        if let po = peepO { addProduct(a + oOff, po, cv, hs) }
                        clipRun(a + oOff, hs)
                        F.activateRun(fAct, a + oOff, hs)
                        hc.update(from: cv, count: hs)
                        F.activateRun(hAct, hc, hs)
                        let o = a + oOff, out = outBase + b * hs
                        for j in 0..<hs { out[j] = o[j] * hc[j] }
                    }
                }
            }
        }
    }

    /// h = W_proj m (then the projection clip) for every moving row of an LSTM with a projection.
    func project(_ io: StepIO<F>, nb: Int, m: [F], projected: inout [F], rows: [Int], gemmThreads: Int) {
        let s = pass.spec
        let hs = s.hiddenSize, p = s.outputSize
        m.withUnsafeBufferPointer { mp in
            projected.withUnsafeMutableBufferPointer { op in
                pass.projT.multiply(mp.baseAddress!, into: op.baseAddress!, m: nb, k: hs, n: p, threads: gemmThreads)
            }
        }
        let projClip = s.lstm.projectionClip.map { F.from($0) }
        for b in 0..<nb where rows[b] >= 0 {
            for k in 0..<p {
                var v = projected[b * p + k]
                if let pc = projClip { v = Swift.min(Swift.max(v, -pc), pc) }
                io.h[b * p + k] = v
            }
        }
    }
}

/// The work space of one slice of rows, kept across the chunks of a pass: the recurrent
/// product, the reset-before GRU's r ⊙ h and its product, the LSTM's m and projection, the
/// time index of each row at the current step (relative to the chunk; −1 when done), and per-row
/// scratch for the element-wise steps.
final class Workspace<F: EvalScalar>: @unchecked Sendable {
    var hw: [F]
    var rh: [F]
    var hwn: [F]
    var m: [F]
    var projected: [F]
    var rows: [Int]
    var scratch: [F]

    init(spec s: LayerSpec, rows nb: Int) {
        let hs = s.hiddenSize, reset = s.cell == .gru && !s.resetAfter
        hw = [F](repeating: 0, count: nb * (reset ? 2 * hs : s.gateCount * hs))
        rh = [F](repeating: 0, count: reset ? nb * hs : 0)
        hwn = rh
        m = [F](repeating: 0, count: s.lstm.projectionSize != nil ? nb * hs : 0)
        projected = [F](repeating: 0, count: s.lstm.projectionSize != nil ? nb * s.outputSize : 0)
        rows = [Int](repeating: -1, count: nb)
        scratch = [F](repeating: 0, count: (s.gateCount + 1) * hs)
    }
}

/// A pointer handed to the threads of a pass, each of which touches only its own rows.
struct UnsafeSendable<F>: @unchecked Sendable {
    let p: UnsafeMutablePointer<F>
    init(_ p: UnsafeMutablePointer<F>) { self.p = p }
}

/// The buffers one pass's time loop reads and writes, as pointers (shared by the threads of a
/// pass, each of which touches only its own rows): xw `[T, B, G·H]`, h `[B, P]`, c `[B, H]`
/// (nil when the cell has none), y rows of stride `yStride` (already offset to the pass's columns).
struct StepIO<F: EvalScalar>: @unchecked Sendable {
    let xw: UnsafePointer<F>
    let h: UnsafeMutablePointer<F>
    let c: UnsafeMutablePointer<F>?
    let y: UnsafeMutablePointer<F>
    let yStride: Int
}

/// A pointer to the evaluator's element type as one to the C kernels' (Float or Double: the
/// caller has checked which F is).
@inline(__always)
private func cast<F, T>(_ p: UnsafePointer<F>) -> UnsafePointer<T> { UnsafeRawPointer(p).assumingMemoryBound(to: T.self) }
@inline(__always)
private func cast<F, T>(_ p: UnsafeMutablePointer<F>) -> UnsafeMutablePointer<T> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: T.self)
}

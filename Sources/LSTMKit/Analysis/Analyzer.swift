import Foundation
import LSTMCore

/// Distribution summary of a set of values.
package struct Distribution: Sendable, Equatable {
    package var mean: Double
    package var p05: Double
    package var p50: Double
    package var p95: Double
    package var min: Double
    package var max: Double

    /// Percentiles by linear interpolation between order statistics (numpy's default).
    package init(_ values: [Double]) {
        let v = values.filter { !$0.isNaN }.sorted()
        guard !v.isEmpty else {
            mean = 0; p05 = 0; p50 = 0; p95 = 0; min = 0; max = 0
            return
        }
        func q(_ p: Double) -> Double {
            let pos = p * Double(v.count - 1)
            let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, v.count - 1)
            let frac = pos - Double(lo)
            return frac == 0 ? v[lo] : v[lo] + (v[hi] - v[lo]) * frac
        }
        mean = v.reduce(0, +) / Double(v.count)
        p05 = q(0.05)
        p50 = q(0.5)
        p95 = q(0.95)
        min = v[0]
        max = v[v.count - 1]
    }
}

/// What `lstmtool analyze` measures for one pass of one layer.
package struct PassAnalysis: Sendable {
    package var layer: Int
    package var pass: Pass
    package var cell: CellFamily
    package var units: Int
    /// Gate name → every value over steps, batch and units (i, f, o; z, r; RNN: pre).
    package var gateValues: [(name: String, values: [Double])]
    package var gates: [(name: String, distribution: Distribution)]
    /// Gate name → per unit, the fraction of (step, batch) entries that are saturated.
    package var saturatedFraction: [(name: String, perUnit: [Double])]
    /// Units whose output never changes over the steps and batch entries.
    package var deadUnits: [Int]
    /// LSTM: mean forget gate per unit; GRU: mean update gate z (the kept fraction).
    package var meanKeep: [Double]?
    /// τ = −1 / ln(mean keep) per unit (infinite when the mean is 1).
    package var timeConstant: [Double]?
}

/// The result of `lstmtool analyze` (docs/ANALYZE.md).
package struct AnalysisReport: Sendable {
    package var steps: Int
    package var batch: Int
    package var passes: [PassAnalysis]
    /// s_t = ‖∂h_T/∂x_t‖_F, t = 0 … T−1, batch entry 0: the last layer's forward (or only) pass.
    package var inputSensitivity: [Double]
    /// Which pass `inputSensitivity` follows ("forward", or "reverse" for a reverse-only last layer).
    package var inputSensitivityPass: Pass
    /// The reverse pass's final state (at t = 0) of a bidirectional last layer.
    package var inputSensitivityReverse: [Double]?
    /// Per LSTM layer (first pass): ‖∂c_final/∂c_t‖_F, t = 0 … T−1.
    package var cellSensitivity: [(layer: Int, pass: Pass, values: [Double])]
    package var effectiveMemoryLength: Int
    package var effectiveMemoryLengthReverse: Int?

    /// Thresholds (docs/ANALYZE.md).
    package static let saturationLow = 0.05
    package static let saturationHigh = 0.95
    package static let memoryThreshold = 1e-3
    package static let deadRange = 1e-9
}

package enum Analyzer {
    /// Runs the f64 forward pass with its tape and measures gates, memory horizon and
    /// gradient flow. `initialH`/`initialC` are per layer `[D, B, W_k]` (RunIO.readStates).
    /// `progress`, if given, is told each phase as it starts (a command line shows it).
    package static func analyze(model: Model, x: [Double], steps: Int, batch: Int,
                               initialH: [[Double]]? = nil, initialC: [[Double]]? = nil,
                               progress: ((String) -> Void)? = nil) throws -> AnalysisReport {
        guard steps > 0, batch > 0 else { throw LSTMError(.invalidInput, "analyze needs at least one time step and one batch entry") }
        progress?("analyze: forward pass over \(steps) steps, recording the gates")
        let tm = TapedModel(model: model, x: x, steps: steps, batch: batch, initialH: initialH, initialC: initialC)
        progress?("analyze: gate statistics")
        var passes: [PassAnalysis] = []
        for (k, layerTapes) in tm.tapes.enumerated() {
            for tape in layerTapes { passes.append(passAnalysis(tape, layer: k)) }
        }
        let last = tm.weights[tm.weights.count - 1]
        progress?("analyze: sensitivity of the final state to every input step (reverse mode)")
        let s = tm.inputSensitivity(lastPass: 0)
        let sRev = last.count == 2 ? tm.inputSensitivity(lastPass: 1) : nil
        var cells: [(Int, Pass, [Double])] = []
        for (k, w) in tm.weights.enumerated() where w[0].spec.cell == .lstm {
            progress?("analyze: cell path of layer \(k)")
            cells.append((k, w[0].pass, tm.cellSensitivity(layer: k, pass: 0).steps))
        }
        return AnalysisReport(steps: steps, batch: batch, passes: passes, inputSensitivity: s, inputSensitivityPass: last[0].pass,
                              inputSensitivityReverse: sRev, cellSensitivity: cells,
                              effectiveMemoryLength: effectiveMemoryLength(s, from: last[0].pass),
                              effectiveMemoryLengthReverse: sRev.map { effectiveMemoryLength($0, from: .reverse) })
    }

    /// Steps back from the final state until s first drops below 10⁻³ of its maximum; the
    /// sequence length when it never does. A reverse pass counts forward from t = 0.
    package static func effectiveMemoryLength(_ s: [Double], from pass: Pass) -> Int {
        guard let peak = s.max(), peak > 0 else { return 0 }
        let seq = pass == .forward ? Array(s.reversed()) : s
        return seq.firstIndex(where: { $0 < AnalysisReport.memoryThreshold * peak }) ?? s.count
    }

    static func passAnalysis(_ tape: PassTape, layer k: Int) -> PassAnalysis {
        let w = tape.w
        let T = tape.steps, B = tape.batch, H = w.H, GH = w.G * H
        var named: [(String, Int)] = []  // gate name → block
        switch w.spec.cell {
        case .rnn: named = [("pre", 0)]
        case .lstm: named = [("i", w.blockI ?? -1), ("f", w.blockF), ("o", w.blockO)]
        case .gru: named = [("z", 0), ("r", 1)]
        }
        var gateValues: [(String, [Double])] = []
        var sat: [(String, [Double])] = []
        for (name, block) in named {
            var vals = [Double](repeating: 0, count: T * B * H)
            var satCount = [Double](repeating: 0, count: H)
            for tb in 0..<(T * B) {
                for u in 0..<H {
                    let v: Double
                    var saturated: Bool
                    if w.spec.cell == .rnn {
                        // The argument of φ (after the activation clip); saturated where φ' is
                        // below 1 − 0.95² (tanh: |h| ≥ 0.95; relu: the flat side).
                        let a = clipValue(tape.pre[tb * GH + u], w.spec.activationClip)
                        v = a
                        saturated = activationDerivative(w.acts[0], a) <= 1 - 0.95 * 0.95
                    } else {
                        v = block >= 0 ? tape.act[tb * GH + block * H + u] : 1 - tape.act[tb * GH + w.blockF * H + u]
                        saturated = v < AnalysisReport.saturationLow || v > AnalysisReport.saturationHigh
                    }
                    vals[tb * H + u] = v
                    if saturated { satCount[u] += 1 }
                }
            }
            gateValues.append((name, vals))
            sat.append((name, satCount.map { $0 / Double(T * B) }))
        }
        // Dead: the unit's output (h, or m = o·h(c) behind a projection) never changes.
        let outVals = w.spec.cell == .lstm ? tape.m : tape.h
        let width = w.spec.cell == .lstm ? H : w.P
        var dead: [Int] = []
        for u in 0..<width {
            var lo = Double.infinity, hi = -Double.infinity
            for tb in 0..<(T * B) {
                let v = outVals[tb * width + u]
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
            }
            if hi - lo <= AnalysisReport.deadRange { dead.append(u) }
        }
        var keep: [Double]?
        if w.spec.cell != .rnn {
            let block = w.spec.cell == .lstm ? w.blockF : 0
            keep = (0..<H).map { u in
                var s = 0.0
                for tb in 0..<(T * B) { s += tape.act[tb * GH + block * H + u] }
                return s / Double(T * B)
            }
        }
        return PassAnalysis(layer: k, pass: w.pass, cell: w.spec.cell, units: H, gateValues: gateValues,
                            gates: gateValues.map { ($0.0, Distribution($0.1)) }, saturatedFraction: sat, deadUnits: dead,
                            meanKeep: keep, timeConstant: keep.map { $0.map(timeConstant) })
    }

    /// τ = −1 / ln f̄: the number of steps over which a kept fraction f̄ per step decays by 1/e.
    package static func timeConstant(_ f: Double) -> Double {
        if f >= 1 { return .infinity }
        if f <= 0 { return 0 }
        return -1 / Foundation.log(f)
    }
}

extension AnalysisReport {
    /// τ of every unit of every LSTM/GRU pass.
    package var allTimeConstants: [Double] { passes.compactMap(\.timeConstant).flatMap { $0 } }

    /// Share of units whose τ is longer than the input sequence.
    package var shareLongerThanInput: Double? {
        let all = allTimeConstants
        guard !all.isEmpty else { return nil }
        return Double(all.filter { $0 > Double(steps) }.count) / Double(all.count)
    }

    /// JSON (docs/ANALYZE.md). τ = ∞ is written as null.
    package func json(model: String) -> String {
        func num(_ v: Double) -> JSONValue { v.isFinite ? .double(v) : .null }
        func dist(_ d: Distribution) -> JSONValue {
            .object([("mean", num(d.mean)), ("p05", num(d.p05)), ("p50", num(d.p50)), ("p95", num(d.p95)),
                     ("min", num(d.min)), ("max", num(d.max))])
        }
        let layers: [JSONValue] = passes.map { p in
            var f: [(String, JSONValue)] = [
                ("layer", .int(p.layer)), ("direction", .string(p.pass.rawValue)), ("cell", .string(p.cell.rawValue)),
                ("units", .int(p.units)),
                ("gates", .object(p.gates.map { ($0.name, dist($0.distribution)) })),
                ("saturated_fraction", .object(p.saturatedFraction.map { ($0.name, .array($0.perUnit.map(num))) })),
                ("dead_units", .array(p.deadUnits.map { .int($0) })),
            ]
            if let k = p.meanKeep, let tau = p.timeConstant {
                f.append(("mean_keep", .array(k.map(num))))
                f.append(("forget_time_constant", .array(tau.map(num))))
                let finite = tau.filter(\.isFinite)
                f.append(("forget_time_constant_distribution", dist(Distribution(finite))))
                f.append(("infinite_time_constants", .int(tau.count - finite.count)))
            }
            return .object(f)
        }
        var sens: [(String, JSONValue)] = [
            ("pass", .string(inputSensitivityPass.rawValue)),
            ("input", .array(inputSensitivity.map(num))),
        ]
        if let r = inputSensitivityReverse { sens.append(("input_reverse", .array(r.map(num)))) }
        sens.append(("cell", .array(cellSensitivity.map {
            .object([("layer", .int($0.layer)), ("direction", .string($0.pass.rawValue)), ("values", .array($0.values.map(num)))])
        })))
        var top: [(String, JSONValue)] = [
            ("analyze_schema_version", .int(1)), ("model", .string(model)), ("steps", .int(steps)), ("batch", .int(batch)),
            ("layers", .array(layers)),
        ]
        let all = allTimeConstants
        if !all.isEmpty {
            top.append(("memory", .object([
                ("time_constant", dist(Distribution(all.filter(\.isFinite)))),
                ("units", .int(all.count)),
                ("share_longer_than_input", num(shareLongerThanInput ?? 0)),
            ])))
        }
        top.append(("sensitivity", .object(sens)))
        top.append(("effective_memory_length", .int(effectiveMemoryLength)))
        top.append(("effective_memory_length_reverse", effectiveMemoryLengthReverse.map { .int($0) } ?? .null))
        return JSONValue.object(top).render() + "\n"
    }

    /// The human-readable summary.
    package func text(model: String) -> String {
        func f3(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "inf" }
        func g3(_ v: Double) -> String { v.isFinite ? String(format: "%.3g", v) : "inf" }
        var l: [String] = ["\(safe(model)): analysed on \(steps) step(s) × \(batch) batch entr\(batch == 1 ? "y" : "ies") (f64)"]
        for p in passes {
            l.append("")
            l.append("layer \(p.layer) \(p.pass.rawValue) (\(p.cell.rawValue.uppercased()), \(p.units) units)")
            for (name, d) in p.gates {
                let sat = p.saturatedFraction.first { $0.name == name }!.perUnit
                let meanSat = sat.reduce(0, +) / Double(Swift.max(sat.count, 1))
                l.append("  \(name.padding(toLength: 4, withPad: " ", startingAt: 0)) mean \(f3(d.mean))  p05 \(f3(d.p05))  p50 \(f3(d.p50))  p95 \(f3(d.p95))   saturated \(String(format: "%.1f", 100 * meanSat))% of steps (unit mean)")
            }
            l.append("  dead units: " + (p.deadUnits.isEmpty ? "none" : p.deadUnits.map(String.init).joined(separator: ", ")))
            if let tau = p.timeConstant {
                let d = Distribution(tau.filter(\.isFinite))
                let inf = tau.filter { !$0.isFinite }.count
                let longer = tau.filter { $0 > Double(steps) }.count
                l.append("  memory τ = −1/ln(mean \(p.cell == .lstm ? "f" : "z")): p05 \(g3(d.p05))  p50 \(g3(d.p50))  p95 \(g3(d.p95))  max \(g3(d.max))"
                         + (inf > 0 ? "  (\(inf) infinite)" : "") + "; \(longer) of \(tau.count) unit(s) longer than the input")
            }
        }
        l.append("")
        func profile(_ s: [Double]) -> String {
            let idx = s.count <= 10 ? Array(s.indices) : (0..<10).map { $0 * (s.count - 1) / 9 }
            return idx.map { "t\($0)=\(g3(s[$0]))" }.joined(separator: " ")
        }
        l.append("gradient flow, batch entry 0: s_t = ‖∂h_T/∂x_t‖ (\(inputSensitivityPass.rawValue) final state)")
        l.append("  " + profile(inputSensitivity))
        l.append("  effective memory length: \(effectiveMemoryLength) step(s)" + (effectiveMemoryLength >= steps ? " (the whole input; never below 1e-3 of the peak)" : ""))
        if let r = inputSensitivityReverse, let e = effectiveMemoryLengthReverse {
            l.append("  reverse final state (t = 0): " + profile(r))
            l.append("  effective memory length (reverse): \(e) step(s)")
        }
        for c in cellSensitivity {
            l.append("  layer \(c.layer) cell path ‖∂c_T/∂c_t‖: " + profile(c.values))
        }
        return l.joined(separator: "\n") + "\n"
    }
}

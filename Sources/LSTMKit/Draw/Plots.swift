import Foundation
import LSTMCore

/// The plots of `verify --plot` and `analyze --svg`.
package enum AnalysisPlots {
    static let f32Color = "#1f77b4"
    static let f64Color = "#d46a00"
    static let failColor = "#c0392b"

    // MARK: verify --plot

    /// The error of one output along the sequence (states: along layer·direction), for every
    /// precision the case ran at: max |got − golden| per index on a log scale, the tolerance of
    /// that element dashed, the first index out of tolerance marked.
    package static func errorPlotSVG(caseName: String, output: String, runs: [(precision: String, comparison: OutputComparison)]) -> String {
        let W = 760.0, H = 400.0
        var svg = SVGDocument(width: W, height: H)
        svg.text("\(caseName): \(output)", 20, 28, size: 16, weight: "bold")
        let usable = runs.filter { $0.comparison.shapeMismatch == nil && !$0.comparison.profileMaxAbs.isEmpty }
        let axis = usable.first?.comparison.profileAxis ?? "step"
        svg.text("max |got − golden| per \(axis) (solid) and its tolerance atol + rtol·|golden| (dashed), log scale",
                 20, 48, size: 12, fill: "#555")
        guard !usable.isEmpty else {
            svg.text(runs.compactMap { $0.comparison.shapeMismatch }.first.map { "shape mismatch: \($0)" } ?? "nothing to plot",
                     40, 120, size: 14, fill: failColor)
            return svg.render(title: "\(caseName) \(output) error")
        }
        let n = usable.map { $0.comparison.profileMaxAbs.count }.max()!
        let positives = usable.flatMap { $0.comparison.profileMaxAbs + $0.comparison.profileAllowance }
        var (lo, hi) = logBounds(positives)
        let hasZero = usable.contains { $0.comparison.profileMaxAbs.contains(0) }
        if hasZero { lo /= 10 }
        if hi / lo < 100 { hi = lo * 100 }
        let chart = Chart(x0: 80, y0: 70, w: W - 110, h: H - 140, xMin: 0, xMax: Double(Swift.max(n - 1, 1)), yMin: lo, yMax: hi, logY: true)
        chart.drawAxes(&svg, xTitle: axis == "step" ? "time step t" : axis, yTitle: "absolute error")
        var legendX = 90.0
        for run in usable {
            let c = run.comparison
            let color = run.precision == "f32" ? f32Color : f64Color
            let xs = c.profileMaxAbs.indices.map(Double.init)
            chart.plot(&svg, xs: xs, ys: c.profileAllowance, color: color, width: 1.3, dash: "6 4")
            chart.plot(&svg, xs: xs, ys: c.profileMaxAbs.map { $0 > 0 ? $0 : lo }, color: color, width: 2)
            if let f = c.profileFirstFailing {
                let x = chart.px(Double(f))
                svg.line(x, chart.y0, x, chart.y0 + chart.h, stroke: failColor, width: 1.5, dash: "3 3")
                svg.circle(x, chart.py(Swift.max(c.profileMaxAbs[f], lo)), 5, fill: failColor, stroke: failColor)
                svg.text("\(run.precision): first out of tolerance at \(axis) \(f)", Swift.min(x + 6, W - 250), chart.y0 + 16 + (run.precision == "f32" ? 0 : 16),
                         size: 11, fill: failColor)
            }
            let status = c.passed ? "pass" : "FAIL"
            let label = "\(run.precision): max \(sci(c.maxAbsError)), atol \(sci(c.atol)), rtol \(sci(c.rtol)) — \(status)"
            svg.line(legendX, H - 22, legendX + 24, H - 22, stroke: color, width: 2)
            svg.text(label, legendX + 30, H - 18, size: 11, fill: "#333")
            legendX += 340
        }
        if hasZero { svg.text("an error of exactly 0 is drawn at the bottom edge", W - 30, 62, size: 10, anchor: .end, fill: "#777") }
        return svg.render(title: "\(caseName) \(output) error")
    }

    // MARK: analyze --svg

    /// One page: gate histograms per layer and direction, the distribution of τ, and s_t
    /// against t on a log scale.
    package static func reportSVG(_ r: AnalysisReport, model: Model, title: String) -> String {
        let W = 900.0
        let rowH = 166.0
        let gateRows = r.passes.count
        let tauH = r.allTimeConstants.isEmpty ? 0.0 : 250.0
        let sensH = 330.0
        let Htot = 70 + Double(gateRows) * rowH + tauH + sensH + 20
        var svg = SVGDocument(width: W, height: Htot)
        svg.text("lstmtool analyze: \(String(title.suffix(70)))", 20, 28, size: 17, weight: "bold")
        svg.text("\(r.steps) steps × \(r.batch) batch entr\(r.batch == 1 ? "y" : "ies"), f64; histograms are fractions of all steps, batch entries and units",
                 20, 48, size: 12, fill: "#555")
        var y = 70.0
        for p in r.passes {
            svg.text("layer \(p.layer) \(p.pass.rawValue) · \(p.cell.rawValue.uppercased()) · \(p.units) units", 20, y + 14, size: 13, weight: "bold")
            if !p.deadUnits.isEmpty {
                svg.text("dead units: \(p.deadUnits.prefix(12).map(String.init).joined(separator: ", "))\(p.deadUnits.count > 12 ? " …" : "")",
                         W - 20, y + 14, size: 11, anchor: .end, fill: failColor)
            }
            for (gi, g) in p.gateValues.enumerated() {
                let x0 = 70 + Double(gi) * 280
                let d = p.gates[gi].distribution
                let isGate = p.cell != .rnn
                let (a, b) = isGate ? (0.0, 1.0) : (Swift.min(d.min, -1), Swift.max(d.max, 1))
                histogram(&svg, values: g.values, lo: a, hi: b, x0: x0, y0: y + 44, w: 220, h: 84,
                          title: "\(g.name)  mean \(String(format: "%.2f", d.mean))  p05–p95 \(String(format: "%.2f", d.p05))–\(String(format: "%.2f", d.p95))",
                          color: "#4a7a45", shadeSaturation: isGate)
            }
            y += rowH
        }
        let taus = r.allTimeConstants
        if !taus.isEmpty {
            let finite = taus.filter { $0.isFinite && $0 > 0 }.map { Foundation.log10(Swift.max($0, 1e-3)) }
            let infinite = taus.count - taus.filter(\.isFinite).count
            let lo = Swift.min(finite.min() ?? 0, 0).rounded(.down), hi = Swift.max(Swift.max(finite.max() ?? 1, Foundation.log10(Double(r.steps))), lo + 1).rounded(.up)
            let share = r.shareLongerThanInput ?? 0
            svg.text("memory time constants τ = −1/ln(mean keep) over \(taus.count) units (log10 τ)", 20, y + 14, size: 13, weight: "bold")
            histogram(&svg, values: finite, lo: lo, hi: hi, x0: 70, y0: y + 44, w: 520, h: 140,
                      title: "\(String(format: "%.0f", 100 * share))% of units have τ longer than the input (T = \(r.steps))" + (infinite > 0 ? "; \(infinite) with τ = ∞" : ""),
                      color: "#1f5fa8", shadeSaturation: false, marker: Foundation.log10(Double(r.steps)), markerLabel: "T", xTitle: "log10 τ (steps)")
            y += tauH
        }
        // Sensitivity.
        var series: [(String, [Double], String, String?)] = [("s_t = ‖∂h_T/∂x_t‖ (\(r.inputSensitivityPass.rawValue) final state)", r.inputSensitivity, "#1f77b4", nil)]
        if let rev = r.inputSensitivityReverse { series.append(("reverse final state (t = 0)", rev, "#9467bd", nil)) }
        let cellColors = ["#d46a00", "#2a9d8f", "#8c564b", "#e377c2", "#7f7f7f"]
        for (i, c) in r.cellSensitivity.enumerated() {
            series.append(("‖∂c_T/∂c_t‖ layer \(c.layer) (h_t held fixed)", c.values, cellColors[i % cellColors.count], "6 4"))
        }
        let all = series.flatMap { $0.1 }
        var (lo, hi) = logBounds(all, floor: 1e-30)
        if hi / lo < 100 { lo = hi / 100 }
        svg.text("gradient flow, batch entry 0 (log scale); effective memory length \(r.effectiveMemoryLength) step(s)", 20, y + 14, size: 13, weight: "bold")
        let chart = Chart(x0: 80, y0: y + 30, w: W - 120, h: sensH - 110, xMin: 0, xMax: Double(Swift.max(r.steps - 1, 1)), yMin: lo, yMax: hi, logY: true)
        chart.drawAxes(&svg, xTitle: "time step t", yTitle: "sensitivity")
        if let peak = r.inputSensitivity.max(), peak > 0 {
            let thr = peak * AnalysisReport.memoryThreshold
            if thr >= lo {
                svg.line(chart.x0, chart.py(thr), chart.x0 + chart.w, chart.py(thr), stroke: "#999", width: 1, dash: "2 3")
                svg.text("1e-3 × peak", chart.x0 + chart.w - 4, chart.py(thr) - 4, size: 10, anchor: .end, fill: "#777")
            }
        }
        for s in series { chart.plot(&svg, xs: s.1.indices.map(Double.init), ys: s.1, color: s.2, width: 1.8, dash: s.3) }
        var lx = 80.0, ly = chart.y0 + chart.h + 48
        for s in series {
            if lx > W - 260 { lx = 80; ly += 16 }
            svg.line(lx, ly - 4, lx + 22, ly - 4, stroke: s.2, width: 2, dash: s.3)
            svg.text(s.0, lx + 28, ly, size: 11, fill: "#333")
            lx += 290
        }
        return svg.render(title: "lstmtool analyze report")
    }

    /// Several models' s_t on one log-scale plot, against steps back from the final state.
    package static func sensitivityComparisonSVG(_ runs: [(label: String, report: AnalysisReport)]) -> String {
        let W = 820.0, H = 440.0
        var svg = SVGDocument(width: W, height: H)
        svg.text("How far back does the final state see?", 20, 28, size: 17, weight: "bold")
        svg.text("s = ‖∂h_T/∂x_t‖ (exact, f64) against steps back from the final state, each divided by its peak; log scale (floor 1e-20)",
                 20, 48, size: 12, fill: "#555")
        let colors = ["#c0392b", "#2a9d8f", "#1f5fa8", "#9467bd"]
        let n = runs.map(\.report.steps).max() ?? 1
        var series: [[Double]] = []
        for r in runs {
            let s = r.report.inputSensitivity
            let peak = Swift.max(s.max() ?? 1, 1e-300)
            series.append(s.reversed().map { $0 / peak })
        }
        let lo = Swift.max(logBounds(series.flatMap { $0 }, floor: 1e-20).0, 1e-20)
        let chart = Chart(x0: 80, y0: 66, w: W - 120, h: H - 160, xMin: 0, xMax: Double(Swift.max(n - 1, 1)), yMin: lo, yMax: 1, logY: true)
        chart.drawAxes(&svg, xTitle: "steps back from the final state (T − 1 − t)", yTitle: "s / max s")
        svg.line(chart.x0, chart.py(1e-3), chart.x0 + chart.w, chart.py(1e-3), stroke: "#999", width: 1, dash: "2 3")
        svg.text("10⁻³ of the peak: effective memory length", chart.x0 + chart.w - 4, chart.py(1e-3) + 13, size: 10, anchor: .end, fill: "#555")
        for (i, s) in series.enumerated() {
            chart.plot(&svg, xs: s.indices.map(Double.init), ys: s, color: colors[i % colors.count], width: 2)
        }
        var ly = chart.y0 + chart.h + 50
        for (i, r) in runs.enumerated() {
            svg.line(90, ly - 4, 116, ly - 4, stroke: colors[i % colors.count], width: 2.5)
            let eml = r.report.effectiveMemoryLength
            svg.text("\(r.label): effective memory length \(eml >= r.report.steps ? "≥ \(eml) (whole input)" : "\(eml)") steps",
                     124, ly, size: 12, fill: "#333")
            ly += 18
        }
        return svg.render(title: "memory comparison")
    }

    static func histogram(_ svg: inout SVGDocument, values: [Double], lo: Double, hi: Double, x0: Double, y0: Double, w: Double, h: Double,
                          title: String, color: String, shadeSaturation: Bool, marker: Double? = nil, markerLabel: String = "",
                          xTitle: String? = nil) {
        let bins = 20
        var counts = [Double](repeating: 0, count: bins)
        for v in values where v.isFinite {
            var k = Int(((v - lo) / (hi - lo) * Double(bins)).rounded(.down))
            k = Swift.min(Swift.max(k, 0), bins - 1)
            counts[k] += 1
        }
        let total = Swift.max(values.count, 1)
        let frac = counts.map { $0 / Double(total) }
        let top = Swift.max(frac.max() ?? 1, 1e-9)
        svg.text(title, x0, y0 - 4, size: 11, fill: "#333")
        svg.rect(x0, y0, w, h, fill: "#ffffff", stroke: "#555", strokeWidth: 1)
        if shadeSaturation {
            svg.rect(x0, y0, w * 0.05, h, fill: "#f3dede", stroke: "none", strokeWidth: 0)
            svg.rect(x0 + w * 0.95, y0, w * 0.05, h, fill: "#f3dede", stroke: "none", strokeWidth: 0)
        }
        let bw = w / Double(bins)
        for (k, f) in frac.enumerated() where f > 0 {
            let bh = Swift.max(f / top * (h - 4), 1)
            svg.rect(x0 + Double(k) * bw + 1, y0 + h - bh, bw - 2, bh, fill: color, stroke: "none", strokeWidth: 0)
        }
        for v in niceTicks(lo, hi, count: 4) {
            let x = x0 + (v - lo) / (hi - lo) * w
            svg.line(x, y0 + h, x, y0 + h + 4, stroke: "#555", width: 1)
            svg.text(axisLabel(v), x, y0 + h + 16, size: 10, anchor: .middle, fill: "#444")
        }
        svg.text(String(format: "%.0f%%", 100 * top), x0 - 4, y0 + 10, size: 10, anchor: .end, fill: "#444")
        svg.text("0", x0 - 4, y0 + h, size: 10, anchor: .end, fill: "#444")
        if let m = marker, m >= lo, m <= hi {
            let x = x0 + (m - lo) / (hi - lo) * w
            svg.line(x, y0, x, y0 + h, stroke: failColor, width: 1.5, dash: "4 3")
            svg.text(markerLabel, x + 4, y0 + 12, size: 11, fill: failColor)
        }
        if let t = xTitle { svg.text(t, x0 + w / 2, y0 + h + 32, size: 11, anchor: .middle, fill: "#333") }
    }
}

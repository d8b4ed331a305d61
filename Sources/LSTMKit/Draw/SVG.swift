import Foundation

/// A small, deterministic SVG writer: fixed number formatting, no external fonts or scripts
/// (generic font families only), every string escaped.
package struct SVGDocument {
    package let width: Double
    package let height: Double
    var body: [String] = []

    package init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func n(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        if r == r.rounded() { return String(Int(r)) }
        return String(format: "%.1f", r)
    }

    static func esc(_ s: String) -> String {
        var o = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            default:
                // XML 1.0 forbids most control characters.
                if ch.value < 0x20 && ch != "\n" && ch != "\t" { o += "?" } else { o.unicodeScalars.append(ch) }
            }
        }
        return o
    }

    package mutating func raw(_ s: String) { body.append(s) }

    package mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#333",
                              width w: Double = 2, dash: String? = nil, arrow: Bool = false) {
        body.append("<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(w))\""
                    + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + (arrow ? " marker-end=\"url(#arrow)\"" : "") + "/>")
    }

    /// A polyline through the points; `arrow` puts an arrowhead at the last point.
    package mutating func path(_ pts: [(Double, Double)], stroke: String = "#333", width w: Double = 2, dash: String? = nil,
                              arrow: Bool = false, fill: String = "none") {
        guard let first = pts.first else { return }
        var d = "M\(Self.n(first.0)) \(Self.n(first.1))"
        for p in pts.dropFirst() { d += " L\(Self.n(p.0)) \(Self.n(p.1))" }
        body.append("<path d=\"\(d)\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(w))\" stroke-linejoin=\"round\""
                    + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + (arrow ? " marker-end=\"url(#arrow)\"" : "") + "/>")
    }

    package mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String = "#333",
                              strokeWidth: Double = 1.5, radius: Double = 0, dash: String? = nil) {
        body.append("<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(w))\" height=\"\(Self.n(h))\" rx=\"\(Self.n(radius))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(strokeWidth))\""
                    + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    package mutating func circle(_ cx: Double, _ cy: Double, _ r: Double, fill: String, stroke: String = "#333", strokeWidth: Double = 1.5) {
        body.append("<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"\(Self.n(r))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(strokeWidth))\"/>")
    }

    package enum Anchor: String { case start, middle, end }

    package mutating func text(_ s: String, _ x: Double, _ y: Double, size: Double = 13, anchor: Anchor = .start,
                              weight: String? = nil, fill: String = "#222", italic: Bool = false, family: String = "sans-serif",
                              rotate: Double? = nil) {
        var a = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-family=\"\(family)\" font-size=\"\(Self.n(size))\" fill=\"\(fill)\""
        if anchor != .start { a += " text-anchor=\"\(anchor.rawValue)\"" }
        if let weight { a += " font-weight=\"\(weight)\"" }
        if italic { a += " font-style=\"italic\"" }
        if let r = rotate { a += " transform=\"rotate(\(Self.n(r)) \(Self.n(x)) \(Self.n(y)))\"" }
        body.append(a + ">\(Self.esc(s))</text>")
    }

    /// The whole document.
    package func render(title: String) -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\">\n"
        s += "<title>\(Self.esc(title))</title>\n"
        s += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\" markerUnits=\"userSpaceOnUse\">"
        s += "<path d=\"M0 0 L10 5 L0 10 z\" fill=\"#333\"/></marker></defs>\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"#ffffff\"/>\n"
        s += body.joined(separator: "\n")
        s += "\n</svg>\n"
        return s
    }
}

/// Formats numbers for axis labels: 1e-3, 0.01, 10, 1e+04.
func axisLabel(_ v: Double) -> String {
    if v == 0 { return "0" }
    let a = Swift.abs(v)
    if a >= 1e-2 && a < 1e4 {
        var s = String(format: "%.3g", v)
        if s.contains("e") { s = String(format: "%.0f", v) }
        return s
    }
    let e = Int(Foundation.log10(a).rounded())
    if Swift.abs(a - Foundation.pow(10, Double(e))) < 1e-9 * a { return (v < 0 ? "-" : "") + "1e\(e)" }
    return String(format: "%.1e", v)
}

/// A line chart with a linear x axis and a linear or log10 y axis.
struct Chart {
    var x0: Double, y0: Double, w: Double, h: Double
    var xMin: Double, xMax: Double
    var yMin: Double, yMax: Double
    var logY: Bool

    func px(_ x: Double) -> Double { x0 + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * w }
    func py(_ y: Double) -> Double {
        let (a, b, v) = logY ? (Foundation.log10(yMin), Foundation.log10(yMax), Foundation.log10(Swift.max(y, yMin))) : (yMin, yMax, y)
        let f = b > a ? (Swift.min(Swift.max(v, a), b) - a) / (b - a) : 0.5
        return y0 + h - f * h
    }

    /// Frame, ticks, tick labels and axis titles.
    func drawAxes(_ svg: inout SVGDocument, xTitle: String, yTitle: String, integerX: Bool = true) {
        svg.rect(x0, y0, w, h, fill: "#ffffff", stroke: "#555", strokeWidth: 1)
        // y ticks
        var yt: [Double] = []
        if logY {
            let lo = Int(Foundation.log10(yMin).rounded(.down)), hi = Int(Foundation.log10(yMax).rounded(.up))
            let step = Swift.max(1, (hi - lo + 5) / 6)
            var e = lo
            while e <= hi {
                let v = Foundation.pow(10, Double(e))
                if v >= yMin * 0.999 && v <= yMax * 1.001 { yt.append(v) }
                e += step
            }
        } else {
            yt = niceTicks(yMin, yMax, count: 5)
        }
        for v in yt {
            let y = py(v)
            svg.line(x0, y, x0 + w, y, stroke: "#e4e4e4", width: 1)
            svg.line(x0 - 4, y, x0, y, stroke: "#555", width: 1)
            svg.text(axisLabel(v), x0 - 7, y + 4, size: 11, anchor: .end, fill: "#444")
        }
        for v in niceTicks(xMin, xMax, count: 6, integer: integerX) {
            let x = px(v)
            svg.line(x, y0 + h, x, y0 + h + 4, stroke: "#555", width: 1)
            svg.text(axisLabel(v), x, y0 + h + 17, size: 11, anchor: .middle, fill: "#444")
        }
        svg.text(xTitle, x0 + w / 2, y0 + h + 34, size: 12, anchor: .middle, fill: "#333")
        svg.text(yTitle, x0 - 48, y0 + h / 2, size: 12, anchor: .middle, fill: "#333", rotate: -90)
    }

    /// The series as a polyline (non-positive values on a log axis are drawn at the floor).
    func plot(_ svg: inout SVGDocument, xs: [Double], ys: [Double], color: String, width: Double = 1.8, dash: String? = nil) {
        let pts = zip(xs, ys).map { (px($0), py($1)) }
        if pts.count == 1 {
            svg.circle(pts[0].0, pts[0].1, 3, fill: color, stroke: color, strokeWidth: 1)
        } else {
            svg.path(pts, stroke: color, width: width, dash: dash)
        }
    }
}

/// Round tick values covering [lo, hi].
func niceTicks(_ lo: Double, _ hi: Double, count: Int, integer: Bool = false) -> [Double] {
    guard hi > lo else { return [lo] }
    let raw = (hi - lo) / Double(Swift.max(count, 1))
    let mag = Foundation.pow(10, Foundation.log10(raw).rounded(.down))
    var step = mag
    for m in [1.0, 2, 2.5, 5, 10] where m * mag >= raw { step = m * mag; break }
    if integer { step = Swift.max(1, step.rounded(.up)) }
    var v = (lo / step).rounded(.up) * step
    var out: [Double] = []
    while v <= hi + step * 1e-9 {
        out.append(Swift.abs(v) < step * 1e-9 ? 0 : v)
        v += step
    }
    return out
}

/// Log-axis bounds that cover the positive values (a floor when there are none).
func logBounds(_ values: [Double], floor: Double = 1e-18) -> (Double, Double) {
    let pos = values.filter { $0 > 0 && $0.isFinite }
    guard let lo = pos.min(), let hi = pos.max() else { return (floor, 1) }
    var a = Foundation.pow(10, Foundation.log10(lo).rounded(.down))
    var b = Foundation.pow(10, Foundation.log10(hi).rounded(.up))
    if b <= a { b = a * 10 }
    a = Swift.max(a, floor)
    return (a, b)
}

extension SVGDocument {
    /// `base` with a subscript, e.g. c with t−1.
    package mutating func subText(_ base: String, _ sub: String, _ x: Double, _ y: Double, size: Double = 14,
                                 anchor: Anchor = .start, fill: String = "#222") {
        var a = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-family=\"sans-serif\" font-size=\"\(Self.n(size))\" fill=\"\(fill)\" font-style=\"italic\""
        if anchor != .start { a += " text-anchor=\"\(anchor.rawValue)\"" }
        raw(a + ">\(Self.esc(base))<tspan font-size=\"\(Self.n(size * 0.72))\" dy=\"\(Self.n(size * 0.3))\">\(Self.esc(sub))</tspan></text>")
    }
}

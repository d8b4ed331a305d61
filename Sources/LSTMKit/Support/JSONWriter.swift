import LSTMCore

/// A small JSON emitter: key order is ours (readable, diff-friendly), and numbers are written
/// in the shortest form that reads back to the same bits.
struct JSONText {
    private(set) var out = ""

    static func quote(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) {
                    let h = String(u.value, radix: 16)
                    r += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    r.unicodeScalars.append(u)
                }
            }
        }
        return r + "\""
    }
}

/// A JSON value we build for output, rendered with stable key order.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case int(Int)
    case number(String)  // already formatted
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// An array of scalars written a bounded number per line: each inner array is one line
    /// (the JSON form's tensor values, docs/JSON_FORM.md). One line only: `[a, b]`.
    case lines([[JSONValue]])

    static func double(_ v: Double) -> JSONValue {
        if v.isNaN { return .string("nan") }
        if v.isInfinite { return .string(v > 0 ? "inf" : "-inf") }
        return .number(formatDouble(v))
    }

    static func optionalDouble(_ v: Double?) -> JSONValue { v.map { double($0) } ?? .null }
    static func optionalInt(_ v: Int?) -> JSONValue { v.map { .int($0) } ?? .null }
    static func optionalString(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }

    /// Pretty output; arrays of scalars stay on one line.
    func render(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        let inner = String(repeating: "  ", count: indent + 1)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let s): return s
        case .string(let s): return JSONText.quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy({ $0.isScalar }) {
                return "[" + items.map { $0.render() }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { inner + $0.render(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "]"
        case .lines(let rows):
            let nonEmpty = rows.filter { !$0.isEmpty }
            if nonEmpty.count <= 1 { return "[" + (nonEmpty.first ?? []).map { $0.render() }.joined(separator: ", ") + "]" }
            return "[\n" + nonEmpty.map { inner + $0.map { $0.render() }.joined(separator: ", ") }.joined(separator: ",\n") + "\n" + pad + "]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n" + fields.map { inner + JSONText.quote($0.0) + ": " + $0.1.render(indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + pad + "}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object, .lines: return false
        default: return true
        }
    }
}

/// Shortest round-trip decimal of a double, always with a '.' or exponent.
func formatDouble(_ v: Double) -> String {
    var s = "\(v)"
    if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
    return s
}

func formatFloat(_ v: Float) -> String {
    var s = "\(v)"
    if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
    return s
}

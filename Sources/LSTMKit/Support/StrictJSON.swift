import Foundation

/// The one JSON parser lstmtool reads untrusted text with (model JSON, golden.json,
/// safetensors headers). Two things Foundation's JSONSerialization gets wrong here: on Linux
/// it parses some decimals to a neighbouring double (0.20000000298023224, which is
/// Double(Float(0.2)), comes back as …232), which would break the JSON form's bit-exact
/// promise; and it keeps the last of two duplicate keys silently, where safetensors (and we)
/// refuse them. Numbers go through Double(String), which rounds correctly; nesting is bounded.
enum StrictJSON {
    indirect enum Value {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        case integer(Int64)
        case number(Double)
        case bool(Bool)
        case null
    }
    enum ParseError: Error, CustomStringConvertible {
        case message(String)
        var description: String { switch self { case .message(let m): return m } }
    }

    static func parse(_ text: String) throws -> Value {
        try parse(Array(text.utf8))
    }

    static func parse(_ bytes: [UInt8]) throws -> Value {
        var p = Parser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == p.bytes.count else { throw ParseError.message("trailing characters at byte \(p.pos)") }
        return v
    }

    struct Parser {
        let bytes: [UInt8]
        var pos = 0

        mutating func skipSpace() {
            while pos < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[pos]) { pos += 1 }
        }

        func err(_ s: String) -> ParseError { .message("\(s) at byte \(pos)") }

        mutating func value(depth: Int) throws -> Value {
            guard depth < 64 else { throw err("nesting too deep") }
            guard pos < bytes.count else { throw err("unexpected end") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var members: [(String, Value)] = []
                var seen: Set<String> = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object([]) }
                while true {
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw err("expected a key") }
                    let key = try string()
                    guard seen.insert(key).inserted else { throw ParseError.message("duplicate key \"\(key)\"") }
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw err("expected ':'") }
                    pos += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard pos < bytes.count else { throw err("unexpected end") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                    throw err("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [Value] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array([]) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw err("unexpected end") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw err("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { throw err("invalid literal") }
            pos += w.count
        }

        mutating func number() throws -> Value {
            let start = pos
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            var isInteger = true
            while pos < bytes.count {
                let c = bytes[pos]
                if c >= 0x30 && c <= 0x39 { pos += 1; continue }
                if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    isInteger = false
                    pos += 1
                    continue
                }
                break
            }
            guard let text = String(bytes: bytes[start..<pos], encoding: .utf8), !text.isEmpty, text != "-" else { throw err("invalid value") }
            if isInteger {
                guard let v = Int64(text) else { throw err("integer \(text) out of range") }
                return .integer(v)
            }
            guard let d = Double(text) else { throw err("invalid number \(text)") }
            return .number(d)
        }

        mutating func string() throws -> String {
            pos += 1  // opening quote
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() throws {
                if !raw.isEmpty {
                    guard let s = String(validating: raw, as: UTF8.self) else { throw err("invalid UTF-8 in a string") }
                    scalars.append(contentsOf: s.unicodeScalars)
                    raw.removeAll()
                }
            }
            while pos < bytes.count {
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    pos += 1
                    try flush()
                    return String(scalars)
                }
                if c < 0x20 { throw err("control character in a string") }
                if c == UInt8(ascii: "\\") {
                    try flush()
                    pos += 1
                    guard pos < bytes.count else { break }
                    let e = bytes[pos]
                    pos += 1
                    switch e {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800..<0xDC00).contains(code) {
                            guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else { throw err("lone surrogate") }
                            pos += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw err("invalid surrogate pair") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(code) else { throw err("invalid \\u escape") }
                        scalars.append(u)
                    default: throw err("invalid escape")
                    }
                    continue
                }
                raw.append(c)
                pos += 1
            }
            throw err("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count else { throw err("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw err("invalid hex digit")
                }
                v = v * 16 + d
                pos += 1
            }
            return v
        }
    }
}

extension StrictJSON.Value {
    /// The same tree in JSONSerialization's shape ([String: Any], [Any], String, NSNumber,
    /// Bool, NSNull), for readers written against it.
    var foundationValue: Any {
        switch self {
        case .object(let members):
            var d: [String: Any] = [:]
            for (k, v) in members { d[k] = v.foundationValue }
            return d
        case .array(let items): return items.map(\.foundationValue)
        case .string(let s): return s
        case .integer(let i): return NSNumber(value: i)
        case .number(let d): return NSNumber(value: d)
        case .bool(let b): return b
        case .null: return NSNull()
        }
    }
}

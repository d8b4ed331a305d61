import Foundation
import LSTMCore

/// The lossless JSON text form of a model (docs/JSON_FORM.md).
package enum JSONForm {
    package static let formatName = "lstmtool-json"

    // MARK: writing

    package static func encode(_ model: Model) throws -> String {
        try model.validate()
        var top: [(String, JSONValue)] = [
            ("format", .string(formatName)),
            ("format_version", .string(FormatVersion.current.description)),
            ("metadata", metadataValue(model.metadata)),
        ]
        var layers: [JSONValue] = []
        for (i, layer) in model.layers.enumerated() { layers.append(layerValue(layer, index: i)) }
        top.append(("layers", .array(layers)))
        if !model.unknownFields.isEmpty { top.append(("unknown_fields", unknownValue(model.unknownFields))) }
        return JSONValue.object(top).render() + "\n"
    }

    static func metadataValue(_ m: Metadata) -> JSONValue {
        var f: [(String, JSONValue)] = []
        let pairs: [(String, String?)] = [("name", m.name), ("description", m.description), ("producer_name", m.producerName),
                                          ("producer_version", m.producerVersion), ("source_framework", m.sourceFramework),
                                          ("source_file", m.sourceFile), ("created", m.created)]
        for (k, v) in pairs { if let v { f.append((k, .string(v))) } }
        if !m.properties.isEmpty {
            f.append(("properties", .array(m.properties.map { .object([("key", .string($0.key)), ("value", .string($0.value))]) })))
        }
        if !m.unknownFields.isEmpty { f.append(("unknown_fields", unknownValue(m.unknownFields))) }
        return .object(f)
    }

    static func layerValue(_ layer: Layer, index: Int) -> JSONValue {
        let s = layer.spec
        var f: [(String, JSONValue)] = [
            ("cell", .string(s.cell.rawValue)), ("input_size", .int(s.inputSize)), ("hidden_size", .int(s.hiddenSize)),
            ("direction", .string(s.direction.rawValue)), ("bias", .bool(s.hasBias)),
            ("activations", .array(s.activations.map { list in
                .array(list.map { a in .object([("kind", .string(a.kind.rawValue)), ("alpha", .double(a.alpha)), ("beta", .double(a.beta))]) })
            })),
        ]
        if s.cell == .lstm {
            f.append(("peepholes", .array(s.lstm.peepholes.sorted().map { .string($0.rawValue) })))
            f.append(("coupled", .bool(s.lstm.coupled)))
            f.append(("projection_size", .optionalInt(s.lstm.projectionSize)))
            f.append(("cell_clip", .optionalDouble(s.lstm.cellClip)))
            f.append(("projection_clip", .optionalDouble(s.lstm.projectionClip)))
        }
        if s.cell == .gru { f.append(("reset_after", .bool(s.resetAfter))) }
        f.append(("activation_clip", .optionalDouble(s.activationClip)))
        f.append(("initial_state", .bool(s.hasInitialState)))
        var passes: [(String, JSONValue)] = []
        for (d, pass) in layer.passes.enumerated() {
            var tensors: [(String, JSONValue)] = []
            for role in TensorRole.allCases {
                guard let t = pass[role] else { continue }
                // Biases stack the gate blocks along their one axis: one block per line.
                let row = [.inputBias, .recurrentBias].contains(role) ? s.hiddenSize : nil
                tensors.append((role.rawValue, tensorValue(t, rowLength: row)))
            }
            passes.append((s.direction.passes[d].rawValue, .object(tensors)))
        }
        f.append(("tensors", .object(passes)))
        if !s.unknownFields.isEmpty { f.append(("unknown_fields", unknownValue(s.unknownFields))) }
        return .object(f)
    }

    /// At most this many values on one line of a tensor's `values` (docs/JSON_FORM.md).
    package static let valuesPerLine = 8

    /// `values` split into lines: one row (the last axis; `rowLength` for a 1-D tensor) per
    /// line, a row longer than ``valuesPerLine`` over several lines, so that a changed element
    /// changes one line of a diff.
    static func valueLines(_ values: [JSONValue], shape: [Int], rowLength: Int?) -> [[JSONValue]] {
        guard values.count > valuesPerLine else { return [values] }
        var row = shape.count > 1 ? (shape.last ?? values.count) : (rowLength ?? values.count)
        if row <= 0 || values.count % row != 0 { row = values.count }
        var out: [[JSONValue]] = []
        var start = 0
        while start < values.count {
            let rowEnd = start + row
            var k = start
            while k < rowEnd {
                let e = Swift.min(k + valuesPerLine, rowEnd)
                out.append(Array(values[k..<e]))
                k = e
            }
            start = rowEnd
        }
        return out
    }

    static func tensorValue(_ t: ModelTensor, rowLength: Int? = nil) -> JSONValue {
        var f: [(String, JSONValue)] = [("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map { .int($0) }))]
        if t.encoding != .raw { f.append(("encoding", .string(t.encoding.rawValue))) }
        if let values = decimalValues(t) {
            f.append(("values", .lines(valueLines(values, shape: t.shape, rowLength: rowLength))))
        } else {
            f.append(("bits_hex", .string(hexString(t.bytes))))
        }
        if !t.unknownFields.isEmpty { f.append(("unknown_fields", unknownValue(t.unknownFields))) }
        return .object(f)
    }

    /// The elements as decimals, or nil when some element would not read back bit-exactly
    /// (a NaN with a payload, or a decimal that double rounding would change).
    static func decimalValues(_ t: ModelTensor) -> [JSONValue]? {
        var out: [JSONValue] = []
        out.reserveCapacity(t.elementCount)
        let ok: Bool = t.bytes.withUnsafeBytes { raw in
            for i in 0..<t.elementCount {
                switch t.dtype {
                case .float32:
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                    let v = Float(bitPattern: bits)
                    if v.isNaN { guard bits == 0x7FC0_0000 else { return false }; out.append(.string("nan")); continue }
                    if v.isInfinite { out.append(.string(v > 0 ? "inf" : "-inf")); continue }
                    let s = formatFloat(v)
                    guard let d = Double(s), Float(d).bitPattern == bits else { return false }
                    out.append(.number(s))
                case .float64:
                    let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                    let v = Double(bitPattern: bits)
                    if v.isNaN { guard bits == 0x7FF8_0000_0000_0000 else { return false }; out.append(.string("nan")); continue }
                    out.append(.double(v))
                case .float16:
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                    let v = Half.toDouble(bits)
                    if v.isNaN { guard bits == 0x7E00 else { return false }; out.append(.string("nan")); continue }
                    if v.isInfinite { out.append(.string(v > 0 ? "inf" : "-inf")); continue }
                    let s = formatFloat(Float(v))
                    guard let d = Double(s), Half.bits(d) == bits else { return false }
                    out.append(.number(s))
                case .bfloat16:
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                    let v = Float(bitPattern: UInt32(bits) << 16)
                    if v.isNaN { guard bits == 0x7FC0 else { return false }; out.append(.string("nan")); continue }
                    if v.isInfinite { out.append(.string(v > 0 ? "inf" : "-inf")); continue }
                    let s = formatFloat(v)
                    guard let d = Double(s), bfloat16Bits(Float(d)) == bits else { return false }
                    out.append(.number(s))
                }
            }
            return true
        }
        return ok ? out : nil
    }

    static func unknownValue(_ fields: [UnknownField]) -> JSONValue {
        .array(fields.map { .object([("tag", .int(Int($0.tag))), ("wire_type", .int(Int($0.wireType))), ("data_hex", .string(hexString($0.data)))]) })
    }

    // MARK: reading

    package static func decode(_ bytes: [UInt8], path: String) throws -> Model {
        let any: Any
        do {
            // Not JSONSerialization: it does not parse every decimal to the nearest double.
            any = try StrictJSON.parse(bytes).foundationValue
        } catch {
            throw LSTMError(.invalidInput, "\(path): not valid JSON (\(error))")
        }
        let r = JSONReader(path: path)
        let top = try r.object(any, "top level")
        guard (top["format"] as? String) == formatName else {
            throw LSTMError(.invalidInput, "\(path): \"format\" must be \"\(formatName)\"")
        }
        let version = try FormatVersion(parsing: try r.string(top["format_version"], "format_version"))
        try version.checkReadable(path)
        var metadata = Metadata()
        if let m = top["metadata"] {
            let mo = try r.object(m, "metadata")
            metadata.name = try r.optionalString(mo["name"], "metadata.name")
            metadata.description = try r.optionalString(mo["description"], "metadata.description")
            metadata.producerName = try r.optionalString(mo["producer_name"], "metadata.producer_name")
            metadata.producerVersion = try r.optionalString(mo["producer_version"], "metadata.producer_version")
            metadata.sourceFramework = try r.optionalString(mo["source_framework"], "metadata.source_framework")
            metadata.sourceFile = try r.optionalString(mo["source_file"], "metadata.source_file")
            metadata.created = try r.optionalString(mo["created"], "metadata.created")
            if let props = mo["properties"] {
                for (i, p) in try r.array(props, "metadata.properties").enumerated() {
                    let po = try r.object(p, "metadata.properties[\(i)]")
                    metadata.properties.append((try r.string(po["key"], "metadata.properties[\(i)].key"),
                                                try r.string(po["value"], "metadata.properties[\(i)].value")))
                }
            }
            metadata.unknownFields = try r.unknown(mo["unknown_fields"], "metadata.unknown_fields")
        }
        var layers: [Layer] = []
        for (i, l) in try r.array(top["layers"], "layers").enumerated() {
            layers.append(try decodeLayer(try r.object(l, "layers[\(i)]"), index: i, r))
        }
        let model = Model(metadata: metadata, layers: layers, unknownFields: try r.unknown(top["unknown_fields"], "unknown_fields"))
        try LSTMError.about(path) { try model.validate() }
        return model
    }

    static func decodeLayer(_ o: [String: Any], index i: Int, _ r: JSONReader) throws -> Layer {
        let ctx = "layers[\(i)]"
        guard let cell = CellFamily(rawValue: try r.string(o["cell"], "\(ctx).cell")) else {
            throw r.fail("\(ctx).cell must be rnn, lstm or gru")
        }
        let dirName = try r.optionalString(o["direction"], "\(ctx).direction") ?? "forward"
        guard let direction = Direction(rawValue: dirName) else { throw r.fail("\(ctx).direction \"\(dirName)\" is not forward, reverse or bidirectional") }
        var spec = LayerSpec(cell: cell, inputSize: try r.int(o["input_size"], "\(ctx).input_size"),
                             hiddenSize: try r.int(o["hidden_size"], "\(ctx).hidden_size"), direction: direction)
        spec.hasBias = try r.optionalBool(o["bias"], "\(ctx).bias") ?? true
        if let acts = o["activations"] {
            spec.activations = try r.array(acts, "\(ctx).activations").enumerated().map { d, list in
                try r.array(list, "\(ctx).activations[\(d)]").enumerated().map { k, a in
                    let ao = try r.object(a, "\(ctx).activations[\(d)][\(k)]")
                    let name = try r.string(ao["kind"], "\(ctx).activations[\(d)][\(k)].kind")
                    guard let kind = ActivationKind(rawValue: name) else { throw r.fail("\(ctx).activations[\(d)][\(k)]: unknown activation \"\(name)\"") }
                    return Activation(kind, alpha: try r.optionalDouble(ao["alpha"], "alpha"), beta: try r.optionalDouble(ao["beta"], "beta"))
                }
            }
        }
        if let ps = o["peepholes"] {
            for p in try r.array(ps, "\(ctx).peepholes") {
                guard let s = p as? String, let g = PeepholeGate(rawValue: s) else { throw r.fail("\(ctx).peepholes: \(p) is not input, forget or output") }
                spec.lstm.peepholes.insert(g)
            }
        }
        spec.lstm.coupled = try r.optionalBool(o["coupled"], "\(ctx).coupled") ?? false
        spec.lstm.projectionSize = try r.optionalInt(o["projection_size"], "\(ctx).projection_size")
        spec.lstm.cellClip = try r.optionalDouble(o["cell_clip"], "\(ctx).cell_clip")
        spec.lstm.projectionClip = try r.optionalDouble(o["projection_clip"], "\(ctx).projection_clip")
        spec.activationClip = try r.optionalDouble(o["activation_clip"], "\(ctx).activation_clip")
        if cell == .gru {
            guard let ra = try r.optionalBool(o["reset_after"], "\(ctx).reset_after") else {
                throw r.fail("\(ctx): a GRU layer must say reset_after (true: PyTorch/cuDNN form, false: Cho et al. form)")
            }
            spec.resetAfter = ra
        }
        spec.hasInitialState = try r.optionalBool(o["initial_state"], "\(ctx).initial_state") ?? false
        spec.unknownFields = try r.unknown(o["unknown_fields"], "\(ctx).unknown_fields")
        let tensorsObj = try r.object(o["tensors"] as Any, "\(ctx).tensors")
        var passes: [[TensorRole: ModelTensor]] = []
        for pass in direction.passes {
            var dict: [TensorRole: ModelTensor] = [:]
            if let po = tensorsObj[pass.rawValue] {
                for (key, tv) in try r.object(po, "\(ctx).tensors.\(pass.rawValue)") {
                    guard let role = TensorRole(rawValue: key) else { throw r.fail("\(ctx).tensors.\(pass.rawValue): unknown tensor role \"\(key)\"") }
                    dict[role] = try decodeTensor(try r.object(tv, "\(ctx).tensors.\(pass.rawValue).\(key)"),
                                                  "\(ctx).tensors.\(pass.rawValue).\(key)", r)
                }
            }
            passes.append(dict)
        }
        for key in tensorsObj.keys where Pass(rawValue: key) == nil || !direction.passes.contains(Pass(rawValue: key)!) {
            throw r.fail("\(ctx).tensors: a \(direction.rawValue) layer has no \"\(key)\" pass")
        }
        return Layer(spec: spec, passes: passes)
    }

    static func decodeTensor(_ o: [String: Any], _ ctx: String, _ r: JSONReader) throws -> ModelTensor {
        guard let dtype = DType(rawValue: try r.string(o["dtype"], "\(ctx).dtype")) else { throw r.fail("\(ctx).dtype must be float32, float16, bfloat16 or float64") }
        let shape = try r.array(o["shape"], "\(ctx).shape").map { try r.int($0, "\(ctx).shape") }
        let encName = try r.optionalString(o["encoding"], "\(ctx).encoding") ?? "raw"
        guard let enc = Encoding(rawValue: encName) else { throw r.fail("\(ctx).encoding \"\(encName)\" is not raw, zlib or shuffle_zlib") }
        let count = try checkedProduct(shape, what: ctx)
        var t: ModelTensor
        if let hexText = o["bits_hex"] {
            guard let s = hexText as? String, let bytes = parseHex(s) else { throw r.fail("\(ctx).bits_hex is not a hex string") }
            t = try ModelTensor(dtype: dtype, shape: shape, bytes: bytes, encoding: enc)
        } else {
            let vals = try r.array(o["values"], "\(ctx).values")
            guard vals.count == count else { throw r.fail("\(ctx): \(vals.count) values for shape \(shape) (\(count) elements)") }
            let doubles = try vals.enumerated().map { k, v in try r.element(v, "\(ctx).values[\(k)]") }
            t = ModelTensor(doubles, shape: shape, dtype: dtype, encoding: enc)
        }
        t.unknownFields = try r.unknown(o["unknown_fields"], "\(ctx).unknown_fields")
        return t
    }
}

/// Typed access to a parsed JSON tree (StrictJSON.Value.foundationValue) with errors that name the field.
struct JSONReader {
    let path: String

    func fail(_ s: String) -> LSTMError { LSTMError(.invalidInput, "\(path): \(s)") }

    func object(_ v: Any?, _ what: String) throws -> [String: Any] {
        guard let o = v as? [String: Any] else { throw fail("\(what) must be an object") }
        return o
    }
    func array(_ v: Any?, _ what: String) throws -> [Any] {
        guard let a = v as? [Any] else { throw fail("\(what) must be an array") }
        return a
    }
    func string(_ v: Any?, _ what: String) throws -> String {
        guard let s = v as? String else { throw fail("\(what) must be a string") }
        return s
    }
    func optionalString(_ v: Any?, _ what: String) throws -> String? {
        if v == nil || v is NSNull { return nil }
        return try string(v, what)
    }
    func isBool(_ v: Any) -> Bool {
        if let n = v as? NSNumber { return String(cString: n.objCType) == "c" || type(of: v) == Bool.self }
        return v is Bool
    }
    func optionalBool(_ v: Any?, _ what: String) throws -> Bool? {
        if v == nil || v is NSNull { return nil }
        guard let b = v as? Bool, isBool(v!) else { throw fail("\(what) must be true or false") }
        return b
    }
    func int(_ v: Any?, _ what: String) throws -> Int {
        guard let v, !isBool(v), let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0, i <= Int(Int32.max) else {
            throw fail("\(what) must be a non-negative integer")
        }
        return i
    }
    func optionalInt(_ v: Any?, _ what: String) throws -> Int? {
        if v == nil || v is NSNull { return nil }
        return try int(v, what)
    }
    func optionalDouble(_ v: Any?, _ what: String) throws -> Double? {
        if v == nil || v is NSNull { return nil }
        return try element(v!, what)
    }
    func element(_ v: Any, _ what: String) throws -> Double {
        if let s = v as? String {
            switch s {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: throw fail("\(what): \"\(s)\" is not a number (nan, inf and -inf are the only strings allowed)")
            }
        }
        guard !isBool(v), let n = v as? NSNumber else { throw fail("\(what) must be a number") }
        return n.doubleValue
    }
    func unknown(_ v: Any?, _ what: String) throws -> [UnknownField] {
        guard let v else { return [] }
        return try array(v, what).enumerated().map { i, f in
            let o = try object(f, "\(what)[\(i)]")
            guard let tag = o["tag"] as? NSNumber, let wt = o["wire_type"] as? NSNumber,
                  let h = o["data_hex"] as? String, let data = parseHex(h),
                  let tagValue = UInt32(exactly: tag.doubleValue), tagValue > 0, let wire = UInt8(exactly: wt.doubleValue)
            else { throw fail("\(what)[\(i)] must be {tag, wire_type, data_hex}") }
            return UnknownField(tag: tagValue, wireType: wire, data: data)
        }
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

func parseHex(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    func nib(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
    var out = [UInt8]()
    out.reserveCapacity(u.count / 2)
    var i = 0
    while i < u.count {
        guard let h = nib(u[i]), let l = nib(u[i + 1]) else { return nil }
        out.append(h << 4 | l)
        i += 2
    }
    return out
}

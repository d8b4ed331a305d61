import CLSTMProto
import CLSTMSupport
import CProtobufC
import LSTMCore

// Plain Swift values for the part of ONNX's ModelProto that lstmtool reads and writes
// (schema/onnx_subset.proto). The converters in LSTMKit work on these and never see
// protobuf-c. Unknown fields are dropped on decode: lstmtool imports, it does not edit.

/// ONNX TensorProto.DataType numbers (onnx.proto).
public enum ONNXDataType {
    public static let float: Int32 = 1
    public static let int32: Int32 = 6
    public static let int64: Int32 = 7
    public static let float16: Int32 = 10
    public static let double: Int32 = 11
    public static let bfloat16: Int32 = 16
}

public struct ONNXTensorProto: Equatable, Sendable {
    public var name: String
    public var dims: [Int64]
    public var dataType: Int32
    public var rawData: [UInt8]?
    public var floatData: [Float]
    public var int32Data: [Int32]
    public var int64Data: [Int64]
    public var doubleData: [Double]
    public var uint64Data: [UInt64]
    /// `external_data` key/value pairs (location, offset, length, checksum).
    public var externalData: [(key: String, value: String)]
    /// True when data_location is EXTERNAL.
    public var isExternal: Bool

    public init(name: String, dims: [Int64], dataType: Int32, rawData: [UInt8]? = nil, floatData: [Float] = [],
                int32Data: [Int32] = [], int64Data: [Int64] = [], doubleData: [Double] = [], uint64Data: [UInt64] = [],
                externalData: [(key: String, value: String)] = [], isExternal: Bool = false) {
        self.name = name
        self.dims = dims
        self.dataType = dataType
        self.rawData = rawData
        self.floatData = floatData
        self.int32Data = int32Data
        self.int64Data = int64Data
        self.doubleData = doubleData
        self.uint64Data = uint64Data
        self.externalData = externalData
        self.isExternal = isExternal
    }

    public static func == (a: ONNXTensorProto, b: ONNXTensorProto) -> Bool {
        a.name == b.name && a.dims == b.dims && a.dataType == b.dataType && a.rawData == b.rawData
            && a.floatData.map(\.bitPattern) == b.floatData.map(\.bitPattern) && a.int32Data == b.int32Data
            && a.int64Data == b.int64Data && a.doubleData.map(\.bitPattern) == b.doubleData.map(\.bitPattern)
            && a.uint64Data == b.uint64Data && a.externalData.map(\.key) == b.externalData.map(\.key)
            && a.externalData.map(\.value) == b.externalData.map(\.value) && a.isExternal == b.isExternal
    }
}

/// An attribute: `type` is the AttributeType number; the field matching it holds the value.
public struct ONNXAttribute: Equatable, Sendable {
    public enum Kind: Int32, Sendable {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5, floats = 6, ints = 7, strings = 8
        case tensors = 9, graphs = 10, sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
    }
    public var name: String
    /// The declared type; nil when the number is not one ONNX defines.
    public var kind: Kind?
    public var f: Float?
    public var i: Int64?
    public var s: [UInt8]?
    public var t: ONNXTensorProto?
    public var floats: [Float]
    public var ints: [Int64]
    public var strings: [[UInt8]]

    public init(name: String, kind: Kind?, f: Float? = nil, i: Int64? = nil, s: [UInt8]? = nil, t: ONNXTensorProto? = nil,
                floats: [Float] = [], ints: [Int64] = [], strings: [[UInt8]] = []) {
        self.name = name
        self.kind = kind
        self.f = f
        self.i = i
        self.s = s
        self.t = t
        self.floats = floats
        self.ints = ints
        self.strings = strings
    }

    public static func int(_ name: String, _ v: Int64) -> ONNXAttribute { ONNXAttribute(name: name, kind: .int, i: v) }
    public static func float(_ name: String, _ v: Float) -> ONNXAttribute { ONNXAttribute(name: name, kind: .float, f: v) }
    public static func string(_ name: String, _ v: String) -> ONNXAttribute { ONNXAttribute(name: name, kind: .string, s: Array(v.utf8)) }
    public static func ints(_ name: String, _ v: [Int64]) -> ONNXAttribute { ONNXAttribute(name: name, kind: .ints, ints: v) }
    public static func floats(_ name: String, _ v: [Float]) -> ONNXAttribute { ONNXAttribute(name: name, kind: .floats, floats: v) }
    public static func strings(_ name: String, _ v: [String]) -> ONNXAttribute {
        ONNXAttribute(name: name, kind: .strings, strings: v.map { Array($0.utf8) })
    }
    public static func tensor(_ name: String, _ v: ONNXTensorProto) -> ONNXAttribute { ONNXAttribute(name: name, kind: .tensor, t: v) }
}

public struct ONNXNode: Equatable, Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String], attributes: [ONNXAttribute] = []) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }
}

/// A graph input or output: a name, an element type and a shape of fixed or named sizes.
public struct ONNXValueInfo: Equatable, Sendable {
    public enum Dim: Equatable, Sendable {
        case value(Int64)
        case param(String)
        case unknown
    }
    public var name: String
    public var elemType: Int32?
    public var shape: [Dim]?

    public init(name: String, elemType: Int32?, shape: [Dim]?) {
        self.name = name
        self.elemType = elemType
        self.shape = shape
    }
}

public struct ONNXGraph: Equatable, Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    public var initializers: [ONNXTensorProto]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]

    public init(name: String, nodes: [ONNXNode], initializers: [ONNXTensorProto], inputs: [ONNXValueInfo], outputs: [ONNXValueInfo]) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }
}

public struct ONNXModelProto: Equatable, Sendable {
    public var irVersion: Int64?
    public var producerName: String?
    public var producerVersion: String?
    public var domain: String?
    public var modelVersion: Int64?
    public var docString: String?
    public var opsetImports: [(domain: String, version: Int64)]
    public var metadataProps: [(key: String, value: String)]
    public var graph: ONNXGraph?

    public init(irVersion: Int64? = nil, producerName: String? = nil, producerVersion: String? = nil, domain: String? = nil,
                modelVersion: Int64? = nil, docString: String? = nil, opsetImports: [(domain: String, version: Int64)] = [],
                metadataProps: [(key: String, value: String)] = [], graph: ONNXGraph? = nil) {
        self.irVersion = irVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.opsetImports = opsetImports
        self.metadataProps = metadataProps
        self.graph = graph
    }

    public static func == (a: ONNXModelProto, b: ONNXModelProto) -> Bool {
        a.irVersion == b.irVersion && a.producerName == b.producerName && a.producerVersion == b.producerVersion
            && a.domain == b.domain && a.modelVersion == b.modelVersion && a.docString == b.docString
            && a.opsetImports.map(\.domain) == b.opsetImports.map(\.domain) && a.opsetImports.map(\.version) == b.opsetImports.map(\.version)
            && a.metadataProps.map(\.key) == b.metadataProps.map(\.key) && a.metadataProps.map(\.value) == b.metadataProps.map(\.value)
            && a.graph == b.graph
    }
}

/// Packs and unpacks ONNX ModelProto messages with protobuf-c.
public enum ONNXCodec {
    /// protobuf-c cannot unpack a length-delimited field of 2 GiB or more, and ONNX itself
    /// keeps models under 2 GiB (larger weights go to external data files).
    public static let maxModelBytes = Int(Int32.max)

    /// Decodes a serialized ModelProto. `context` (usually the file name) starts every error.
    public static func decode(_ bytes: [UInt8], context: String) throws -> ONNXModelProto {
        guard !bytes.isEmpty else { throw LSTMError(.truncated, "\(context): empty file, not an ONNX model") }
        guard bytes.count < maxModelBytes else {
            throw LSTMError(.unsupported, "\(context): \(bytes.count) bytes is more than protobuf-c can read (2 GiB); keep weights in external data")
        }
        // A legitimate model needs about its own size once unpacked (raw_data is copied);
        // the budget stops inputs built to make protobuf-c allocate far more than that.
        let budget = BudgetAllocator(budget: bytes.count * 8 + (16 << 20))
        let allocator = budget.pointer
        let msg = bytes.withUnsafeBufferPointer { buf in
            lstmtool__onnx__model_proto__unpack(allocator, buf.count, buf.baseAddress)
        }
        guard let msg else {
            if budget.exhausted {
                throw LSTMError(.malformedHeader, "\(context): an ONNX model of \(bytes.count) bytes needs more memory than it could legitimately use (refused)")
            }
            throw LSTMError(.malformedHeader, "\(context): not a valid ONNX model (the \(bytes.count)-byte protobuf does not parse)")
        }
        defer { lstmtool__onnx__model_proto__free_unpacked(msg, allocator) }
        do {
            return try decodeModel(msg.pointee)
        } catch let CodecError.malformed(s) {
            throw LSTMError(.malformedHeader, "\(context): \(s)")
        }
    }

    private static func decodeModel(_ m: Lstmtool__Onnx__ModelProto) throws -> ONNXModelProto {
        var out = ONNXModelProto()
        if m.has_ir_version != 0 { out.irVersion = m.ir_version }
        out.producerName = try str(m.producer_name, "producer_name")
        out.producerVersion = try str(m.producer_version, "producer_version")
        out.domain = try str(m.domain, "domain")
        if m.has_model_version != 0 { out.modelVersion = m.model_version }
        out.docString = try str(m.doc_string, "doc_string")
        for i in 0..<m.n_opset_import {
            guard let p = m.opset_import[i] else { continue }
            out.opsetImports.append((try str(p.pointee.domain, "opset_import[\(i)].domain") ?? "",
                                     p.pointee.has_version != 0 ? p.pointee.version : 0))
        }
        for i in 0..<m.n_metadata_props {
            guard let p = m.metadata_props[i] else { continue }
            out.metadataProps.append((try str(p.pointee.key, "metadata_props[\(i)].key") ?? "",
                                      try str(p.pointee.value, "metadata_props[\(i)].value") ?? ""))
        }
        if let g = m.graph { out.graph = try decodeGraph(g.pointee) }
        return out
    }

    private static func decodeGraph(_ g: Lstmtool__Onnx__GraphProto) throws -> ONNXGraph {
        var nodes: [ONNXNode] = []
        for i in 0..<g.n_node {
            guard let p = g.node[i] else { continue }
            let n = p.pointee
            let ctx = "node \(i)"
            var node = ONNXNode(name: try str(n.name, "\(ctx).name") ?? "", opType: try str(n.op_type, "\(ctx).op_type") ?? "",
                                domain: try str(n.domain, "\(ctx).domain") ?? "", inputs: [], outputs: [])
            for k in 0..<n.n_input { node.inputs.append(try str(n.input[k], "\(ctx).input[\(k)]") ?? "") }
            for k in 0..<n.n_output { node.outputs.append(try str(n.output[k], "\(ctx).output[\(k)]") ?? "") }
            for k in 0..<n.n_attribute {
                guard let a = n.attribute[k] else { continue }
                node.attributes.append(try decodeAttribute(a.pointee, "\(ctx) (\(node.name)) attribute \(k)"))
            }
            nodes.append(node)
        }
        var initializers: [ONNXTensorProto] = []
        for i in 0..<g.n_initializer {
            guard let p = g.initializer[i] else { continue }
            initializers.append(try decodeTensor(p.pointee, "initializer \(i)"))
        }
        var inputs: [ONNXValueInfo] = []
        for i in 0..<g.n_input {
            guard let p = g.input[i] else { continue }
            inputs.append(try decodeValueInfo(p.pointee, "graph input \(i)"))
        }
        var outputs: [ONNXValueInfo] = []
        for i in 0..<g.n_output {
            guard let p = g.output[i] else { continue }
            outputs.append(try decodeValueInfo(p.pointee, "graph output \(i)"))
        }
        return ONNXGraph(name: try str(g.name, "graph.name") ?? "", nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs)
    }

    private static func decodeAttribute(_ a: Lstmtool__Onnx__AttributeProto, _ ctx: String) throws -> ONNXAttribute {
        let name = try str(a.name, "\(ctx).name") ?? ""
        var out = ONNXAttribute(name: name, kind: a.has_type != 0 ? ONNXAttribute.Kind(rawValue: Int32(bitPattern: a.type.rawValue)) : .undefined)
        if a.has_f != 0 { out.f = a.f }
        if a.has_i != 0 { out.i = a.i }
        if a.has_s != 0 { out.s = binary(a.s) }
        if let t = a.t { out.t = try decodeTensor(t.pointee, "attribute \(name).t") }
        out.floats = array(a.floats, a.n_floats)
        out.ints = array(a.ints, a.n_ints)
        if a.n_strings > 0, let s = a.strings {
            out.strings = (0..<a.n_strings).map { binary(s[$0]) }
        }
        return out
    }

    private static func decodeTensor(_ t: Lstmtool__Onnx__TensorProto, _ ctx: String) throws -> ONNXTensorProto {
        var out = ONNXTensorProto(name: try str(t.name, "\(ctx).name") ?? "", dims: array(t.dims, t.n_dims),
                                  dataType: t.has_data_type != 0 ? t.data_type : 0)
        if t.has_raw_data != 0 { out.rawData = binary(t.raw_data) }
        out.floatData = array(t.float_data, t.n_float_data)
        out.int32Data = array(t.int32_data, t.n_int32_data)
        out.int64Data = array(t.int64_data, t.n_int64_data)
        out.doubleData = array(t.double_data, t.n_double_data)
        out.uint64Data = array(t.uint64_data, t.n_uint64_data)
        for i in 0..<t.n_external_data {
            guard let p = t.external_data[i] else { continue }
            out.externalData.append((try str(p.pointee.key, "\(ctx).external_data[\(i)].key") ?? "",
                                     try str(p.pointee.value, "\(ctx).external_data[\(i)].value") ?? ""))
        }
        out.isExternal = t.has_data_location != 0 && t.data_location.rawValue == 1
        return out
    }

    private static func decodeValueInfo(_ v: Lstmtool__Onnx__ValueInfoProto, _ ctx: String) throws -> ONNXValueInfo {
        var out = ONNXValueInfo(name: try str(v.name, "\(ctx).name") ?? "", elemType: nil, shape: nil)
        if let tp = v.type, let tt = tp.pointee.tensor_type {
            if tt.pointee.has_elem_type != 0 { out.elemType = tt.pointee.elem_type }
            if let sp = tt.pointee.shape {
                var dims: [ONNXValueInfo.Dim] = []
                for i in 0..<sp.pointee.n_dim {
                    guard let d = sp.pointee.dim[i] else { continue }
                    if d.pointee.has_dim_value != 0 {
                        dims.append(.value(d.pointee.dim_value))
                    } else if let p = try str(d.pointee.dim_param, "\(ctx).dim_param") {
                        dims.append(.param(p))
                    } else {
                        dims.append(.unknown)
                    }
                }
                out.shape = dims
            }
        }
        return out
    }

    private static func str(_ p: UnsafeMutablePointer<CChar>?, _ what: String) throws -> String? {
        try decodeCString(p, what)
    }

    private static func binary(_ b: ProtobufCBinaryData) -> [UInt8] {
        guard b.len > 0, let d = b.data else { return [] }
        return Array(UnsafeBufferPointer(start: d, count: b.len))
    }

    private static func array<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> [T] {
        guard n > 0, let p else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: n))
    }

    // MARK: - Encoding

    /// Serializes a ModelProto. Every length-delimited field must stay under 2 GiB.
    public static func encode(_ model: ONNXModelProto) throws -> [UInt8] {
        let arena = CArena()
        var m = Lstmtool__Onnx__ModelProto()
        lstmtool__onnx__model_proto__init(&m)
        if let v = model.irVersion { m.has_ir_version = 1; m.ir_version = v }
        m.producer_name = arena.string(model.producerName)
        m.producer_version = arena.string(model.producerVersion)
        m.domain = arena.string(model.domain)
        if let v = model.modelVersion { m.has_model_version = 1; m.model_version = v }
        m.doc_string = arena.string(model.docString)
        let opsets: [Lstmtool__Onnx__OperatorSetIdProto] = model.opsetImports.map { o in
            var e = Lstmtool__Onnx__OperatorSetIdProto()
            lstmtool__onnx__operator_set_id_proto__init(&e)
            e.domain = arena.string(o.domain)
            e.has_version = 1
            e.version = o.version
            return e
        }
        m.n_opset_import = opsets.count
        m.opset_import = opsets.isEmpty ? nil : arena.pointerArray(opsets)
        let props = model.metadataProps.map { entry($0.key, $0.value, arena) }
        m.n_metadata_props = props.count
        m.metadata_props = props.isEmpty ? nil : arena.pointerArray(props)
        if let g = model.graph {
            let gp = arena.allocate(Lstmtool__Onnx__GraphProto.self, count: 1)
            gp.initialize(to: try encodeGraph(g, arena))
            m.graph = gp
        }
        let size = withUnsafePointer(to: &m) { lstmtool__onnx__model_proto__get_packed_size($0) }
        guard size < maxModelBytes else {
            throw LSTMError(.unsupported, "the ONNX model would be \(size) bytes; protobuf limits a model to 2 GiB")
        }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBufferPointer { buf in
            withUnsafePointer(to: &m) { lstmtool__onnx__model_proto__pack($0, buf.baseAddress) }
        }
        precondition(written == size, "protobuf-c packed a different size than it announced")
        return out
    }

    private static func entry(_ key: String, _ value: String, _ arena: CArena) -> Lstmtool__Onnx__StringStringEntryProto {
        var e = Lstmtool__Onnx__StringStringEntryProto()
        lstmtool__onnx__string_string_entry_proto__init(&e)
        e.key = arena.string(key)
        e.value = arena.string(value)
        return e
    }

    private static func encodeGraph(_ g: ONNXGraph, _ arena: CArena) throws -> Lstmtool__Onnx__GraphProto {
        var gp = Lstmtool__Onnx__GraphProto()
        lstmtool__onnx__graph_proto__init(&gp)
        gp.name = arena.string(g.name)
        let nodes: [Lstmtool__Onnx__NodeProto] = try g.nodes.map { n in
            var e = Lstmtool__Onnx__NodeProto()
            lstmtool__onnx__node_proto__init(&e)
            e.name = n.name.isEmpty ? nil : arena.string(n.name)
            e.op_type = arena.string(n.opType)
            e.domain = n.domain.isEmpty ? nil : arena.string(n.domain)
            e.n_input = n.inputs.count
            e.input = stringArray(n.inputs, arena)
            e.n_output = n.outputs.count
            e.output = stringArray(n.outputs, arena)
            let attrs = try n.attributes.map { try encodeAttribute($0, arena) }
            e.n_attribute = attrs.count
            e.attribute = attrs.isEmpty ? nil : arena.pointerArray(attrs)
            return e
        }
        gp.n_node = nodes.count
        gp.node = nodes.isEmpty ? nil : arena.pointerArray(nodes)
        let inits = try g.initializers.map { try encodeTensor($0, arena) }
        gp.n_initializer = inits.count
        gp.initializer = inits.isEmpty ? nil : arena.pointerArray(inits)
        let ins = g.inputs.map { encodeValueInfo($0, arena) }
        gp.n_input = ins.count
        gp.input = ins.isEmpty ? nil : arena.pointerArray(ins)
        let outs = g.outputs.map { encodeValueInfo($0, arena) }
        gp.n_output = outs.count
        gp.output = outs.isEmpty ? nil : arena.pointerArray(outs)
        return gp
    }

    private static func stringArray(_ values: [String], _ arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard !values.isEmpty else { return nil }
        let arr = arena.allocate(UnsafeMutablePointer<CChar>?.self, count: values.count)
        for (i, v) in values.enumerated() { arr[i] = arena.string(v) }
        return arr
    }

    private static func binaryData(_ b: [UInt8], _ arena: CArena) throws -> ProtobufCBinaryData {
        guard b.count < maxModelBytes else { throw LSTMError(.unsupported, "a field of \(b.count) bytes is over protobuf's 2 GiB limit") }
        return ProtobufCBinaryData(len: b.count, data: arena.bytes(b))
    }

    private static func copy<T>(_ values: [T], _ arena: CArena) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let p = arena.allocate(T.self, count: values.count)
        for (i, v) in values.enumerated() { p[i] = v }
        return p
    }

    private static func encodeAttribute(_ a: ONNXAttribute, _ arena: CArena) throws -> Lstmtool__Onnx__AttributeProto {
        var e = Lstmtool__Onnx__AttributeProto()
        lstmtool__onnx__attribute_proto__init(&e)
        e.name = arena.string(a.name)
        if let k = a.kind {
            e.has_type = 1
            e.type = Lstmtool__Onnx__AttributeProto__AttributeType(rawValue: UInt32(k.rawValue))
        }
        if let f = a.f { e.has_f = 1; e.f = f }
        if let i = a.i { e.has_i = 1; e.i = i }
        if let s = a.s { e.has_s = 1; e.s = try binaryData(s, arena) }
        if let t = a.t {
            let tp = arena.allocate(Lstmtool__Onnx__TensorProto.self, count: 1)
            tp.initialize(to: try encodeTensor(t, arena))
            e.t = tp
        }
        e.n_floats = a.floats.count
        e.floats = copy(a.floats, arena)
        e.n_ints = a.ints.count
        e.ints = copy(a.ints, arena)
        let strs = try a.strings.map { try binaryData($0, arena) }
        e.n_strings = strs.count
        e.strings = copy(strs, arena)
        return e
    }

    private static func encodeTensor(_ t: ONNXTensorProto, _ arena: CArena) throws -> Lstmtool__Onnx__TensorProto {
        var e = Lstmtool__Onnx__TensorProto()
        lstmtool__onnx__tensor_proto__init(&e)
        e.name = arena.string(t.name)
        e.n_dims = t.dims.count
        e.dims = copy(t.dims, arena)
        e.has_data_type = 1
        e.data_type = t.dataType
        if let r = t.rawData { e.has_raw_data = 1; e.raw_data = try binaryData(r, arena) }
        e.n_float_data = t.floatData.count
        e.float_data = copy(t.floatData, arena)
        e.n_int32_data = t.int32Data.count
        e.int32_data = copy(t.int32Data, arena)
        e.n_int64_data = t.int64Data.count
        e.int64_data = copy(t.int64Data, arena)
        e.n_double_data = t.doubleData.count
        e.double_data = copy(t.doubleData, arena)
        e.n_uint64_data = t.uint64Data.count
        e.uint64_data = copy(t.uint64Data, arena)
        let ext = t.externalData.map { entry($0.key, $0.value, arena) }
        e.n_external_data = ext.count
        e.external_data = ext.isEmpty ? nil : arena.pointerArray(ext)
        if t.isExternal {
            e.has_data_location = 1
            e.data_location = Lstmtool__Onnx__TensorProto__DataLocation(rawValue: 1)
        }
        return e
    }

    private static func encodeValueInfo(_ v: ONNXValueInfo, _ arena: CArena) -> Lstmtool__Onnx__ValueInfoProto {
        var e = Lstmtool__Onnx__ValueInfoProto()
        lstmtool__onnx__value_info_proto__init(&e)
        e.name = arena.string(v.name)
        var tt = Lstmtool__Onnx__TypeProto__Tensor()
        lstmtool__onnx__type_proto__tensor__init(&tt)
        if let et = v.elemType { tt.has_elem_type = 1; tt.elem_type = et }
        if let shape = v.shape {
            var sp = Lstmtool__Onnx__TensorShapeProto()
            lstmtool__onnx__tensor_shape_proto__init(&sp)
            let dims: [Lstmtool__Onnx__TensorShapeProto__Dimension] = shape.map { d in
                var dm = Lstmtool__Onnx__TensorShapeProto__Dimension()
                lstmtool__onnx__tensor_shape_proto__dimension__init(&dm)
                switch d {
                case .value(let x): dm.has_dim_value = 1; dm.dim_value = x
                case .param(let p): dm.dim_param = arena.string(p)
                case .unknown: break
                }
                return dm
            }
            sp.n_dim = dims.count
            sp.dim = dims.isEmpty ? nil : arena.pointerArray(dims)
            let spp = arena.allocate(Lstmtool__Onnx__TensorShapeProto.self, count: 1)
            spp.initialize(to: sp)
            tt.shape = spp
        }
        let ttp = arena.allocate(Lstmtool__Onnx__TypeProto__Tensor.self, count: 1)
        ttp.initialize(to: tt)
        var tp = Lstmtool__Onnx__TypeProto()
        lstmtool__onnx__type_proto__init(&tp)
        tp.tensor_type = ttp
        let tpp = arena.allocate(Lstmtool__Onnx__TypeProto.self, count: 1)
        tpp.initialize(to: tp)
        e.type = tpp
        return e
    }
}

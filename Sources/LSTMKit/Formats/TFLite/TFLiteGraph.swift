import LSTMCore

/// A TFLite model under construction: buffers, operator codes and subgraphs, with helpers that
/// add tensors and operators by index. `encode()` packs it through the generated writers.
struct TFLiteGraphBuilder {
    typealias Op = Int32
    var model = TFLModel()
    private(set) var buffers: [TFLBuffer] = [TFLBuffer()]  // buffer 0: the empty sentinel
    private var codeIndex: [Int32: UInt32] = [:]
    private(set) var codes: [TFLOperatorCode] = []
    var subgraphs: [TFLSubGraph] = []

    /// Adds an empty subgraph and returns its index.
    mutating func addSubgraph(name: String) -> Int {
        var g = TFLSubGraph()
        g.name = name
        g.tensors = []
        g.operators = []
        g.inputs = []
        g.outputs = []
        subgraphs.append(g)
        return subgraphs.count - 1
    }

    mutating func setIO(_ g: Int, inputs: [Int32], outputs: [Int32]) {
        subgraphs[g].inputs = inputs
        subgraphs[g].outputs = outputs
    }

    /// A tensor of subgraph `g`; `signature` marks dimensions that may change (-1).
    mutating func tensor(_ g: Int, _ name: String, _ shape: [Int], type: Int8 = TFLTensorType.float32,
                         signature: [Int]? = nil, variable: Bool = false, data: [UInt8]? = nil) -> Int32 {
        var t = TFLTensor()
        t.name = name
        t.shape = shape.map { Int32($0) }
        t.type = type
        if let signature { t.shapeSignature = signature.map { Int32($0) } }
        if variable { t.isVariable = true }
        if let data {
            var b = TFLBuffer()
            b.data = data
            buffers.append(b)
            t.buffer = UInt32(buffers.count - 1)
        } else {
            t.buffer = 0
        }
        subgraphs[g].tensors!.append(t)
        return Int32(subgraphs[g].tensors!.count - 1)
    }

    mutating func floats(_ g: Int, _ name: String, _ v: [Float], _ shape: [Int]) -> Int32 {
        var b: [UInt8] = []
        b.reserveCapacity(4 * v.count)
        for x in v { x.store(&b) }
        return tensor(g, name, shape, data: b)
    }

    mutating func ints(_ g: Int, _ name: String, _ v: [Int32], _ shape: [Int]? = nil) -> Int32 {
        var b: [UInt8] = []
        for x in v { x.store(&b) }
        return tensor(g, name, shape ?? [v.count], type: TFLTensorType.int32, data: b)
    }

    mutating func op(_ g: Int, _ code: Int32, _ inputs: [Int32], _ outputs: [Int32], _ options: TFLBuiltinOptions? = nil) {
        let idx: UInt32
        if let i = codeIndex[code] {
            idx = i
        } else {
            var c = TFLOperatorCode()
            c.builtinCode = code
            c.deprecatedBuiltinCode = Int8(min(code, 127))
            c.version = 1
            codes.append(c)
            idx = UInt32(codes.count - 1)
            codeIndex[code] = idx
        }
        var o = TFLOperator()
        o.opcodeIndex = idx
        o.inputs = inputs
        o.outputs = outputs
        o.builtinOptions = options
        subgraphs[g].operators!.append(o)
    }

    /// The `.tflite` bytes: a FlatBuffer with identifier `TFL3`, schema version 3.
    func encode(description: String) throws -> [UInt8] {
        var m = model
        m.version = 3
        m.operatorCodes = codes
        m.subgraphs = subgraphs
        m.description = description
        m.buffers = buffers
        let total = buffers.reduce(0) { $0 + ($1.data?.count ?? 0) }
        guard total < Int(Int32.max) - (1 << 24) else {
            throw LSTMError(.unsupported, "cannot export to TFLite: \(total) bytes of weights do not fit a FlatBuffer (2 GiB)")
        }
        var b = FBBuilder(capacity: total + 65536)
        let root = m.write(&b)
        return b.finish(root: root, identifier: "TFL3")
    }
}

import CLSTMProto
import CLSTMSupport
import CProtobufC
import LSTMCore

/// One tensor's entry in the header: where its bytes are and how they are encoded.
public struct TensorEntry: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var encoding: Encoding
    public var offset: Int
    public var storedSize: Int
    public var rawSize: Int
    public var crc32: UInt32
    public var unknownFields: [UnknownField]

    public init(name: String, dtype: DType, shape: [Int], encoding: Encoding, offset: Int, storedSize: Int,
                rawSize: Int, crc32: UInt32, unknownFields: [UnknownField] = []) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.encoding = encoding
        self.offset = offset
        self.storedSize = storedSize
        self.rawSize = rawSize
        self.crc32 = crc32
        self.unknownFields = unknownFields
    }
}

/// The decoded header message: metadata, layer descriptions and the tensor table.
public struct HeaderRecord: Equatable, Sendable {
    public var metadata: Metadata
    public var layers: [LayerSpec]
    public var tensors: [TensorEntry]
    public var unknownFields: [UnknownField]

    public init(metadata: Metadata, layers: [LayerSpec], tensors: [TensorEntry], unknownFields: [UnknownField] = []) {
        self.metadata = metadata
        self.layers = layers
        self.tensors = tensors
        self.unknownFields = unknownFields
    }
}

/// Packs and unpacks the header protobuf (schema/lstmtool.proto) with protobuf-c.
public enum HeaderCodec {
    /// Largest header accepted or written; protobuf-c itself breaks at 2 GiB.
    public static let maxHeaderBytes = 64 << 20

    public static func encode(_ h: HeaderRecord) throws -> [UInt8] {
        let arena = CArena()
        var msg = Lstmtool__V1__Header()
        lstmtool__v1__header__init(&msg)
        arena.attachUnknownFields(h.unknownFields.map { ($0.tag, $0.wireType, $0.data) }, to: &msg.base)

        var meta = Lstmtool__V1__Metadata()
        lstmtool__v1__metadata__init(&meta)
        let m = h.metadata
        meta.name = arena.string(m.name)
        meta.description = arena.string(m.description)
        meta.producer_name = arena.string(m.producerName)
        meta.producer_version = arena.string(m.producerVersion)
        meta.source_framework = arena.string(m.sourceFramework)
        meta.source_file = arena.string(m.sourceFile)
        meta.created = arena.string(m.created)
        let kvs: [Lstmtool__V1__KeyValue] = m.properties.map { kv in
            var e = Lstmtool__V1__KeyValue()
            lstmtool__v1__key_value__init(&e)
            e.key = arena.string(kv.key)
            e.value = arena.string(kv.value)
            return e
        }
        meta.n_properties = kvs.count
        meta.properties = kvs.isEmpty ? nil : arena.pointerArray(kvs)
        arena.attachUnknownFields(m.unknownFields.map { ($0.tag, $0.wireType, $0.data) }, to: &meta.base)
        let metaPtr = arena.allocate(Lstmtool__V1__Metadata.self, count: 1)
        metaPtr.initialize(to: meta)
        msg.metadata = metaPtr

        let layers: [Lstmtool__V1__Layer] = h.layers.map { encodeLayer($0, arena) }
        msg.n_layers = layers.count
        msg.layers = layers.isEmpty ? nil : arena.pointerArray(layers)

        let tensors: [Lstmtool__V1__Tensor] = h.tensors.map { t in
            var e = Lstmtool__V1__Tensor()
            lstmtool__v1__tensor__init(&e)
            e.name = arena.string(t.name)
            e.has_dtype = 1
            e.dtype = encodeDType(t.dtype)
            e.n_shape = t.shape.count
            let shape = arena.allocate(UInt64.self, count: t.shape.count)
            for (i, d) in t.shape.enumerated() { shape[i] = UInt64(d) }
            e.shape = shape
            e.has_encoding = 1
            e.encoding = encodeEncoding(t.encoding)
            e.has_offset = 1
            e.offset = UInt64(t.offset)
            e.has_stored_size = 1
            e.stored_size = UInt64(t.storedSize)
            e.has_raw_size = 1
            e.raw_size = UInt64(t.rawSize)
            e.has_crc32 = 1
            e.crc32 = t.crc32
            arena.attachUnknownFields(t.unknownFields.map { ($0.tag, $0.wireType, $0.data) }, to: &e.base)
            return e
        }
        msg.n_tensors = tensors.count
        msg.tensors = tensors.isEmpty ? nil : arena.pointerArray(tensors)

        let size = withUnsafePointer(to: &msg) { lstmtool__v1__header__get_packed_size($0) }
        guard size <= maxHeaderBytes else {
            throw LSTMError(.unsupported, "the header would be \(size) bytes, more than the \(maxHeaderBytes) allowed")
        }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBufferPointer { buf in
            withUnsafePointer(to: &msg) { lstmtool__v1__header__pack($0, buf.baseAddress) }
        }
        precondition(written == size, "protobuf-c packed a different size than it announced")
        // Never write a header a reader must refuse (a NUL in a string, more properties or
        // unknown fields than the counts allow, a duplicate property key: FORMAT.md W1–W9, H5).
        do {
            _ = try out.withUnsafeBytes { try HeaderWire.check($0) }
        } catch let e as LSTMError {
            throw LSTMError(.invalidModel, "this model cannot be written as .lstm: \(e.message)")
        }
        let md = h.metadata
        let strings = [md.name, md.description, md.producerName, md.producerVersion, md.sourceFramework, md.sourceFile, md.created]
            .compactMap { $0 } + md.properties.flatMap { [$0.key, $0.value] }
        if let bad = strings.first(where: { $0.utf8.contains(0) }) {
            throw LSTMError(.invalidModel, "this model cannot be written as .lstm: the metadata string \"\(bad.prefix(40))…\" contains a NUL character (FORMAT.md W8)")
        }
        var keys = Set<String>()
        for (k, _) in h.metadata.properties where !keys.insert(k).inserted {
            throw LSTMError(.invalidModel, "this model cannot be written as .lstm: the metadata property \"\(k)\" appears more than once")
        }
        return out
    }

    private static func encodeLayer(_ s: LayerSpec, _ arena: CArena) -> Lstmtool__V1__Layer {
        var l = Lstmtool__V1__Layer()
        lstmtool__v1__layer__init(&l)
        l.has_cell = 1
        l.cell = encodeCell(s.cell)
        l.has_input_size = 1
        l.input_size = UInt64(s.inputSize)
        l.has_hidden_size = 1
        l.hidden_size = UInt64(s.hiddenSize)
        l.has_direction = 1
        l.direction = encodeDirection(s.direction)
        l.has_has_bias = 1
        l.has_bias = s.hasBias ? 1 : 0
        l.has_gate_layout = 1
        l.gate_layout = encodeGateLayout(s.gateLayout)
        let acts: [Lstmtool__V1__Activation] = s.activations.flatMap { $0 }.map { a in
            var m = Lstmtool__V1__Activation()
            lstmtool__v1__activation__init(&m)
            m.has_kind = 1
            m.kind = WireEnums.activation.wire(a.kind)
            m.has_alpha = 1
            m.alpha = a.alpha
            m.has_beta = 1
            m.beta = a.beta
            return m
        }
        l.n_activations = acts.count
        l.activations = acts.isEmpty ? nil : arena.pointerArray(acts)
        if s.cell == .lstm {
            l.has_peephole_input = 1
            l.peephole_input = s.lstm.peepholes.contains(.input) ? 1 : 0
            l.has_peephole_forget = 1
            l.peephole_forget = s.lstm.peepholes.contains(.forget) ? 1 : 0
            l.has_peephole_output = 1
            l.peephole_output = s.lstm.peepholes.contains(.output) ? 1 : 0
            l.has_coupled_input_forget = 1
            l.coupled_input_forget = s.lstm.coupled ? 1 : 0
            if let p = s.lstm.projectionSize {
                l.has_projection_size = 1
                l.projection_size = UInt64(p)
            }
            if let c = s.lstm.cellClip {
                l.has_cell_clip = 1
                l.cell_clip = c
            }
            if let c = s.lstm.projectionClip {
                l.has_projection_clip = 1
                l.projection_clip = c
            }
        }
        if let c = s.activationClip {
            l.has_activation_clip = 1
            l.activation_clip = c
        }
        if s.cell == .gru {
            l.has_reset_after = 1
            l.reset_after = s.resetAfter ? 1 : 0
        }
        l.has_has_initial_state = 1
        l.has_initial_state = s.hasInitialState ? 1 : 0
        arena.attachUnknownFields(s.unknownFields.map { ($0.tag, $0.wireType, $0.data) }, to: &l.base)
        return l
    }

    /// Unpacks a header. The allocations protobuf-c makes are capped by a budget so that a
    /// small hostile header cannot allocate gigabytes; every enum, count and string is checked.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> HeaderRecord {
        guard bytes.count <= maxHeaderBytes else {
            throw LSTMError(.malformedHeader, "header of \(bytes.count) bytes is larger than the \(maxHeaderBytes) allowed")
        }
        // The wire rules and counts (FORMAT.md §7 W1–W9) are checked here, on the bytes, so
        // that what is refused never depends on protobuf-c's internals.
        let counts = try HeaderWire.check(bytes)
        // protobuf-c's allocations are bounded by what the walk counted: a message struct, an
        // unknown-field record, a repeated scalar and a copy of every byte, each with room to
        // spare. A header that passed the walk never exhausts it; the budget stays as a guard.
        let budget = BudgetAllocator(budget: bytes.count * 16 + (1 << 20) + counts.messages * 512
                                     + counts.unknownFields * 64 + counts.repeatedScalars * 16)
        let allocator = budget.pointer
        guard let msg = lstmtool__v1__header__unpack(allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {
            if budget.exhausted {
                throw LSTMError(.malformedHeader, "header of \(bytes.count) bytes needs more memory than it could legitimately use (refused)")
            }
            throw LSTMError(.malformedHeader, "header protobuf of \(bytes.count) bytes does not parse")
        }
        defer { lstmtool__v1__header__free_unpacked(msg, allocator) }
        do {
            return try decodeMessage(msg.pointee)
        } catch let CodecError.malformed(s) {
            throw LSTMError(.malformedHeader, "header: \(s)")
        }
    }

    private static func decodeMessage(_ h: Lstmtool__V1__Header) throws -> HeaderRecord {
        var metadata = Metadata()
        if let mp = h.metadata {
            let m = mp.pointee
            metadata.name = try str(m.name, "metadata.name")
            metadata.description = try str(m.description, "metadata.description")
            metadata.producerName = try str(m.producer_name, "metadata.producer_name")
            metadata.producerVersion = try str(m.producer_version, "metadata.producer_version")
            metadata.sourceFramework = try str(m.source_framework, "metadata.source_framework")
            metadata.sourceFile = try str(m.source_file, "metadata.source_file")
            metadata.created = try str(m.created, "metadata.created")
            for i in 0..<m.n_properties {
                let kv = m.properties[i]!.pointee
                metadata.properties.append((try str(kv.key, "metadata.properties[\(i)].key") ?? "",
                                            try str(kv.value, "metadata.properties[\(i)].value") ?? ""))
            }
            var keys = Set<String>()
            for (k, _) in metadata.properties where !keys.insert(k).inserted {
                throw CodecError.malformed("metadata.properties: the key \"\(k)\" appears more than once")
            }
            metadata.unknownFields = try unknown(m.base, "metadata")
        }
        var layers: [LayerSpec] = []
        for i in 0..<h.n_layers {
            layers.append(try decodeLayer(h.layers[i]!.pointee, index: i))
        }
        var tensors: [TensorEntry] = []
        for i in 0..<h.n_tensors {
            let t = h.tensors[i]!.pointee
            let ctx = "tensor \(i)"
            guard let name = try str(t.name, "\(ctx).name") else { throw CodecError.malformed("\(ctx) has no name") }
            guard t.has_dtype != 0, let dtype = decodeDType(t.dtype) else {
                throw CodecError.malformed("\(name): unknown or missing dtype (\(t.dtype.rawValue))")
            }
            guard t.has_encoding != 0, let enc = decodeEncoding(t.encoding) else {
                throw CodecError.malformed("\(name): unknown or missing encoding (\(t.encoding.rawValue))")
            }
            guard t.n_shape <= 8 else { throw CodecError.malformed("\(name): rank \(t.n_shape) is more than 8") }
            var shape: [Int] = []
            for k in 0..<t.n_shape {
                guard t.shape[k] <= UInt64(Int32.max) else { throw CodecError.malformed("\(name): dimension \(t.shape[k]) is too large") }
                shape.append(Int(t.shape[k]))
            }
            for (field, has) in [("offset", t.has_offset), ("stored_size", t.has_stored_size),
                                 ("raw_size", t.has_raw_size), ("crc32", t.has_crc32)] where has == 0 {
                throw CodecError.malformed("\(name): missing \(field)")
            }
            let limit = UInt64(Int64.max / 2)
            guard t.offset < limit, t.stored_size < limit, t.raw_size < limit else {
                throw CodecError.malformed("\(name): offset or size beyond 2^62")
            }
            tensors.append(TensorEntry(name: name, dtype: dtype, shape: shape, encoding: enc, offset: Int(t.offset),
                                       storedSize: Int(t.stored_size), rawSize: Int(t.raw_size), crc32: t.crc32,
                                       unknownFields: try unknown(t.base, name)))
        }
        return HeaderRecord(metadata: metadata, layers: layers, tensors: tensors, unknownFields: try unknown(h.base, "header"))
    }

    private static func decodeLayer(_ l: Lstmtool__V1__Layer, index: Int) throws -> LayerSpec {
        let ctx = "layer \(index)"
        guard l.has_cell != 0, let cell = decodeCell(l.cell) else {
            throw CodecError.malformed("\(ctx): unknown or missing cell family (\(l.cell.rawValue))")
        }
        guard l.has_direction != 0, let dir = decodeDirection(l.direction) else {
            throw CodecError.malformed("\(ctx): unknown or missing direction (\(l.direction.rawValue))")
        }
        guard l.has_input_size != 0, l.has_hidden_size != 0 else { throw CodecError.malformed("\(ctx): missing input_size or hidden_size") }
        guard l.input_size <= UInt64(Int32.max), l.hidden_size <= UInt64(Int32.max), l.projection_size <= UInt64(Int32.max) else {
            throw CodecError.malformed("\(ctx): a size is beyond 2^31")
        }
        guard l.n_activations <= 16 else { throw CodecError.malformed("\(ctx): \(l.n_activations) activations") }
        var flat: [Activation] = []
        for i in 0..<l.n_activations {
            let a = l.activations[i]!.pointee
            guard a.has_kind != 0, let kind = WireEnums.activation.value(a.kind) else {
                throw CodecError.malformed("\(ctx): activation \(i) has an unknown kind (\(a.kind.rawValue))")
            }
            flat.append(Activation(kind, alpha: a.has_alpha != 0 ? a.alpha : nil, beta: a.has_beta != 0 ? a.beta : nil))
        }
        let per = LayerSpec.activationCount(cell)
        guard flat.count == per * dir.count else {
            throw CodecError.malformed("\(ctx): \(flat.count) activations, a \(dir.rawValue) \(cell.rawValue) layer has \(per * dir.count)")
        }
        let acts = (0..<dir.count).map { Array(flat[($0 * per)..<(($0 + 1) * per)]) }
        var opts = LSTMOptions()
        if l.has_peephole_input != 0 && l.peephole_input != 0 { opts.peepholes.insert(.input) }
        if l.has_peephole_forget != 0 && l.peephole_forget != 0 { opts.peepholes.insert(.forget) }
        if l.has_peephole_output != 0 && l.peephole_output != 0 { opts.peepholes.insert(.output) }
        opts.coupled = l.has_coupled_input_forget != 0 && l.coupled_input_forget != 0
        if l.has_projection_size != 0 && l.projection_size > 0 { opts.projectionSize = Int(l.projection_size) }
        if l.has_cell_clip != 0 { opts.cellClip = l.cell_clip }
        if l.has_projection_clip != 0 { opts.projectionClip = l.projection_clip }
        if cell == .gru && l.has_reset_after == 0 {
            throw CodecError.malformed("\(ctx): a GRU layer must say reset_after (the two forms are different functions)")
        }
        let spec = LayerSpec(cell: cell, inputSize: Int(l.input_size), hiddenSize: Int(l.hidden_size), direction: dir,
                             hasBias: l.has_has_bias != 0 && l.has_bias != 0, activations: acts, lstm: opts,
                             activationClip: l.has_activation_clip != 0 ? l.activation_clip : nil,
                             resetAfter: cell == .gru ? l.reset_after != 0 : true,
                             hasInitialState: l.has_has_initial_state != 0 && l.has_initial_state != 0,
                             unknownFields: try unknown(l.base, ctx))
        guard l.has_gate_layout != 0, let layout = decodeGateLayout(l.gate_layout) else {
            throw CodecError.malformed("\(ctx): unknown or missing gate layout (\(l.gate_layout.rawValue))")
        }
        guard layout == spec.gateLayout else {
            throw CodecError.malformed("\(ctx): gate layout \(layout.rawValue) does not match the cell, which stores \(spec.gateLayout.rawValue)")
        }
        return spec
    }

    private static func str(_ p: UnsafeMutablePointer<CChar>?, _ what: String) throws -> String? {
        try decodeCString(p, what)
    }

    private static func unknown(_ base: ProtobufCMessage, _ ctx: String) throws -> [UnknownField] {
        try readUnknownFields(base, context: ctx).map { UnknownField(tag: $0.tag, wireType: $0.wireType, data: $0.data) }
    }

    // Enum mappings: by the schema's names (WireEnums), never by declaration order.
    static func encodeCell(_ c: CellFamily) -> Lstmtool__V1__CellFamily { WireEnums.cell.wire(c) }
    static func decodeCell(_ c: Lstmtool__V1__CellFamily) -> CellFamily? { WireEnums.cell.value(c) }
    static func encodeDirection(_ d: Direction) -> Lstmtool__V1__Direction { WireEnums.direction.wire(d) }
    static func decodeDirection(_ d: Lstmtool__V1__Direction) -> Direction? { WireEnums.direction.value(d) }
    static func encodeDType(_ d: DType) -> Lstmtool__V1__DType { WireEnums.dtype.wire(d) }
    static func decodeDType(_ d: Lstmtool__V1__DType) -> DType? { WireEnums.dtype.value(d) }
    static func encodeEncoding(_ e: Encoding) -> Lstmtool__V1__Encoding { WireEnums.encoding.wire(e) }
    static func decodeEncoding(_ e: Lstmtool__V1__Encoding) -> Encoding? { WireEnums.encoding.value(e) }
    static func encodeGateLayout(_ g: GateLayout) -> Lstmtool__V1__GateLayout { WireEnums.gateLayout.wire(g) }
    static func decodeGateLayout(_ g: Lstmtool__V1__GateLayout) -> GateLayout? { WireEnums.gateLayout.value(g) }
}

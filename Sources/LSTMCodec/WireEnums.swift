import CLSTMProto
import LSTMCore

/// Swift enum cases paired with the schema's enum constants by name. The numbers on the wire
/// are whatever schema/lstmtool.proto says (through protoc-c's constants), so reordering or
/// adding a Swift case can never change the format; a number without a pair is refused.
struct WireTable<Value: Equatable & Sendable, Wire: RawRepresentable & Sendable>: Sendable where Wire.RawValue == UInt32 {
    let pairs: [(Value, Wire)]

    func wire(_ v: Value) -> Wire {
        guard let w = pairs.first(where: { $0.0 == v })?.1 else { preconditionFailure("\(v) has no schema value") }
        return w
    }

    func value(_ w: Wire) -> Value? { pairs.first(where: { $0.1.rawValue == w.rawValue })?.0 }
}

enum WireEnums {
    static let cell = WireTable<CellFamily, Lstmtool__V1__CellFamily>(pairs: [
        (.rnn, LSTMTOOL__V1__CELL_FAMILY__CELL_FAMILY_RNN),
        (.lstm, LSTMTOOL__V1__CELL_FAMILY__CELL_FAMILY_LSTM),
        (.gru, LSTMTOOL__V1__CELL_FAMILY__CELL_FAMILY_GRU),
    ])
    static let direction = WireTable<Direction, Lstmtool__V1__Direction>(pairs: [
        (.forward, LSTMTOOL__V1__DIRECTION__DIRECTION_FORWARD),
        (.reverse, LSTMTOOL__V1__DIRECTION__DIRECTION_REVERSE),
        (.bidirectional, LSTMTOOL__V1__DIRECTION__DIRECTION_BIDIRECTIONAL),
    ])
    static let gateLayout = WireTable<GateLayout, Lstmtool__V1__GateLayout>(pairs: [
        (.rnn, LSTMTOOL__V1__GATE_LAYOUT__GATE_LAYOUT_RNN),
        (.lstmIFGO, LSTMTOOL__V1__GATE_LAYOUT__GATE_LAYOUT_LSTM_IFGO),
        (.lstmFGO, LSTMTOOL__V1__GATE_LAYOUT__GATE_LAYOUT_LSTM_FGO),
        (.gruZRN, LSTMTOOL__V1__GATE_LAYOUT__GATE_LAYOUT_GRU_ZRN),
    ])
    static let activation = WireTable<ActivationKind, Lstmtool__V1__ActivationKind>(pairs: [
        (.sigmoid, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_SIGMOID),
        (.tanh, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_TANH),
        (.relu, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_RELU),
        (.affine, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_AFFINE),
        (.leakyRelu, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_LEAKY_RELU),
        (.thresholdedRelu, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_THRESHOLDED_RELU),
        (.scaledTanh, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_SCALED_TANH),
        (.hardSigmoid, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_HARD_SIGMOID),
        (.elu, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_ELU),
        (.softsign, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_SOFTSIGN),
        (.softplus, LSTMTOOL__V1__ACTIVATION_KIND__ACTIVATION_SOFTPLUS),
    ])
    static let dtype = WireTable<DType, Lstmtool__V1__DType>(pairs: [
        (.float32, LSTMTOOL__V1__DTYPE__DTYPE_FLOAT32),
        (.float16, LSTMTOOL__V1__DTYPE__DTYPE_FLOAT16),
        (.bfloat16, LSTMTOOL__V1__DTYPE__DTYPE_BFLOAT16),
        (.float64, LSTMTOOL__V1__DTYPE__DTYPE_FLOAT64),
    ])
    static let encoding = WireTable<Encoding, Lstmtool__V1__Encoding>(pairs: [
        (.raw, LSTMTOOL__V1__ENCODING__ENCODING_RAW),
        (.zlib, LSTMTOOL__V1__ENCODING__ENCODING_ZLIB),
        (.shuffleZlib, LSTMTOOL__V1__ENCODING__ENCODING_SHUFFLE_ZLIB),
    ])
}

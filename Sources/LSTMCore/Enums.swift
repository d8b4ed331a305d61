/// The three recurrent cell families.
public enum CellFamily: String, CaseIterable, Sendable, Codable {
    case rnn, lstm, gru
}

/// Which way a layer runs over a sequence (docs/CELLS.md §7): `forward` processes
/// t = 0…L−1; `reverse` processes t = L−1…0 and stores each output at its own t;
/// `bidirectional` runs both with separate weights and outputs `[h_forward | h_reverse]`
/// (width 2P).
public enum Direction: String, CaseIterable, Sendable, Codable {
    case forward, reverse, bidirectional

    /// D, the number of passes: 2 for a bidirectional layer, else 1.
    public var count: Int { self == .bidirectional ? 2 : 1 }
    /// The processing direction of each stored weight set, in storage order.
    public var passes: [Pass] {
        switch self {
        case .forward: return [.forward]
        case .reverse: return [.reverse]
        case .bidirectional: return [.forward, .reverse]
        }
    }
}

/// One pass over the sequence; a bidirectional layer has two.
public enum Pass: String, Sendable, Codable {
    case forward, reverse
}

/// Gates that may have a peephole connection (LSTM).
public enum PeepholeGate: String, CaseIterable, Sendable, Codable, Comparable {
    case input, forget, output

    /// Input before forget before output (the order of `allCases`), so that sets of gates
    /// are listed and written in a stable order.
    public static func < (a: PeepholeGate, b: PeepholeGate) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
    /// Suffix of the tensor that holds this gate's peephole vector.
    public var tensorRole: TensorRole {
        switch self {
        case .input: return .peepholeInput
        case .forget: return .peepholeForget
        case .output: return .peepholeOutput
        }
    }
}

/// Element types a tensor may be stored in.
public enum DType: String, CaseIterable, Sendable, Codable {
    case float32, float16, bfloat16, float64

    /// Bytes per element: 4, 2, 2, 8.
    public var size: Int {
        switch self {
        case .float32: return 4
        case .float16, .bfloat16: return 2
        case .float64: return 8
        }
    }
}

/// How a tensor's bytes are stored in the blob section.
public enum Encoding: String, CaseIterable, Sendable, Codable {
    /// Little-endian element bytes as they are: the only encoding that can be memory-mapped.
    case raw
    /// A zlib stream of the raw bytes.
    case zlib
    /// Bytes regrouped by significance (all first bytes, then all second bytes, ...), then zlib.
    case shuffleZlib = "shuffle_zlib"
}

/// The role of a tensor within one pass of one layer; also the last part of its name.
public enum TensorRole: String, CaseIterable, Sendable, Codable {
    case inputWeights = "W_x"
    case recurrentWeights = "W_h"
    case inputBias = "b_x"
    case recurrentBias = "b_h"
    case peepholeInput = "p_i"
    case peepholeForget = "p_f"
    case peepholeOutput = "p_o"
    case projection = "W_proj"
    case initialHidden = "h0"
    case initialCell = "c0"
}

import Foundation
import RealModule

/// The ONNX activation set. Parameters are stored explicitly in every file.
public enum ActivationKind: String, CaseIterable, Sendable, Codable {
    case sigmoid, tanh, relu, affine
    case leakyRelu = "leaky_relu"
    case thresholdedRelu = "thresholded_relu"
    case scaledTanh = "scaled_tanh"
    case hardSigmoid = "hard_sigmoid"
    case elu, softsign, softplus

    /// The ONNX operator name (as in an `activations` attribute).
    public var onnxName: String {
        switch self {
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .relu: return "Relu"
        case .affine: return "Affine"
        case .leakyRelu: return "LeakyRelu"
        case .thresholdedRelu: return "ThresholdedRelu"
        case .scaledTanh: return "ScaledTanh"
        case .hardSigmoid: return "HardSigmoid"
        case .elu: return "Elu"
        case .softsign: return "Softsign"
        case .softplus: return "Softplus"
        }
    }

    /// The kind of an ONNX operator name, matched case-insensitively (`tanh`, `LeakyRelu`);
    /// nil for an operator outside this set.
    public init?(onnxName: String) {
        guard let k = ActivationKind.allCases.first(where: { $0.onnxName.lowercased() == onnxName.lowercased() })
        else { return nil }
        self = k
    }

    /// Whether the formula has an α (docs/CELLS.md §8): affine, leaky_relu, thresholded_relu,
    /// scaled_tanh, hard_sigmoid and elu. Other kinds ignore `alpha`.
    public var usesAlpha: Bool {
        switch self {
        case .affine, .leakyRelu, .thresholdedRelu, .scaledTanh, .hardSigmoid, .elu: return true
        default: return false
        }
    }

    /// Whether the formula has a β: affine, scaled_tanh and hard_sigmoid. Other kinds
    /// ignore `beta`.
    public var usesBeta: Bool {
        switch self {
        case .affine, .scaledTanh, .hardSigmoid: return true
        default: return false
        }
    }

    /// Defaults as onnxruntime applies them when a model gives none: LeakyRelu 0.01,
    /// HardSigmoid 0.2/0.5, Elu 1.0, everything else 0 (the ONNX spec differs for some, e.g.
    /// ThresholdedRelu 1.0; lstmtool always stores the values explicitly).
    public var defaultAlpha: Double {
        switch self {
        case .leakyRelu: return Double(Float(0.01))
        case .hardSigmoid: return Double(Float(0.2))
        case .elu: return 1.0
        default: return 0
        }
    }

    /// β when a source gives none, as onnxruntime applies it: 0.5 for hard_sigmoid, else 0.
    public var defaultBeta: Double {
        switch self {
        case .hardSigmoid: return 0.5
        default: return 0
        }
    }
}

/// An activation function with its parameters, exactly as the source gave them.
public struct Activation: Equatable, Sendable, Codable {
    /// Which function (docs/CELLS.md §8).
    public var kind: ActivationKind
    /// α as the source gave it: an ONNX float32 attribute is widened exactly, so ONNX 0.3 is
    /// 0.30000001192092896. The f32 path rounds it to `Float`. Unused unless
    /// `kind.usesAlpha`.
    public var alpha: Double
    /// β as the source gave it, like ``alpha``. Unused unless `kind.usesBeta`.
    public var beta: Double

    /// An activation of `kind`; a nil `alpha` or `beta` takes the kind's default
    /// (``ActivationKind/defaultAlpha``, ``ActivationKind/defaultBeta``).
    public init(_ kind: ActivationKind, alpha: Double? = nil, beta: Double? = nil) {
        self.kind = kind
        self.alpha = alpha ?? kind.defaultAlpha
        self.beta = beta ?? kind.defaultBeta
    }

    /// `1 / (1 + e^(−x))`, the default gate activation of LSTM and GRU.
    public static let sigmoid = Activation(.sigmoid)
    /// `tanh(x)`, the default candidate and output activation, and the RNN default.
    public static let tanh = Activation(.tanh)
    /// `max(x, 0)`, the other RNN nonlinearity PyTorch offers.
    public static let relu = Activation(.relu)

    /// Human-readable form for `inspect`: `tanh`, `hard_sigmoid(alpha=0.2, beta=0.5)`.
    public var summary: String {
        var parts: [String] = []
        if kind.usesAlpha { parts.append("alpha=\(shortDecimal(alpha))") }
        if kind.usesBeta { parts.append("beta=\(shortDecimal(beta))") }
        return parts.isEmpty ? kind.rawValue : "\(kind.rawValue)(\(parts.joined(separator: ", ")))"
    }

    /// f(x) in `T`'s precision, one body for both (docs/CELLS.md §8): libm's `exp`, `tanh`
    /// and `log1p` of that precision (through swift-numerics' `Real`), α and β rounded to
    /// `T`; sigmoid as `1 / (1 + exp(−x))`, which gives 0 or 1 rather than NaN for large |x|;
    /// softplus returns x itself above 30 in double precision and above 20 in single, where
    /// `log1p(exp(x))` already equals x. The evaluator uses it for every kind except sigmoid
    /// and tanh, which both of its paths evaluate a vector at a time with their own functions
    /// (the f64 reference's are defined exactly in docs/CELLS.md §11.1.1).
    @inline(__always)
    public func apply<T: Real & BinaryFloatingPoint>(_ x: T) -> T {
        let a = T(alpha), b = T(beta)
        switch kind {
        case .sigmoid: return 1 / (1 + T.exp(-x))
        case .tanh: return T.tanh(x)
        case .relu: return x > 0 ? x : 0
        case .affine: return a * x + b
        case .leakyRelu: return x >= 0 ? x : a * x
        case .thresholdedRelu: return x > a ? x : 0
        case .scaledTanh: return a * T.tanh(b * x)
        case .hardSigmoid: return Swift.max(0, Swift.min(1, a * x + b))
        case .elu: return x >= 0 ? x : a * (T.exp(x) - 1)
        case .softsign: return x / (1 + Swift.abs(x))
        case .softplus: return x > (T.significandBitCount > 23 ? 30 : 20) ? x : T.log(onePlus: T.exp(x))
        }
    }
}

/// The shortest decimal that reads back to the same double.
package func shortDecimal(_ v: Double) -> String {
    if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

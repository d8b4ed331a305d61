import Foundation

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

    public init?(onnxName: String) {
        guard let k = ActivationKind.allCases.first(where: { $0.onnxName.lowercased() == onnxName.lowercased() })
        else { return nil }
        self = k
    }

    public var usesAlpha: Bool {
        switch self {
        case .affine, .leakyRelu, .thresholdedRelu, .scaledTanh, .hardSigmoid, .elu: return true
        default: return false
        }
    }

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

    public var defaultBeta: Double {
        switch self {
        case .hardSigmoid: return 0.5
        default: return 0
        }
    }
}

/// An activation function with its parameters, exactly as the source gave them.
public struct Activation: Equatable, Sendable, Codable {
    public var kind: ActivationKind
    public var alpha: Double
    public var beta: Double

    public init(_ kind: ActivationKind, alpha: Double? = nil, beta: Double? = nil) {
        self.kind = kind
        self.alpha = alpha ?? kind.defaultAlpha
        self.beta = beta ?? kind.defaultBeta
    }

    public static let sigmoid = Activation(.sigmoid)
    public static let tanh = Activation(.tanh)
    public static let relu = Activation(.relu)

    /// Human-readable form for `inspect`: `tanh`, `hard_sigmoid(alpha=0.2, beta=0.5)`.
    public var summary: String {
        var parts: [String] = []
        if kind.usesAlpha { parts.append("alpha=\(shortDecimal(alpha))") }
        if kind.usesBeta { parts.append("beta=\(shortDecimal(beta))") }
        return parts.isEmpty ? kind.rawValue : "\(kind.rawValue)(\(parts.joined(separator: ", ")))"
    }

    @inline(__always)
    public func apply(_ x: Double) -> Double {
        switch kind {
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .relu: return x > 0 ? x : 0
        case .affine: return alpha * x + beta
        case .leakyRelu: return x >= 0 ? x : alpha * x
        case .thresholdedRelu: return x > alpha ? x : 0
        case .scaledTanh: return alpha * Foundation.tanh(beta * x)
        case .hardSigmoid: return Swift.max(0, Swift.min(1, alpha * x + beta))
        case .elu: return x >= 0 ? x : alpha * (Foundation.exp(x) - 1)
        case .softsign: return x / (1 + Swift.abs(x))
        case .softplus: return x > 30 ? x : Foundation.log1p(Foundation.exp(x))
        }
    }

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch kind {
        case .sigmoid: return 1 / (1 + Foundation.expf(-x))
        case .tanh: return Foundation.tanhf(x)
        case .relu: return x > 0 ? x : 0
        case .affine: return Float(alpha) * x + Float(beta)
        case .leakyRelu: return x >= 0 ? x : Float(alpha) * x
        case .thresholdedRelu: return x > Float(alpha) ? x : 0
        case .scaledTanh: return Float(alpha) * Foundation.tanhf(Float(beta) * x)
        case .hardSigmoid: return Swift.max(0, Swift.min(1, Float(alpha) * x + Float(beta)))
        case .elu: return x >= 0 ? x : Float(alpha) * (Foundation.expf(x) - 1)
        case .softsign: return x / (1 + Swift.abs(x))
        case .softplus: return x > 20 ? x : Foundation.log1pf(Foundation.expf(x))
        }
    }
}

/// The shortest decimal that reads back to the same double.
public func shortDecimal(_ v: Double) -> String {
    if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

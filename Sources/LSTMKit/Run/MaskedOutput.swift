import LSTMCore

/// What a run writes at the steps past a sequence's length (docs/CELLS.md §9).
///
/// The evaluator writes zeros there, as onnxruntime and PyTorch do. Keras with a mask
/// (`Masking`, `mask_zero`) instead repeats each sequence's last valid output (its
/// `zero_output_for_mask=False` default; Bidirectional layers write zeros). `hold` reproduces
/// that as a post-process of the outputs; states are not affected (both keep the state at the
/// last valid step).
public enum MaskedOutput: String, Sendable, CaseIterable {
    case zero, hold

    /// The metadata property a model imported from Keras records its behaviour in.
    public static let propertyKey = "keras.masking"

    /// The behaviour `model` came with (`keras.masking`), nil when it does not say.
    public static func recorded(in model: Model) -> MaskedOutput? {
        model.metadata.properties.first { $0.key == propertyKey }.flatMap { MaskedOutput(rawValue: $0.value) }
    }

    /// Applies the mode to a time-major output `[T, B, W]` (scalars row-major): with `hold`,
    /// every step `t ≥ L_b` of batch entry b gets the output of step `L_b − 1` (an entry of
    /// length 0 keeps its zeros, as Keras does). `zero` changes nothing.
    public func apply<S>(to y: inout [S], steps: Int, batch: Int, width: Int, lengths: [Int]?) {
        guard self == .hold, let lengths, lengths.count == batch, y.count == steps * batch * width else { return }
        for b in 0..<batch {
            let l = lengths[b]
            guard l > 0, l < steps else { continue }
            let src = ((l - 1) * batch + b) * width
            for t in l..<steps {
                let dst = (t * batch + b) * width
                for k in 0..<width { y[dst + k] = y[src + k] }
            }
        }
    }
}

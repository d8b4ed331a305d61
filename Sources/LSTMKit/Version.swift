@_exported import LSTMCore

/// The version of the LSTMKit library and the lstmtool command, distinct from the `.lstm`
/// file format's version (``FormatVersion``).
public enum LSTMKitVersion {
    /// `major.minor.patch`: what `lstmtool --version` prints, and the producer version of
    /// exported ONNX models.
    public static let string = "0.1.0"
}

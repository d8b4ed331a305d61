import Foundation
internal import LSTMCodec
import LSTMCore

/// Small helpers the importers and exporters share.
enum ConvertSupport {
    /// The current time as RFC 3339 UTC, for `Metadata.created`.
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }

    /// Which lstmtool made the conversion, kept beside the source's own producer.
    static var convertedBy: (key: String, value: String) { ("converted_by", "lstmtool \(LSTMKitVersion.string)") }

    /// The last path component, recorded as `Metadata.sourceFile` (never the full path,
    /// which would leak the converting machine's directory layout into the model).
    static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// True when every byte is zero, i.e. every element is +0.0 (−0.0 does not count:
    /// a tensor that is all +0 is the same as an absent one, bit for bit).
    static func isAllPositiveZero(_ t: ModelTensor) -> Bool {
        !t.bytes.contains { $0 != 0 }
    }

    /// A zero tensor of the given dtype and shape.
    static func zeros(_ dtype: DType, _ shape: [Int]) throws -> ModelTensor {
        let n = try checkedProduct(shape + [dtype.size], what: "zero tensor")
        return try ModelTensor(dtype: dtype, shape: shape, bytes: [UInt8](repeating: 0, count: n))
    }
}

import LSTMCore

/// `major.minor` of the container format (docs/FORMAT.md, "Version policy").
public struct FormatVersion: Comparable, CustomStringConvertible, Sendable {
    /// Changes an older reader must not ignore bump it; a reader refuses every major but
    /// its own.
    public var major: Int
    /// Compatible additions (optional fields) bump it; a reader reads every minor of its
    /// major, older and newer.
    public var minor: Int

    /// The version `major.minor`.
    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The version this build writes; it reads every 1.x.
    public static let current = FormatVersion(1, 0)
    /// Every version that was ever released; each has fixtures under fixtures/format/.
    public static let released = [FormatVersion(1, 0)]

    /// `major.minor`, e.g. `1.0`.
    public var description: String { "\(major).\(minor)" }

    /// Orders by major, then by minor.
    public static func < (a: FormatVersion, b: FormatVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    /// Parses `major.minor` (two non-negative decimal integers). Throws `LSTMError`
    /// `.invalidInput` for anything else.
    public init(parsing s: String) throws {
        let parts = s.split(separator: ".")
        guard parts.count == 2, let ma = Int(parts[0]), let mi = Int(parts[1]), ma >= 0, mi >= 0 else {
            throw LSTMError(.invalidInput, "format version \"\(s)\" is not of the form major.minor")
        }
        self.init(ma, mi)
    }

    /// Refuses a version this build cannot read: a newer major (or major 0).
    public func checkReadable(_ where_: String) throws {
        guard major == FormatVersion.current.major else {
            let hint = major > FormatVersion.current.major ? "; it was written by a newer lstmtool, upgrade to read it" : ""
            throw LSTMError(.unsupportedVersion, "\(where_): format version \(self) is not supported: this lstmtool reads \(FormatVersion.current.major).x\(hint)")
        }
    }
}

internal import LSTMCodec
import LSTMCore

/// NumPy's .npz: a zip archive of .npy members (stored or deflated, zip64 sizes accepted).
package enum Npz {
    /// The arrays of a .npz held in memory, in archive order (`.npy` suffixes dropped).
    package static func decode(_ b: [UInt8], name: String) throws -> [(String, NpyArray)] {
        let zip: ZipArchive
        do {
            zip = try ZipArchive(bytes: b, name: name)
        } catch let e as LSTMError {
            throw LSTMError(.invalidInput, "not a .npz file: \(e.message)", path: name)
        }
        guard zip.entries.count <= 10_000 else { throw LSTMError(.invalidInput, "\(zip.entries.count) members is too many", path: name) }
        return try zip.entries.map { e in
            let key = e.name.hasSuffix(".npy") ? String(e.name.dropLast(4)) : e.name
            return (key, try Npy.decode(try zip.data(e, limit: b.count * 1032 + 1 << 20), name: "\(name):\(e.name)"))
        }
    }

    /// A stored (uncompressed) zip of .npy members, readable by numpy.load.
    package static func encode(_ arrays: [(String, NpyArray)]) -> [UInt8] {
        ZipWriter.stored(arrays.map { ("\($0.0).npy", Npy.encode($0.1)) })
    }
}

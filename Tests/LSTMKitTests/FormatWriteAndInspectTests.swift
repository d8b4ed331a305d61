import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Atomic writes, header-only inspection, and statistics that report NaN/Inf weights.
final class FormatWriteAndInspectTests: XCTestCase {
    func listing(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func testFailedWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        let dir = KitTest.tempDir(self)
        let path = dir + "/model.lstm"
        let good = KitTest.model(KitTest.variants[3].specs)
        try ModelWriter.write(good, to: path)
        let before = KitTest.read(path)
        XCTAssertFalse(before.isEmpty)

        // An invalid model (W_h of the wrong shape) fails to encode.
        var invalid = good
        invalid.layers[0].passes[0][.recurrentWeights] = ModelTensor([Float](repeating: 1, count: 12), shape: [3, 4])
        XCTAssertThrowsError(try ModelWriter.write(invalid, to: path)) { XCTAssertEqual(($0 as? LSTMError)?.kind, .shape) }
        XCTAssertThrowsError(try ModelFormats.write(invalid, to: dir + "/model.json"))
        XCTAssertEqual(KitTest.read(path), before, "the old file is byte-identical")
        XCTAssertEqual(listing(dir), ["model.lstm"], "no temporary file is left")

        // A failure in the middle of writing the bytes (after the temporary file was created).
        struct Interrupted: Error {}
        XCTAssertThrowsError(try AtomicFile.write(path) { emit in
            try emit([1, 2, 3])
            throw Interrupted()
        })
        XCTAssertEqual(KitTest.read(path), before)
        XCTAssertEqual(listing(dir), ["model.lstm"])

        // A directory that does not exist: nothing is created anywhere.
        XCTAssertThrowsError(try ModelWriter.write(good, to: dir + "/missing/model.lstm")) { XCTAssertEqual(($0 as? LSTMError)?.kind, .io) }
        XCTAssertEqual(listing(dir), ["model.lstm"])
    }

    func testSuccessfulWriteReplacesTheFileAndKeepsItsPermissions() throws {
        let dir = KitTest.tempDir(self)
        let path = dir + "/model.lstm"
        try ModelWriter.write(KitTest.model(KitTest.variants[0].specs), to: path)
        XCTAssertEqual(mode(path), 0o644, "a new file gets 0644")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let replacement = KitTest.model(KitTest.variants[9].specs, dtype: .bfloat16, encoding: .zlib)
        try ModelWriter.write(replacement, to: path)
        XCTAssertEqual(try ModelReader(path: path).model(), replacement)
        XCTAssertEqual(KitTest.read(path), try KitTest.encode(replacement))
        XCTAssertEqual(mode(path), 0o600, "the permission bits are kept")
        try FileManager.default.setAttributes([.posixPermissions: 0o751], ofItemAtPath: path)
        try ModelFormats.write(replacement, to: path)
        XCTAssertEqual(mode(path), 0o751)
        XCTAssertEqual(listing(dir), ["model.lstm"])
    }

    /// inspect reads the header only: with every blob byte zeroed (so every CRC is wrong) the
    /// report is the same as for the intact file; --stats reads the blobs and fails.
    func testInspectReadsNoBlobs() throws {
        let dir = KitTest.tempDir(self)
        for enc in Encoding.allCases {
            let m = KitTest.model(KitTest.variants[7].specs, encoding: enc)
            let file = try KitTest.encode(m)
            let parts = try KitTest.split(file)
            var zeroed = file
            for i in parts.preamble.blobOffset..<zeroed.count { zeroed[i] = 0 }
            let good = dir + "/good.lstm", bad = dir + "/zeroed.lstm"
            KitTest.write(file, to: good)
            KitTest.write(zeroed, to: bad)
            let a = try InspectReport(reader: ModelReader(path: good), stats: false)
            let b = try InspectReport(reader: ModelReader(path: bad), stats: false)
            XCTAssertEqual(a.text().replacingOccurrences(of: "good.lstm", with: "zeroed.lstm"), b.text())
            XCTAssertEqual(b.totalParameters, m.parameterCount)
            XCTAssertEqual(b.tensors.map(\.crc32), parts.header.tensors.map(\.crc32))
            XCTAssertThrowsError(try InspectReport(reader: ModelReader(path: bad), stats: true), "\(enc)") { error in
                let e = error as? LSTMError
                XCTAssertEqual(e?.kind, .checksum)
                XCTAssertTrue(e?.message.contains(parts.header.tensors[0].name) ?? false, e?.message ?? "")
            }
            XCTAssertNoThrow(try InspectReport(reader: ModelReader(path: good), stats: true))
        }
    }

    func testNaNAndInfWeightsAreReportedNotRejected() throws {
        let dir = KitTest.tempDir(self)
        var m = KitTest.model([LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 2)])
        m.layers[0].passes[0][.inputWeights] = ModelTensor([Float.nan, 1.5, -.infinity, -2.0], shape: [2, 2])
        m.layers[0].passes[0][.recurrentWeights] = ModelTensor([0.25, .infinity, .infinity, Float(bitPattern: 0x7FC0_1234)], shape: [2, 2])
        let path = dir + "/nan.lstm"
        try ModelWriter.write(m, to: path)
        let reader = try ModelReader(path: path)
        XCTAssertEqual(try reader.model(), m, "NaN/Inf weights load")
        let report = try InspectReport(reader: reader, stats: true)
        let wx = try XCTUnwrap(report.tensors[0].stats)
        XCTAssertEqual(wx.nanCount, 1)
        XCTAssertEqual(wx.infCount, 1)
        XCTAssertEqual(wx.min, -2.0)
        XCTAssertEqual(wx.max, 1.5)
        XCTAssertEqual(wx.mean, -0.25)
        XCTAssertEqual(wx.std, 1.75)
        let wh = try XCTUnwrap(report.tensors[1].stats)
        XCTAssertEqual(wh.nanCount, 1)
        XCTAssertEqual(wh.infCount, 2)
        XCTAssertEqual(wh.min, 0.25)
        XCTAssertEqual(wh.std, 0)
        XCTAssertTrue(report.text().contains("WARNING: 1 NaN, 1 Inf"), report.text())
        XCTAssertTrue(report.text().contains("WARNING: 1 NaN, 2 Inf"))
        let json = try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as! [String: Any]
        let layer = (json["layers"] as! [[String: Any]])[0]
        let t0 = (layer["tensors"] as! [[String: Any]])[0]
        let stats = t0["stats"] as! [String: Any]
        XCTAssertEqual(stats["nan_count"] as? Int, 1)
        XCTAssertEqual(stats["inf_count"] as? Int, 1)
        // A tensor of only NaN has no min/max/mean.
        let allNaN = TensorStats([.nan, .nan])
        XCTAssertTrue(allNaN.min.isNaN && allNaN.mean.isNaN)
        XCTAssertEqual(allNaN.nanCount, 2)
    }

    func testInspectReportCountsAndVariants() throws {
        let m = KitTest.model(KitTest.variants[13].specs)  // GRU bi 3→5, LSTMP 10→3 (P 2), RNN reverse 2→6
        let report = InspectReport(model: m, path: "m.json", stats: false)
        // GRU: 2·(3·5·3 + 3·5·5 + 2·3·5) = 2·150; LSTMP: 4·3·10 + 4·3·2 + 2·4·3 + 2·3 = 120+24+24+6;
        // RNN: 6·2 + 6·6 + 2·6 = 12+36+12.
        XCTAssertEqual(report.layers.map(\.parameterCount), [300, 174, 60])
        XCTAssertEqual(report.totalParameters, 534)
        let text = report.text()
        XCTAssertTrue(text.contains("layer 1: LSTM forward, input 10, hidden 3, output 2; projection 2"), text)
        XCTAssertTrue(text.contains("layer 0: GRU bidirectional, input 3, hidden 5; reset-after"), text)
        XCTAssertTrue(text.contains("total parameters: 534"))
    }
}

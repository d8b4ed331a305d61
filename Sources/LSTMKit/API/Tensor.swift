/// The scalar types a model runs in: `Float` (the fast path) and `Double` (the reference
/// path of docs/CELLS.md). Values stay in this type from input to output.
public protocol RecurrentScalar: BinaryFloatingPoint, Sendable, Codable {
    /// The arithmetic a run in this type uses.
    static var precision: Precision { get }
}

extension Float: RecurrentScalar {
    /// `Float` runs take the fast f32 path.
    public static var precision: Precision { .f32 }
}

extension Double: RecurrentScalar {
    /// `Double` runs take the f64 reference path.
    public static var precision: Precision { .f64 }
}

/// A dense array of scalars with a shape, stored row-major (the last index varies fastest).
///
/// Sequences are time-major, `[T, B, I]`: step, batch entry, feature.
///
/// ```swift
/// let x = try Tensor<Float>(shape: [50, 1, 64], scalars: samples)
/// let firstTwenty = try x.slice(steps: 0..<20)
/// ```
public struct Tensor<Scalar: RecurrentScalar>: Equatable, Sendable {
    /// The size of each dimension.
    public let shape: [Int]
    /// Every element, row-major; `scalars.count` is the product of `shape`.
    public let scalars: [Scalar]

    /// A tensor of `shape` holding `scalars` (row-major). Throws when the counts disagree
    /// or a dimension is negative.
    public init(shape: [Int], scalars: [Scalar]) throws {
        let count = try checkedProduct(shape, what: "tensor shape \(shape)")
        guard count == scalars.count else {
            throw LSTMError(.shape, "tensor of shape \(shape) needs \(count) scalars, got \(scalars.count)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros. Throws when a dimension is negative or the size overflows.
    public init(zeros shape: [Int]) throws {
        let count = try checkedProduct(shape, what: "tensor shape \(shape)")
        self.shape = shape
        self.scalars = [Scalar](repeating: 0, count: count)
    }

    /// Built by code that has already checked the count.
    init(checkedShape shape: [Int], scalars: [Scalar]) {
        self.shape = shape
        self.scalars = scalars
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// Steps `range` of a time-major tensor (the first dimension): `x.slice(steps: 0..<20)`
    /// is the first twenty steps of every sequence. Throws when the tensor has no dimension
    /// or the range is outside it.
    public func slice(steps range: Range<Int>) throws -> Tensor {
        guard let t = shape.first else { throw LSTMError(.shape, "cannot slice the steps of a tensor without dimensions") }
        guard range.lowerBound >= 0, range.upperBound <= t else {
            throw LSTMError(.shape, "steps \(range.lowerBound)..<\(range.upperBound) are outside 0..<\(t)")
        }
        let stride = shape.dropFirst().reduce(1, *)
        return Tensor(checkedShape: [range.count] + shape.dropFirst(),
                      scalars: Array(scalars[(range.lowerBound * stride)..<(range.upperBound * stride)]))
    }

    /// The same scalars with the first two dimensions swapped: `[B, T, …]` ↔ `[T, B, …]`
    /// (for batch-first data such as Keras's or PyTorch's `batch_first=True`).
    public func swappingFirstTwoAxes() throws -> Tensor {
        guard shape.count >= 2 else { throw LSTMError(.shape, "tensor of shape \(shape) has no two axes to swap") }
        let a = shape[0], b = shape[1], inner = shape.dropFirst(2).reduce(1, *)
        var out = [Scalar](repeating: 0, count: scalars.count)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<a {
                    for j in 0..<b {
                        (dst.baseAddress! + (j * a + i) * inner).update(from: src.baseAddress! + (i * b + j) * inner, count: inner)
                    }
                }
            }
        }
        return Tensor(checkedShape: [b, a] + shape.dropFirst(2), scalars: out)
    }
}

internal import CLSTMKernels

/// `count` copies of `value` in a new array that asks for transparent huge pages before it is
/// first touched (`lstmk_prefer_huge_pages`: from 8 MiB on, on Linux): the outputs of a long
/// run are tens of MiB of fresh memory, and filling them 4 KiB page by page cost about 1.5 µs
/// per page on a virtual machine (`lstmtool run`, I = H = 512, B = 32, T = 200: 13 MB of
/// output, 10 000 page faults fewer in all; docs/PERFORMANCE.md).
func largeArray<T>(repeating value: T, count: Int) -> [T] {
    [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        preferHugePages(buffer)
        buffer.initialize(repeating: value)
        initialized = count
    }
}

/// Advice for a buffer about to be filled for the first time (see `largeArray`).
func preferHugePages<T>(_ buffer: UnsafeMutableBufferPointer<T>) {
    guard let base = buffer.baseAddress else { return }
    lstmk_prefer_huge_pages(base, buffer.count * MemoryLayout<T>.stride)
}

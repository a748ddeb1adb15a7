// A square-ish bit matrix stored as one flat array of 64-bit words, one row per graph node.
import Foundation

/// `rows` rows of `stride` words each, row-major in one array. Row `r` bit `c` is word `r * stride + c / 64`,
/// bit `c % 64`. Growing the row count appends zeroed rows; growing past `stride * 64` columns re-lays the
/// matrix out with a 1.5x wider stride (amortised O(1) per added node).
struct BitMatrix: Sendable {
    private(set) var stride = 0
    private(set) var rows = 0
    var words: [UInt64] = []

    /// Bytes held by the matrix.
    var byteCount: Int { words.count * MemoryLayout<UInt64>.stride }

    /// Makes room for `newRows` rows and as many columns; new rows are empty.
    mutating func grow(toRows newRows: Int) {
        guard newRows > rows else { return }
        let neededStride = (newRows + 63) >> 6
        if neededStride > stride {
            let newStride = stride == 0 ? neededStride : max(neededStride, stride + stride / 2)
            var fresh = [UInt64](repeating: 0, count: newRows * newStride)
            if rows > 0 {
                let oldStride = stride
                words.withUnsafeBufferPointer { old in
                    fresh.withUnsafeMutableBufferPointer { new in
                        for r in 0..<rows {
                            for i in 0..<oldStride { new[r * newStride + i] = old[r * oldStride + i] }
                        }
                    }
                }
            }
            words = fresh
            stride = newStride
        } else {
            words.append(contentsOf: repeatElement(0, count: (newRows - rows) * stride))
        }
        rows = newRows
    }

    func contains(row: Int, column: Int) -> Bool {
        words[row * stride + (column >> 6)] & (1 << UInt64(column & 63)) != 0
    }

    mutating func insert(row: Int, column: Int) {
        words[row * stride + (column >> 6)] |= 1 << UInt64(column & 63)
    }
}

/// The few XDR encoders needed to build hash preimages (the decoder is the main event).
struct XDRWriter {
    private(set) var bytes: [UInt8] = []

    mutating func writeInt32(_ value: Int32) { writeUInt32(UInt32(bitPattern: value)) }

    mutating func writeUInt32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// Fixed-length opaque data, zero-padded to a multiple of four bytes.
    mutating func writeFixedOpaque(_ data: [UInt8]) {
        bytes += data
        bytes += [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
    }
}

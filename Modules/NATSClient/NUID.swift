/// Unique ids for inboxes: a random 12-character prefix and a 10-character sequence, in
/// base 62, as NATS clients make them. Not for secrets.
struct NUID: Sendable {
    private static let digits: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    private static let maxSequence: UInt64 = 839_299_365_868_340_224 // 62^10
    private var prefix: [UInt8] = []
    private var sequence: UInt64 = 0
    private var increment: UInt64 = 0

    init() { randomizePrefix(); resetSequence() }

    private mutating func randomizePrefix() {
        var rng = SystemRandomNumberGenerator()
        prefix = (0..<12).map { _ in Self.digits[Int(rng.next(upperBound: UInt64(62)))] }
    }

    private mutating func resetSequence() {
        var rng = SystemRandomNumberGenerator()
        sequence = rng.next(upperBound: Self.maxSequence)
        increment = 33 + rng.next(upperBound: UInt64(333 - 33))
    }

    /// The next id (22 characters).
    mutating func next() -> String {
        sequence += increment
        if sequence >= Self.maxSequence {
            randomizePrefix()
            resetSequence()
        }
        var bytes = prefix
        var s = sequence
        var tail = [UInt8](repeating: 0, count: 10)
        for i in stride(from: 9, through: 0, by: -1) {
            tail[i] = Self.digits[Int(s % 62)]
            s /= 62
        }
        bytes.append(contentsOf: tail)
        return String(decoding: bytes, as: UTF8.self)
    }
}

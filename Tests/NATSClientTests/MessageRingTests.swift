import NIOCore
import Testing
@testable import NATSClient

@Suite struct MessageRingTests {
    func message(_ i: Int) -> NATSMessage {
        NATSMessage(subject: "s.\(i)", payload: ByteBuffer(string: "payload \(i)"))
    }

    func drain(_ ring: inout MessageRing) -> [String] {
        var subjects: [String] = []
        while let m = ring.popFirst() { subjects.append(m.subject) }
        return subjects
    }

    func expected(_ range: ClosedRange<Int>) -> [String] { range.map { "s.\($0)" } }

    /// A ring of capacity 16 whose messages `first...last` wrap past its end.
    func wrapped(_ first: Int, _ last: Int) -> MessageRing {
        var ring = MessageRing()
        for i in 0..<12 { ring.append(message(-1 - i)) }
        // One left, so that the start stays at slot 12 (an emptied ring starts over at 0).
        for _ in 0..<11 { _ = ring.popFirst() }
        for i in first...last { ring.append(message(i)) }
        _ = ring.popFirst()
        return ring
    }

    @Test func keepsOrderWhenItWrapsAndGrows() {
        var ring = MessageRing()
        for i in 0..<10 { ring.append(message(i)) }
        #expect(ring.capacity == 16)
        for i in 0..<5 { #expect(ring.popFirst()?.subject == "s.\(i)") }
        // Wraps past the end of the 16 slots, then grows with the wrapped run in place.
        for i in 10..<40 { ring.append(message(i)) }
        #expect(ring.count == 35)
        #expect(ring.capacity == 64)
        #expect(drain(&ring) == expected(5...39))
        #expect(ring.count == 0)
        #expect(ring.popFirst() == nil)
        #expect(ring.popLast() == nil)
    }

    @Test func popLastTakesTheNewest() {
        var ring = wrapped(100, 109)
        #expect(ring.popLast()?.payload == ByteBuffer(string: "payload 109"))
        #expect(ring.popLast()?.subject == "s.108")
        #expect(ring.popFirst()?.subject == "s.100")
        #expect(drain(&ring) == expected(101...107))
    }

    @Test func movesAnotherRingInOrderWhenBothWrap() {
        var ring = wrapped(0, 9)
        var other = wrapped(10, 19)
        let otherCapacity = other.capacity
        ring.append(movingFrom: &other)
        #expect(other.count == 0)
        #expect(other.capacity == otherCapacity)
        #expect(ring.count == 20)
        #expect(drain(&ring) == expected(0...19))

        // Into a ring with room at its end and its start, without growing.
        var roomy = wrapped(0, 1)
        var small = wrapped(2, 9)
        roomy.append(movingFrom: &small)
        #expect(roomy.capacity == 16)
        #expect(drain(&roomy) == expected(0...9))

        // Into an empty ring, and from an empty one.
        var empty = MessageRing()
        var some = wrapped(0, 4)
        empty.append(movingFrom: &some)
        var none = MessageRing()
        empty.append(movingFrom: &none)
        #expect(drain(&empty) == expected(0...4))
    }

    @Test func removeAllKeepsOrFreesTheStorage() {
        var ring = wrapped(0, 9)
        ring.removeAll(keepingCapacity: true)
        #expect(ring.count == 0)
        #expect(ring.capacity == 16)
        ring.append(message(1))
        #expect(drain(&ring) == ["s.1"])
        ring.append(message(2))
        ring.removeAll(keepingCapacity: false)
        #expect(ring.capacity == 0)
        ring.append(message(3))
        #expect(drain(&ring) == ["s.3"])
    }

    @Test func shrinksOnlyWhenEmpty() {
        var ring = MessageRing()
        for i in 0..<40 { ring.append(message(i)) }
        ring.shrinkIfEmpty(to: 16)
        #expect(ring.capacity == 64)
        #expect(drain(&ring) == expected(0...39))
        ring.shrinkIfEmpty(to: 16)
        #expect(ring.capacity == 16)
        for i in 0..<20 { ring.append(message(i)) }
        #expect(drain(&ring) == expected(0...19))
    }

    @Test func swapsWhole() {
        var a = wrapped(0, 9)
        var b = MessageRing()
        swap(&a, &b)
        #expect(a.count == 0)
        #expect(drain(&b) == expected(0...9))
    }
}

@Suite struct SubscriptionQueueTests {
    func chunk(_ range: ClosedRange<Int>) -> MessageRing {
        var ring = MessageRing()
        for i in range { ring.append(NATSMessage(subject: "s.\(i)", payload: ByteBuffer(string: "12345678"))) }
        return ring
    }

    func takeAll(_ queue: SubscriptionQueue) -> [String] {
        var batch = MessageRing()
        var subjects: [String] = []
        while queue.takeAll(into: &batch) {
            while let m = batch.popFirst() { subjects.append(m.subject) }
        }
        return subjects
    }

    @Test func queuesChunksInOrderAndLeavesTheReadersEmpty() {
        let queue = SubscriptionQueue(subject: "s.>", maxMessages: 100, maxBytes: 1 << 20)
        var first = chunk(0...9)
        #expect(queue.enqueue(contentsOf: &first, bytes: 80).firstDrop == false)
        #expect(first.count == 0)  // swapped with the empty queue's storage
        var second = chunk(10...14)
        _ = queue.enqueue(contentsOf: &second, bytes: 40)
        #expect(second.count == 0)  // moved into the queue, keeping its storage
        #expect(second.capacity == 16)
        #expect(queue.pendingCount == 15)
        #expect(takeAll(queue) == (0...14).map { "s.\($0)" })
        #expect(queue.pendingCount == 0)
    }

    @Test func dropsWhatIsOverTheLimitAndKeepsTheOrderOfTheRest() {
        let queue = SubscriptionQueue(subject: "s.>", maxMessages: 4, maxBytes: 1 << 20)
        var first = chunk(0...2)
        #expect(queue.enqueue(contentsOf: &first, bytes: 24).firstDrop == false)
        var second = chunk(3...7)
        #expect(queue.enqueue(contentsOf: &second, bytes: 40).firstDrop == true)
        var third = chunk(8...9)
        #expect(queue.enqueue(contentsOf: &third, bytes: 16).firstDrop == false)  // the same episode
        #expect(queue.droppedCount == 6)
        #expect(takeAll(queue) == ["s.0", "s.1", "s.2", "s.3"])
    }

    @Test func aParkedConsumerGetsTheFirstOfAChunkAndThenTheRest() async throws {
        let queue = SubscriptionQueue(subject: "s.>", maxMessages: 100, maxBytes: 1 << 20)
        let (parked, parkedSignal) = AsyncStream.makeStream(of: Void.self)
        let consumer = Task { () -> [String] in
            var subjects: [String] = []
            parkedSignal.finish()
            if let m = try await queue.next() { subjects.append(m.subject) }
            while let m = try await queue.next() { subjects.append(m.subject) }
            return subjects
        }
        for await _ in parked {}
        // Enqueue until the consumer's first wait took a message through a wakeup.
        var i = 0
        var delivered = false
        while !delivered && i < 30_000 {
            var ring = chunk(i...(i + 2))
            let (_, wakeup) = queue.enqueue(contentsOf: &ring, bytes: 24)
            i += 3
            if let wakeup {
                wakeup.resume()
                delivered = true
            }
            await Task.yield()
        }
        #expect(delivered)
        queue.finish()
        let subjects = try await consumer.value
        #expect(subjects == (0..<i).map { "s.\($0)" })
    }
}

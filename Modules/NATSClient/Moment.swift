/// A point on `ContinuousClock`, stored as the time since a fixed origin.
///
/// `ContinuousClock.Instant` is not frozen, so a struct that stores one has its layout
/// computed at run time: every access to any of its fields goes through the type's metadata.
/// In `ConnectionState` that was every publish and every routed message. `Duration` is
/// frozen, so a `Moment` keeps the state's layout fixed.
struct Moment: Comparable, Sendable {
    private var sinceOrigin: Duration

    private static let origin = ContinuousClock.now

    private init(sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }

    /// The current moment. Not inlined: the caller would set up the resilient instant it
    /// reads on every call, also on paths that do not read the clock.
    static var now: Moment {
        @inline(never) get { Moment(sinceOrigin: origin.duration(to: .now)) }
    }

    /// The same point as a `ContinuousClock` instant, for `Task.sleep(until:)`.
    var instant: ContinuousClock.Instant { Self.origin.advanced(by: sinceOrigin) }

    static func - (a: Moment, b: Moment) -> Duration { a.sinceOrigin - b.sinceOrigin }
    static func + (a: Moment, d: Duration) -> Moment { Moment(sinceOrigin: a.sinceOrigin + d) }
    static func < (a: Moment, b: Moment) -> Bool { a.sinceOrigin < b.sinceOrigin }
}

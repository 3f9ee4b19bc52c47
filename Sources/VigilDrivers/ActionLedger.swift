/// The action ids a driver has carried out (or is carrying out), so that a repeated id is a no-op: the engine's
/// retries and a restarted daemon's replays stay idempotent. Bounded for a daemon that runs for months: once
/// `capacity` ids are held the oldest tenth is forgotten (an id is repeated within minutes, not after thousands of
/// later actions).
struct ActionLedger: Sendable {
    private var ids = Set<String>()
    private var order: [String] = []
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = max(10, capacity) }

    /// True when `id` is new (and now taken); false for a repeat, which the caller treats as done.
    mutating func claim(_ id: String) -> Bool {
        guard ids.insert(id).inserted else { return false }
        order.append(id)
        if order.count > capacity {
            let drop = capacity / 10
            for old in order.prefix(drop) { ids.remove(old) }
            order.removeFirst(drop)
        }
        return true
    }

    /// Gives `id` back (the action failed before doing anything, so a retry must run it).
    mutating func unclaim(_ id: String) {
        guard ids.remove(id) != nil else { return }
        order.removeAll { $0 == id }
    }

    func contains(_ id: String) -> Bool { ids.contains(id) }
    var count: Int { ids.count }
}

import CLibvirt
import Foundation
import Logging
import Testing
import VigilConfig
import VigilCore
import VigilEngine
@testable import VigilDrivers

/// The libvirt driver against libvirt's real in-process test driver: one node XML file per simulated host, written
/// to a temp dir (a `test:///file.xml` connection keeps its own state in memory, so what the driver does is checked
/// by listing domains through the driver's own connection with plain libvirt calls, not through the driver's view).
@Suite("libvirt driver") struct LibvirtDriverTests {
    /// A temp dir with `h1.xml` (web-0 running, 4 GiB), `h2.xml` (empty, 4 GiB) and the `web` template.
    struct Fixture {
        let dir: URL
        init(h1Domains: String = Fixture.web0) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-libvirt-driver-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Self.node(h1Domains).write(to: dir.appendingPathComponent("h1.xml"), atomically: true, encoding: .utf8)
            try Self.node("").write(to: dir.appendingPathComponent("h2.xml"), atomically: true, encoding: .utf8)
            try Self.template.write(to: dir.appendingPathComponent("web.xml"), atomically: true, encoding: .utf8)
        }

        func uri(_ host: String) -> String { "test://\(dir.path)/\(host).xml" }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        func config(restart: LibvirtDriverConfig.RestartMode = .reboot, dryRun: Bool = false, pin: String? = nil,
                    extraHosts: [String: LibvirtDriverConfig.Host] = [:], callTimeoutMs: Int64 = 10_000) -> LibvirtDriverConfig {
            var hosts: [String: LibvirtDriverConfig.Host] = ["h1": .init(uri: uri("h1")), "h2": .init(uri: uri("h2"))]
            for (k, v) in extraHosts { hosts[k] = v }
            return LibvirtDriverConfig(hosts: hosts, groups: ["web": .init(template: "web.xml", host: pin)], restart: restart,
                                       shutdownTimeout: ConfigDuration(milliseconds: 2_000),
                                       callTimeout: ConfigDuration(milliseconds: callTimeoutMs), dryRun: dryRun)
        }

        func driver(_ c: LibvirtDriverConfig, logger: Logger = Logger(label: "t")) throws -> LibvirtDriver {
            try LibvirtDriver(config: c, baseDir: dir.path, logger: logger)
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }

        static func node(_ domains: String) -> String {
            """
            <node>
              <cpu><mhz>2000</mhz><model>x86</model><active>4</active><total>4</total><nodes>1</nodes><sockets>1</sockets>
                <cores>4</cores><threads>1</threads></cpu>
              <memory>4194304</memory>
            \(domains)
            </node>
            """
        }

        static let web0 = """
            <domain type='test'>
              <name>web-0</name>
              <memory unit='KiB'>1048576</memory>
              <currentMemory unit='KiB'>524288</currentMemory>
              <vcpu placement='static' current='1'>4</vcpu>
              <os><type>hvm</type></os>
            </domain>
            """

        static let template = """
            <domain type='test'>
              <name>${NAME}</name>
              <uuid>00000000-0000-0000-0000-000000000000</uuid>
              <description>instance ${INDEX} of ${GROUP}</description>
              <memory unit='MiB'>512</memory>
              <vcpu>2</vcpu>
              <os><type>hvm</type></os>
            </domain>
            """
    }

    /// What libvirt itself says is on `host`, through the driver's connection: name → (active, domain id, UUID).
    struct Dom: Sendable, Equatable {
        var active: Bool
        var id: UInt32
        var uuid: String
        var ours: Bool
    }

    static func listing(_ d: LibvirtDriver, _ host: String) async throws -> [String: Dom] {
        try await d.hosts[host]!.call("test listing", timeoutMs: 10_000, clock: WallClock()) { c in
            var list: UnsafeMutablePointer<virDomainPtr?>?
            let n = virConnectListAllDomains(c, &list, 0)
            guard n >= 0, let list else { return .failure(.unavailable("list: \(libvirtMessage())")) }
            defer { free(list) }
            var out: [String: Dom] = [:]
            for i in 0..<Int(n) {
                guard let dom = list[i] else { continue }
                defer { virDomainFree(dom) }
                var buf = [CChar](repeating: 0, count: Int(vigil_uuid_string_buflen()))
                _ = virDomainGetUUIDString(dom, &buf)
                let name = String(cString: virDomainGetName(dom))
                out[name] = Dom(active: virDomainIsActive(dom) == 1, id: virDomainGetID(dom), uuid: String(cString: buf),
                                ours: DomainOps.isOurs(c, name))
            }
            return .success(out)
        }
    }

    static func running(_ d: LibvirtDriver, _ host: String) async throws -> Set<String> {
        Set(try await listing(d, host).filter(\.value.active).keys)
    }

    /// Powers a domain off behind the driver's back (a guest crash, as libvirt would report it).
    static func crash(_ d: LibvirtDriver, _ host: String, _ name: String) async throws {
        try await d.hosts[host]!.call("test crash", timeoutMs: 10_000, clock: WallClock()) { c in DomainOps.destroy(c, name) }
    }

    static func instance(_ inv: Inventory, _ id: String) -> InstanceInfo? { inv.instances.first { $0.id == id } }

    /// Waits until the wall clock (ms) has moved on, so a new incarnation's start time differs from the old one.
    static func nextMillisecond() async {
        let t = WallClock().nowMillis()
        while WallClock().nowMillis() == t { try? await Task.sleep(nanoseconds: 200_000) }
    }

    // MARK: scale

    @Test func scaleOneToThreeToOneDefinesFromTheTemplateAndUndefinesOnlyItsOwn() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        var inv = try await d.inventory()
        #expect(inv.instances.map(\.id) == ["web-0"])
        #expect(inv.groups == [GroupInfo(id: "web", desiredReplicas: 1)])
        #expect(inv.hosts.map(\.id) == ["h1", "h2"] && inv.hosts.allSatisfy { $0.state == .up && $0.vcpus == 4 && $0.memoryMiB == 4096 })

        try await d.scale(group: "web", to: 3, actionID: "s1")
        let h1 = try await Self.listing(d, "h1"), h2 = try await Self.listing(d, "h2")
        // web-1 goes to the emptier host (h2: 4096 MiB free vs 3584), web-2 to h1 (3584 each; first by name)
        #expect(Set(h1.keys) == ["web-0", "web-2"] && Set(h2.keys) == ["web-1"], "\(h1) \(h2)")
        #expect(h1.values.allSatisfy(\.active) && h2.values.allSatisfy(\.active))
        #expect(h2["web-1"]!.ours && h1["web-2"]!.ours && !h1["web-0"]!.ours)
        #expect(h2["web-1"]!.uuid != "00000000-0000-0000-0000-000000000000" && h2["web-1"]!.uuid != h1["web-2"]!.uuid)
        inv = try await d.inventory()
        #expect(inv.instances.map(\.id) == ["web-0", "web-1", "web-2"])
        #expect(inv.instances.allSatisfy { $0.state == .running })
        #expect(Self.instance(inv, "web-1")?.host == "h2" && Self.instance(inv, "web-1")?.vcpus == 2)
        #expect(inv.groups == [GroupInfo(id: "web", desiredReplicas: 3)])

        try await d.scale(group: "web", to: 1, actionID: "s2")
        // the template's domains are gone from libvirt entirely; web-0 (not defined by vigil) still runs
        #expect(try await Self.listing(d, "h1").keys.sorted() == ["web-0"])
        #expect(try await Self.listing(d, "h2").isEmpty)
        inv = try await d.inventory()
        #expect(inv.instances.map(\.id) == ["web-0"] && inv.groups == [GroupInfo(id: "web", desiredReplicas: 1)])

        // scaling in a domain vigil did not define shuts it down but keeps its definition: stopped, not exited
        try await d.scale(group: "web", to: 0, actionID: "s3")
        let after = try await Self.listing(d, "h1")
        #expect(after["web-0"].map { !$0.active } == true)
        inv = try await d.inventory()
        #expect(Self.instance(inv, "web-0")?.state == .stopped && inv.groups[0].desiredReplicas == 0)
        // and scaling out again starts it where it is defined instead of defining a second web-0
        try await d.scale(group: "web", to: 1, actionID: "s4")
        #expect(try await Self.running(d, "h1") == ["web-0"])
        #expect(try await Self.listing(d, "h2").isEmpty)
    }

    @Test func pinnedGroupAndFullHostsAreRespected() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(pin: "h1"))
        defer { Task { await d.shutdown() } }
        try await d.scale(group: "web", to: 3, actionID: "p1")
        #expect(try await Self.running(d, "h1") == ["web-0", "web-1", "web-2"])
        // h1: 4096 MiB, web-0 512 + 2 × 512 used: 2560 left → 5 more fit (web-3…web-7), web-8 does not (h2 is empty
        // but the group is pinned)
        await #expect(throws: DriverError.self) { try await d.scale(group: "web", to: 9, actionID: "p2") }
        #expect(try await Self.running(d, "h1").count == 8)
        do { try await d.scale(group: "web", to: 9, actionID: "p3") } catch {
            #expect(error.description.contains("no up host has 512 MiB free for web-8 (pinned to h1)"), "\(error)")
        }
        #expect(try await Self.running(d, "h1").count == 8)
        #expect(try await Self.listing(d, "h2").isEmpty)
    }

    // MARK: restart

    @Test func restartRebootKeepsTheDomainAndStartsANewIncarnation() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(restart: .reboot))
        defer { Task { await d.shutdown() } }
        let before = try #require(Self.instance(try await d.inventory(), "web-0"))
        let idBefore = try await Self.listing(d, "h1")["web-0"]!.id
        await Self.nextMillisecond()
        try await d.restart(instance: "web-0", actionID: "r1")
        let dom = try await Self.listing(d, "h1")["web-0"]!
        #expect(dom.active && dom.id == idBefore)   // a guest reboot: same running domain
        let after = try #require(Self.instance(try await d.inventory(), "web-0"))
        #expect(after.state == .running && after.startedAtMillis > before.startedAtMillis)

        // a crashed (shut off) domain is started, whatever the mode
        try await Self.crash(d, "h1", "web-0")
        #expect(Self.instance(try await d.inventory(), "web-0")?.state == .exited)
        try await d.restart(instance: "web-0", actionID: "r2")
        #expect(try await Self.running(d, "h1") == ["web-0"])
        #expect(Self.instance(try await d.inventory(), "web-0")?.state == .running)
    }

    @Test func restartDestroyStartGivesANewDomainID() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(restart: .destroyStart))
        defer { Task { await d.shutdown() } }
        let idBefore = try await Self.listing(d, "h1")["web-0"]!.id
        try await d.restart(instance: "web-0", actionID: "r1")
        let dom = try await Self.listing(d, "h1")["web-0"]!
        #expect(dom.active && dom.id != idBefore)   // powered off and booted again: libvirt numbers it anew
        await #expect(throws: DriverError.notFound("libvirt instance db-0 (not <group>-<n> of a configured group)")) {
            try await d.restart(instance: "db-0", actionID: "r2")
        }
        await #expect(throws: DriverError.self) { try await d.restart(instance: "web-9", actionID: "r3") }
    }

    // MARK: migrate

    @Test func migrationFallsBackToColdAndNeverRunsTwoCopies() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let log = CapturedLog()
        let d = try f.driver(f.config(), logger: log.logger())
        defer { Task { await d.shutdown() } }
        let uuid = try await Self.listing(d, "h1")["web-0"]!.uuid
        try await d.migrate(instance: "web-0", to: "h2", live: true, actionID: "m1")
        // web-0 exists and runs only on h2, with the same identity
        #expect(try await Self.listing(d, "h1").isEmpty)
        let moved = try await Self.listing(d, "h2")
        #expect(moved.keys.sorted() == ["web-0"] && moved["web-0"]!.active && moved["web-0"]!.uuid == uuid)
        let inv = try await d.inventory()
        #expect(Self.instance(inv, "web-0")?.host == "h2" && Self.instance(inv, "web-0")?.state == .running)
        // the test driver cannot migrate live: the cold path ran, and the source copy was off before the target's started
        let lines = log.all
        #expect(lines.contains { $0.hasPrefix("live migration not possible; migrating cold") && $0.contains("virDomainMigrate") }, "\(lines)")
        let stopped = try #require(lines.firstIndex { $0.hasPrefix("domain stopped") && $0.contains("host=h1") })
        let started = try #require(lines.firstIndex { $0.hasPrefix("domain started on the migration target") && $0.contains("host=h2") })
        #expect(stopped < started)
        // a stopped domain migrates as a definition only
        try await d.stop(instance: "web-0", actionID: "m2")
        try await d.migrate(instance: "web-0", to: "h1", live: true, actionID: "m3")
        #expect(try await Self.listing(d, "h1").mapValues(\.active) == ["web-0": false])
        #expect(try await Self.listing(d, "h2").isEmpty)
        await #expect(throws: DriverError.notFound("libvirt host h9")) { try await d.migrate(instance: "web-0", to: "h9", live: true, actionID: "m4") }
    }

    @Test func relocationOffALostHostRemovesTheStaleCopyWhenItIsBack() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        _ = try await d.inventory()
        // h1's daemon goes away (its connection dies and cannot be reopened)
        let saved = try String(contentsOfFile: f.path("h1.xml"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: f.path("h1.xml"))
        await d.dropConnection("h1")
        let inv = try await d.inventory()
        #expect(inv.host("h1")?.state == .unreachable && Self.instance(inv, "web-0")?.state == .unknown)
        // the instance on it cannot be restarted in place (typed error, no crash)...
        await #expect(throws: DriverError.self) { try await d.restart(instance: "web-0", actionID: "x1") }
        do { try await d.restart(instance: "web-0", actionID: "x2") } catch {
            guard case .unavailable(let m) = error else { Issue.record("\(error)"); return }
            #expect(m.contains("h1") && m.contains("cannot connect"), "\(m)")
        }
        // ...but, fenced by the engine's decision, it is relocated from its last known definition
        try await d.start(instance: "web-0", on: "h2", actionID: "x3")
        #expect(try await Self.running(d, "h2") == ["web-0"])
        #expect(Self.instance(try await d.inventory(), "web-0")?.host == "h2")
        // h1 comes back with its old copy of web-0 running: destroyed and undefined at once
        try saved.write(toFile: f.path("h1.xml"), atomically: true, encoding: .utf8)
        let back = try await d.inventory()
        #expect(back.host("h1")?.state == .up)
        #expect(try await Self.listing(d, "h1").isEmpty)
        #expect(try await Self.running(d, "h2") == ["web-0"])
        #expect(back.instances.map(\.id) == ["web-0"])
    }

    // MARK: power

    @Test func powerOffDrainsTheHostAndRunsTheHook() async throws {
        let f = try Fixture(h1Domains: "")
        defer { f.remove() }
        var c = f.config(pin: nil)
        c.hosts["h1"] = .init(uri: f.uri("h1"), powerOn: ["touch", f.path("on-$HOST")], powerOff: ["touch", f.path("off-$HOST")])
        let d = try f.driver(c)
        defer { Task { await d.shutdown() } }
        try await d.scale(group: "web", to: 2, actionID: "w1")   // one per host
        let onH1 = try await Self.running(d, "h1")
        #expect(onH1.count == 1)
        try await d.power(host: "h1", on: false, actionID: "p1")
        #expect(FileManager.default.fileExists(atPath: f.path("off-h1")))
        #expect(try await Self.running(d, "h2") == ["web-0", "web-1"])
        var inv = try await d.inventory()
        #expect(inv.host("h1")?.state == .down && inv.instances.allSatisfy { $0.host == "h2" && $0.state == .running })
        // h2 cannot be powered off now: nowhere to put its domains
        await #expect(throws: DriverError.self) { try await d.power(host: "h2", on: false, actionID: "p2") }
        try await d.power(host: "h1", on: true, actionID: "p3")
        #expect(FileManager.default.fileExists(atPath: f.path("on-h1")))
        inv = try await d.inventory()
        #expect(inv.host("h1")?.state == .up)
        // a failing hook is a typed error naming it
        c.hosts["h2"] = .init(uri: f.uri("h2"), powerOn: ["false"])
        let d2 = try f.driver(c)
        defer { Task { await d2.shutdown() } }
        await #expect(throws: DriverError.rejected("power hook false for h2 exited with 1")) { try await d2.power(host: "h2", on: true, actionID: "p4") }
    }

    // MARK: resize, observe

    @Test func resizeChangesVCPUsAndMemoryWithinTheMaximum() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        try await d.resize(instance: "web-0", vcpus: 3, memoryMiB: 768, actionID: "z1")
        let facts = try #require(try await d.observe().inventory.instances.first)
        #expect(facts.vcpus == 3)
        #expect(d.status().first?.memoryBytes == 768 << 20)
        await #expect(throws: DriverError.self) { try await d.resize(instance: "web-0", vcpus: 9, memoryMiB: nil, actionID: "z2") }
        await #expect(throws: DriverError.self) { try await d.resize(instance: "web-0", vcpus: nil, memoryMiB: 4096, actionID: "z3") }
    }

    /// The test driver's CPU time is its wall clock: each running domain uses one core, i.e. 1/vCPUs of its size.
    @Test func observeReportsLoadFromCPUTimeDeltas() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        try await d.scale(group: "web", to: 2, actionID: "o1")   // web-0 (1 vCPU) + web-1 (2 vCPUs)
        _ = try await d.observe()
        try await Task.sleep(nanoseconds: 300_000_000)
        let o = try await d.observe()
        let load = try #require(o.groups["web"]?.load)
        #expect(load > 0.75 && load < 2.25, "\(load)")   // ≈ 1/1 + 1/2
        #expect(d.status().allSatisfy { $0.cpuCores > 0.5 && $0.cpuCores < 1.5 }, "\(d.status())")
    }

    // MARK: with the engine

    /// The engine over the libvirt driver: a domain that crashes behind its back is seen as exited at the next step and
    /// restarted (once); a host lost under a running instance makes it unknown, which the engine does not touch (it pages).
    @Test func engineRestartsACrashedDomain() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(restart: .destroyStart))
        defer { Task { await d.shutdown() } }
        let clock = WallClock()
        let audit = JSONLinesAudit()
        let engine = Engine(policies: ["web": restartOnlyPolicy()], driver: d, clock: clock, audit: audit)
        await engine.step(at: clock.nowMillis())
        #expect(audit.records().filter { $0.result == .executed }.isEmpty)
        try await Self.crash(d, "h1", "web-0")
        await engine.step(at: clock.nowMillis())
        let restarts = audit.records().filter { $0.kind == .restart && $0.instance == "web-0" && $0.result == .executed }
        #expect(restarts.count == 1, "\(audit.records())")
        #expect(try await Self.running(d, "h1") == ["web-0"])
        await engine.step(at: clock.nowMillis())
        #expect(audit.records().filter { $0.kind == .restart && $0.result == .executed }.count == 1)
        // h1 goes away: web-0 is unknown, not failed; nothing is restarted or relocated on h2
        try FileManager.default.removeItem(atPath: f.path("h1.xml"))
        await d.dropConnection("h1")
        await engine.step(at: clock.nowMillis())
        #expect(Self.instance(try await d.inventory(), "web-0")?.state == .unknown)
        let acted = audit.records().filter { $0.result == .executed && $0.kind != .page }
        #expect(acted.count == 1, "\(audit.records())")
        // half the hosts gone trips the engine's brake: it pages instead of acting
        #expect(audit.records().contains { $0.kind == .page && $0.gate == "brake" }, "\(audit.records())")
        #expect(try await Self.listing(d, "h2").isEmpty)
    }

    /// libvirt's lifecycle event for a domain destroyed behind the driver's back wakes `nextChange()`.
    @Test func aCrashBehindTheDriversBackWakesNextChange() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        _ = try await d.inventory()
        // consume anything signalled so far (a wait that returns at once, or nothing within 200 ms)
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await d.nextChange() }
            g.addTask { try? await Task.sleep(nanoseconds: 200_000_000) }
            await g.next()
            g.cancelAll()
        }
        let woke = Locked(false)
        let waiter = Task {
            await d.nextChange()
            woke.withLock { $0 = true }
        }
        #expect(!woke.withLock { $0 })
        try await Self.crash(d, "h1", "web-0")
        #expect(await eventually(30) { woke.withLock { $0 } })
        waiter.cancel()
    }

    /// The daemon runner's loop in miniature (interval 10 min, so only `nextChange()` can make it step): a domain
    /// destroyed behind the driver's back is restarted by the engine within the test.
    @Test func engineWokenByTheEventRestartsTheDomain() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config())
        defer { Task { await d.shutdown() } }
        let steps = Locked(0)
        let runner = runEngine(driver: d, policies: ["web": restartOnlyPolicy()], intervalMs: 600_000, steps: steps)
        #expect(await eventually(120) { steps.withLock { $0 } >= 1 })  // a loaded machine: bounded, generous
        try await Self.crash(d, "h1", "web-0")
        let restarted = await eventually(120) { (try? await Self.running(d, "h1")) == ["web-0"] }
        runner.cancel()
        let audit = await runner.value
        #expect(restarted)
        #expect(audit.filter { $0.kind == .restart && $0.instance == "web-0" && $0.result == .executed }.count == 1, "\(audit)")
    }

    // MARK: idempotency, dry-run, failures

    @Test func repeatedActionIDIsANoOp() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(restart: .destroyStart))
        defer { Task { await d.shutdown() } }
        try await d.scale(group: "web", to: 2, actionID: "same")
        try await d.scale(group: "web", to: 3, actionID: "same")
        #expect(try await d.inventory().instances.count == 2)
        let id0 = try await Self.listing(d, "h1")["web-0"]!.id
        try await d.restart(instance: "web-0", actionID: "r")
        let id1 = try await Self.listing(d, "h1")["web-0"]!.id
        try await d.restart(instance: "web-0", actionID: "r")
        let id2 = try await Self.listing(d, "h1")["web-0"]!.id
        #expect(id1 != id0 && id2 == id1)
        try await d.migrate(instance: "web-0", to: "h2", live: false, actionID: "mv")
        try await d.migrate(instance: "web-0", to: "h2", live: false, actionID: "mv")
        #expect(try await Self.running(d, "h2").contains("web-0"))
        // a repeated start after the domain crashed is still a no-op: a new attempt needs a new id
        try await d.stop(instance: "web-0", actionID: "st")
        #expect(try await Self.running(d, "h2") == ["web-1"])
        try await d.start(instance: "web-0", on: nil, actionID: "go")
        try await Self.crash(d, "h2", "web-0")
        try await d.start(instance: "web-0", on: nil, actionID: "go")  // repeat: no-op, stays off
        #expect(try await Self.running(d, "h2") == ["web-1"])
    }

    @Test func dryRunLogsAndChangesNothing() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let log = CapturedLog()
        let d = try f.driver(f.config(dryRun: true), logger: log.logger())
        defer { Task { await d.shutdown() } }
        let before = [try await Self.listing(d, "h1"), try await Self.listing(d, "h2")]
        try await d.scale(group: "web", to: 3, actionID: "a")
        try await d.restart(instance: "web-0", actionID: "b")
        try await d.stop(instance: "web-0", actionID: "c")
        try await d.migrate(instance: "web-0", to: "h2", live: true, actionID: "d")
        try await d.start(instance: "web-0", on: "h2", actionID: "e")
        try await d.power(host: "h1", on: false, actionID: "f")
        try await d.resize(instance: "web-0", vcpus: 2, memoryMiB: nil, actionID: "g")
        #expect([try await Self.listing(d, "h1"), try await Self.listing(d, "h2")] == before)
        let lines = log.all.filter { $0.hasPrefix("dry-run: would") }
        #expect(lines.count == 7, "\(log.all)")
        #expect(lines.contains { $0.hasPrefix("dry-run: would scale") && $0.contains("define web-1 from") && $0.contains("web.xml") })
        #expect(lines.contains { $0.hasPrefix("dry-run: would power off") && $0.contains("evacuate=[\"web-0\"]") }, "\(lines)")
        #expect(try await d.inventory().groups == [GroupInfo(id: "web", desiredReplicas: 1)])
    }

    @Test func unreachableHostsAreTypedErrorsNotCrashes() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let d = try f.driver(f.config(extraHosts: ["h3": .init(uri: "test://\(f.path("missing.xml"))"),
                                                   "h4": .init(uri: "nosuchdriver:///system")]))
        defer { Task { await d.shutdown() } }
        let inv = try await d.inventory()
        #expect(inv.hosts.map(\.state) == [.up, .up, .unreachable, .unreachable])
        #expect(inv.instances.map(\.id) == ["web-0"])
        do { try await d.migrate(instance: "web-0", to: "h3", live: true, actionID: "m") } catch {
            guard case .unavailable(let m) = error else { Issue.record("\(error)"); return }
            #expect(m.contains("h3"), "\(m)")
        }
        #expect(try await Self.running(d, "h1") == ["web-0"])   // nothing moved
        // the missing daemon appears: the next listing connects
        try Fixture.node("").write(toFile: f.path("missing.xml"), atomically: true, encoding: .utf8)
        #expect(try await d.inventory().host("h3")?.state == .up)
        try await d.migrate(instance: "web-0", to: "h3", live: true, actionID: "m2")
        #expect(try await Self.running(d, "h3") == ["web-0"])
    }

    /// A daemon that accepts the connection and never answers (a real unix socket held by a real process): calls to
    /// that host time out with a typed error, later ones fail fast while the stuck call is out, other hosts go on.
    @Test func hungDaemonTimesOutWithoutBlockingOtherHosts() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let sock = f.path("hang.sock"), ready = f.path("hang.ready")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
            open(sys.argv[2], "w").close()
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """, sock, ready]
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        // polled, not a blocking read: the test must not hold a concurrency-pool thread while python starts
        #expect(await eventually(30) { FileManager.default.fileExists(atPath: ready) })
        let d = try f.driver(f.config(extraHosts: ["h3": .init(uri: "test+unix:///default?socket=\(sock)")], callTimeoutMs: 300))
        let inv = try await d.inventory()
        #expect(inv.host("h1")?.state == .up && inv.host("h3")?.state == .unreachable)
        do { try await d.migrate(instance: "web-0", to: "h3", live: true, actionID: "m") } catch {
            #expect(error.description.contains("h3"), "\(error)")
        }
        let again: DriverError? = await {
            do throws(DriverError) { _ = try await d.hosts["h3"]!.call("probe", timeoutMs: 300, clock: WallClock()) { _ in .success(0) } } catch { return error }
            return nil
        }()
        #expect(again.map { if case .unavailable(let m) = $0 { m.contains("has not returned") } else { false } } == true, "\(String(describing: again))")
        #expect(try await d.inventory().host("h2")?.state == .up)
        // the daemon goes away: the stuck call returns an error, the thread is free again (SIGKILL: a child of the
        // test process may inherit SIGTERM ignored)
        kill(server.processIdentifier, SIGKILL)
        #expect(await eventually(30) { !server.isRunning })
        let freed = await eventually(30) {
            do throws(DriverError) { _ = try await d.hosts["h3"]!.call("probe", timeoutMs: 1_000, clock: WallClock()) { _ in .success(0) } } catch {
                if case .unavailable(let m) = error { return m.contains("cannot connect") }
            }
            return false
        }
        #expect(freed)
        await d.shutdown()
    }

    // MARK: config

    @Test func configDecoding() throws {
        let yaml = """
            hosts:
              h1: "test:///tmp/h1.xml"
              h2: {uri: "qemu+ssh://h2/system", power_off: [ipmitool, -H, h2-bmc, power, off]}
            groups:
              web: {template: web.xml, host: h1}
            restart: destroy_start
            shutdown_timeout: 5s
            call_timeout: 3s
            dry_run: true
            """
        let c = try StrictYAMLDecoder.decode(LibvirtDriverConfig.self, yaml: yaml, file: "t.yml")
        #expect(c.hosts["h1"] == .init(uri: "test:///tmp/h1.xml"))
        #expect(c.hosts["h2"]?.powerOff == ["ipmitool", "-H", "h2-bmc", "power", "off"] && c.hosts["h2"]?.powerOn == nil)
        #expect(c.groups["web"] == .init(template: "web.xml", host: "h1"))
        #expect(c.restart == .destroyStart && c.shutdownTimeout.milliseconds == 5000 && c.callTimeout.milliseconds == 3000 && c.dryRun)
        func err(_ y: String) -> String {
            do { _ = try StrictYAMLDecoder.decode(LibvirtDriverConfig.self, yaml: y, file: "t.yml"); return "" } catch { return "\(error)" }
        }
        #expect(err("hosts: {h1: 'test:///x'}\nrestart: kick\n").contains("unknown restart mode \"kick\""))
        #expect(err("hosts: {h1: 'test:///x'}\ngroups: {web: {template: w.xml, host: h9}}\n").contains("groups.web.host: \"h9\""))
        #expect(err("hosts: {h1: nowhere}\n").contains("expected a libvirt connection URI"))
        #expect(err("hosts: {}\n").contains("at least one host"))
        #expect(err("hosts: {h1: 'test:///x'}\ngroups: {web: {templat: w.xml}}\n").contains("templat"))
        // templates are read when the driver is built; errors name the field and the file
        let missing = LibvirtDriverConfig(hosts: ["h1": .init(uri: "test:///default")], groups: ["web": .init(template: "nope.xml")])
        #expect(throws: LibvirtDriverSetupError.self) { try LibvirtDriver(config: missing, baseDir: "/nonexistent-dir") }
        do { _ = try LibvirtDriver(config: missing, baseDir: "/nonexistent-dir") } catch {
            #expect(error.description == "driver.libvirt.groups.web.template: cannot read domain template /nonexistent-dir/nope.xml")
        }
        let f = try Fixture()
        defer { f.remove() }
        try "<domain><name>fixed</name></domain>".write(toFile: f.path("fixed.xml"), atomically: true, encoding: .utf8)
        let fixed = LibvirtDriverConfig(hosts: ["h1": .init(uri: "test:///default")], groups: ["web": .init(template: "fixed.xml")])
        do { _ = try LibvirtDriver(config: fixed, baseDir: f.dir.path); Issue.record("accepted a template without ${NAME}") } catch {
            #expect(error.description.contains("fixed.xml: the template must contain ${NAME}"))
        }
    }

    @Test func templateRenderingAndNames() throws {
        let f = try Fixture()
        defer { f.remove() }
        let t = try DomainTemplate(file: f.path("web.xml"))
        let x = t.render(group: "web", index: 7)
        #expect(x.contains("<name>web-7</name>") && x.contains("instance 7 of web") && !x.contains("<uuid>"))
        #expect(LibvirtDriver.memoryKiB(inXML: x) == 512 * 1024)
        #expect(LibvirtDriver.memoryKiB(inXML: Fixture.web0) == 524288)
        let d = try LibvirtDriver(config: LibvirtDriverConfig(hosts: ["h1": .init(uri: "test:///default")],
                                                              groups: ["web": .init(template: "web.xml"), "web-api": .init(template: "web.xml")]),
                                  baseDir: f.dir.path)
        #expect(d.member("web-3")! == (group: "web", index: 3))
        #expect(d.member("web-api-12")! == (group: "web-api", index: 12))
        #expect(d.member("web-") == nil && d.member("web-x") == nil && d.member("db-1") == nil && d.member("web-api") == nil)
    }
}

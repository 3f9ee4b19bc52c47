import CLibvirt
import Foundation
import VigilEngine

/// What one domain looked like at one listing (read on its host's thread).
struct DomainFacts: Sendable, Equatable {
    var name: String
    /// libvirt's `virDomainState` (1 running, 3 paused, 5 shut off, …).
    var state: Int32
    var active: Bool
    var vcpus: Int
    var memoryKiB: UInt64
    var maxMemoryKiB: UInt64
    /// Cumulative CPU time of the domain, ns.
    var cpuTimeNs: UInt64
}

/// One host's listing.
struct HostFacts: Sendable {
    var cpus: Int
    var memoryKiB: UInt64
    var domains: [DomainFacts]
    /// Inactive XML of the domains asked for (the definition a relocation re-creates when the host is gone).
    var xml: [String: String]
    /// When the domains' CPU times were read (ms of the driver's clock, taken on the host's thread).
    var atMillis: Int64 = 0
}

/// The namespace of the metadata element the driver puts on domains it defines from a template (only those are
/// undefined on scale-in).
let vigilMetadataNamespace = "urn:vigil:libvirt-driver"

/// libvirt calls on one connection, made on that host's thread. Each returns a typed result; none keeps a domain
/// pointer beyond the call.
enum DomainOps {
    static let statsGroups: UInt32 = VIR_DOMAIN_STATS_STATE.rawValue | VIR_DOMAIN_STATS_CPU_TOTAL.rawValue
        | VIR_DOMAIN_STATS_BALLOON.rawValue | VIR_DOMAIN_STATS_VCPU.rawValue

    /// Node size and every domain (active and defined) with its state, vCPUs, memory and CPU time: one
    /// `virConnectGetAllDomainStats` call, with `virDomainGetInfo` for what the record lacks (libvirt's test driver
    /// reports only the STATE group). The inactive XML of the domains named in `wantXML` is read too.
    static func list(_ conn: OpaquePointer, wantXML: @Sendable (String) -> Bool) -> Result<HostFacts, DriverError> {
        var ni = virNodeInfo()
        guard virNodeGetInfo(conn, &ni) == 0 else { return .failure(libvirtError("virNodeGetInfo")) }
        var records: UnsafeMutablePointer<virDomainStatsRecordPtr?>?
        let n = virConnectGetAllDomainStats(conn, statsGroups, &records, 0)
        guard n >= 0 else { return .failure(libvirtError("virConnectGetAllDomainStats")) }
        defer { virDomainStatsRecordListFree(records) }
        var out = HostFacts(cpus: Int(ni.cpus), memoryKiB: UInt64(ni.memory), domains: [], xml: [:])
        for i in 0..<Int(n) {
            guard let rec = records?[i]?.pointee, let dom = rec.dom, let cname = virDomainGetName(dom) else { continue }
            let name = String(cString: cname)
            var p: [String: Double] = [:]
            if let first = rec.params {
                for j in 0..<Int(rec.nparams) {
                    guard let f = vigil_param_field(first + j) else { continue }
                    var ok: Int32 = 0
                    let v = vigil_param_number(first + j, &ok)
                    if ok != 0 { p[String(cString: f)] = v }
                }
            }
            var info = virDomainInfo()
            let haveInfo = ["state.state", "cpu.time", "vcpu.current", "balloon.current", "balloon.maximum"].contains { p[$0] == nil }
                && virDomainGetInfo(dom, &info) == 0
            func num(_ k: String, _ fallback: @autoclosure () -> Double) -> Double { p[k] ?? (haveInfo ? fallback() : 0) }
            let state = Int32(num("state.state", Double(info.state)))
            out.domains.append(DomainFacts(
                name: name, state: state, active: virDomainIsActive(dom) == 1,
                vcpus: Int(num("vcpu.current", Double(info.nrVirtCpu))),
                memoryKiB: UInt64(num("balloon.current", Double(info.memory))),
                maxMemoryKiB: UInt64(num("balloon.maximum", Double(info.maxMem))),
                cpuTimeNs: UInt64(num("cpu.time", Double(info.cpuTime)))))
            if wantXML(name), let x = xml(dom) { out.xml[name] = x }
        }
        return .success(out)
    }

    /// The domain's persistent definition, fit to define elsewhere.
    static func xml(_ dom: OpaquePointer) -> String? {
        let flags = VIR_DOMAIN_XML_INACTIVE.rawValue | VIR_DOMAIN_XML_SECURE.rawValue | VIR_DOMAIN_XML_MIGRATABLE.rawValue
        guard let p = virDomainGetXMLDesc(dom, flags) ?? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE.rawValue) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Runs `body` with the named domain (looked up on `conn`, freed afterwards).
    static func with<T>(_ conn: OpaquePointer, _ name: String, _ body: (OpaquePointer) -> Result<T, DriverError>) -> Result<T, DriverError> {
        guard let dom = virDomainLookupByName(conn, name) else { return .failure(libvirtError("domain \(name)")) }
        defer { virDomainFree(dom) }
        return body(dom)
    }

    static func isActive(_ conn: OpaquePointer, _ name: String) -> Result<Bool, DriverError> {
        with(conn, name) { dom in
            let a = virDomainIsActive(dom)
            return a < 0 ? .failure(libvirtError("virDomainIsActive \(name)")) : .success(a == 1)
        }
    }

    /// Starts a defined domain; a running one is left alone.
    static func start(_ conn: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            if virDomainIsActive(dom) == 1 { return .success(()) }
            return virDomainCreate(dom) == 0 ? .success(()) : .failure(libvirtError("start \(name)"))
        }
    }

    /// Powers a domain off at once (a stopped one is left alone).
    static func destroy(_ conn: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            if virDomainIsActive(dom) != 1 { return .success(()) }
            return virDomainDestroy(dom) == 0 ? .success(()) : .failure(libvirtError("destroy \(name)"))
        }
    }

    /// Asks the guest to shut down (ACPI); returns at once.
    static func requestShutdown(_ conn: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            if virDomainIsActive(dom) != 1 { return .success(()) }
            return virDomainShutdown(dom) == 0 ? .success(()) : .failure(libvirtError("shutdown \(name)"))
        }
    }

    static func reboot(_ conn: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            virDomainReboot(dom, 0) == 0 ? .success(()) : .failure(libvirtError("reboot \(name)"))
        }
    }

    /// Removes a domain's definition (it must not be running). Managed-save images, snapshot and checkpoint
    /// metadata and NVRAM go with it; a driver that refuses those flags gets a plain undefine.
    static func undefine(_ conn: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            if virDomainIsPersistent(dom) != 1 { return .success(()) }  // transient: destroy removed it already
            let flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue
                | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.rawValue | VIR_DOMAIN_UNDEFINE_NVRAM.rawValue
            if virDomainUndefineFlags(dom, flags) == 0 || virDomainUndefine(dom) == 0 { return .success(()) }
            return .failure(libvirtError("undefine \(name)"))
        }
    }

    /// Whether the domain carries the driver's metadata (it was defined from a group's template).
    static func isOurs(_ conn: OpaquePointer, _ name: String) -> Bool {
        (try? with(conn, name) { dom -> Result<Bool, DriverError> in
            guard let m = virDomainGetMetadata(dom, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), vigilMetadataNamespace,
                                               VIR_DOMAIN_AFFECT_CONFIG.rawValue) else { return .success(false) }
            free(m)
            return .success(true)
        }.get()) ?? false
    }

    /// Defines `xml` on `conn` (tagging it with the driver's metadata when `group` is given) and returns the stored
    /// definition. A definition whose start fails is removed again by the caller.
    static func define(_ conn: OpaquePointer, _ xml: String, name: String, group: String?, index: Int) -> Result<String, DriverError> {
        guard let dom = virDomainDefineXML(conn, xml) else { return .failure(libvirtError("define \(name)")) }
        defer { virDomainFree(dom) }
        if let group {
            let element = "<instance group=\"\(escapeXML(group))\" index=\"\(index)\"/>"
            if virDomainSetMetadata(dom, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), element, "vigil", vigilMetadataNamespace,
                                    VIR_DOMAIN_AFFECT_CONFIG.rawValue) != 0 {
                let e = libvirtError("set metadata of \(name)")
                _ = virDomainUndefine(dom)
                return .failure(e)
            }
        }
        return .success(Self.xml(dom) ?? xml)
    }

    /// Client-driven live migration between two connections (the domain stays defined on the target and is
    /// undefined on the source). Fails on hypervisor drivers that cannot migrate (libvirt's test driver).
    static func migrateLive(_ src: OpaquePointer, _ dst: OpaquePointer, _ name: String) -> Result<Void, DriverError> {
        with(src, name) { dom in
            let flags = UInt(VIR_MIGRATE_LIVE.rawValue | VIR_MIGRATE_PERSIST_DEST.rawValue | VIR_MIGRATE_UNDEFINE_SOURCE.rawValue)
            guard let moved = virDomainMigrate(dom, dst, flags, nil, nil, 0) else {
                return .failure(libvirtError("live migration of \(name)"))
            }
            virDomainFree(moved)
            return .success(())
        }
    }

    /// Sets vCPUs and memory of a domain, live (when running) and in its persistent definition.
    static func resize(_ conn: OpaquePointer, _ name: String, vcpus: Int?, memoryKiB: UInt64?) -> Result<Void, DriverError> {
        with(conn, name) { dom in
            let live = virDomainIsActive(dom) == 1
            let scopes = live ? [VIR_DOMAIN_AFFECT_LIVE.rawValue, VIR_DOMAIN_AFFECT_CONFIG.rawValue] : [VIR_DOMAIN_AFFECT_CONFIG.rawValue]
            for scope in scopes {
                if let v = vcpus, virDomainSetVcpusFlags(dom, UInt32(v), scope) != 0 {
                    return .failure(libvirtError("set \(name) to \(v) vCPUs"))
                }
                if let m = memoryKiB, virDomainSetMemoryFlags(dom, UInt(m), scope) != 0 {
                    return .failure(libvirtError("set \(name) to \(m / 1024) MiB"))
                }
            }
            return .success(())
        }
    }

    static func escapeXML(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&apos;")
    }
}

/// A group's domain template, read and checked once.
struct DomainTemplate: Sendable, Equatable {
    let file: String
    let text: String

    init(file: String) throws(LibvirtDriverSetupError) {
        self.file = file
        guard let t = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw LibvirtDriverSetupError("cannot read domain template \(file)")
        }
        guard t.contains("<domain") else { throw LibvirtDriverSetupError("\(file): not a domain XML (no <domain> element)") }
        guard t.contains("${NAME}") else {
            throw LibvirtDriverSetupError("\(file): the template must contain ${NAME} (each instance's domain name)")
        }
        text = t
    }

    /// The XML of instance `index` of `group`: names substituted, any `<uuid>` dropped (libvirt assigns a fresh one).
    func render(group: String, index: Int) -> String {
        var x = text.replacingOccurrences(of: "${NAME}", with: DomainOps.escapeXML("\(group)-\(index)"))
            .replacingOccurrences(of: "${GROUP}", with: DomainOps.escapeXML(group))
            .replacingOccurrences(of: "${INDEX}", with: String(index))
        while let a = x.range(of: "<uuid>"), let b = x.range(of: "</uuid>", range: a.upperBound..<x.endIndex) {
            x.removeSubrange(a.lowerBound..<b.upperBound)
        }
        return x
    }
}

/// A configuration problem found when the driver is built (a template that cannot be read); names the file.
public struct LibvirtDriverSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ s: String) { description = s }
}

import Foundation
import Testing

/// Enforces the layering written in ARCHITECTURE.md ("Modules and what may import what"): every module under
/// `Sources/` has a row there, its `import`s and its `Package.swift` dependencies name only modules its row allows,
/// and the allowed imports form layers (no cycle). A module that imports one above it fails here, naming the file.
@Suite struct LayeringTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// module → modules it may import, from the ARCHITECTURE.md table (backticked names in the third column).
    static func allowedImports() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("ARCHITECTURE.md"), encoding: .utf8)
        guard let start = text.range(of: "## Modules and what may import what") else {
            Issue.record("ARCHITECTURE.md has no \"## Modules and what may import what\" section")
            return [:]
        }
        var table: [String: Set<String>] = [:]
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("## ") { break }
            guard line.hasPrefix("|") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let names = backticked(cells[1])
            guard !names.isEmpty, !cells[1].hasPrefix("---") else { continue }
            let allowed = Set(backticked(cells[3]))
            for n in names { table[n] = allowed }
        }
        return table
    }

    static func backticked(_ s: String) -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        while let a = rest.firstIndex(of: "`") {
            let after = rest[rest.index(after: a)...]
            guard let b = after.firstIndex(of: "`") else { break }
            let name = String(after[..<b]).split(separator: " ").first.map(String.init) ?? ""
            if !name.isEmpty { out.append(name) }
            rest = after[after.index(after: b)...]
        }
        return out
    }

    static func sourceModules() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Modules imported by the Swift files of `module`, with the file that imports each.
    static func imports(of module: String) throws -> [(module: String, file: String)] {
        let dir = root.appendingPathComponent("Sources/\(module)")
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        var out: [(String, String)] = []
        for case let rel as String in e where rel.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(rel), encoding: .utf8)
            for line in text.split(separator: "\n") {
                var words = line.split(separator: " ").map(String.init)
                while let w = words.first, w.hasPrefix("@") || ["public", "package", "internal", "private", "fileprivate"].contains(w) {
                    words.removeFirst()
                }
                guard words.count >= 2, words[0] == "import" else { continue }
                let name = words[1].split(separator: ".").first.map(String.init) ?? words[1]
                out.append((name, "Sources/\(module)/\(rel)"))
            }
        }
        return out
    }

    /// Internal dependencies (target names, not products) declared for each target in Package.swift.
    static func packageDependencies() throws -> [String: Set<String>] {
        var text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        // Drop comments and `.product(...)` entries: only the package's own targets are checked.
        text = text.split(separator: "\n").map { l in l.range(of: "//").map { String(l[..<$0.lowerBound]) } ?? String(l) }
            .joined(separator: "\n")
        while let p = text.range(of: ".product(") {
            guard let close = text[p.upperBound...].firstIndex(of: ")") else { break }
            text.removeSubrange(p.lowerBound...close)
        }
        var deps: [String: Set<String>] = [:]
        for kind in [".target(", ".executableTarget(", ".testTarget(", ".systemLibrary("] {
            var search = text.startIndex..<text.endIndex
            while let r = text.range(of: kind, range: search) {
                // The call's text up to its matching parenthesis.
                var depth = 1
                var i = r.upperBound
                while i < text.endIndex, depth > 0 {
                    if text[i] == "(" { depth += 1 } else if text[i] == ")" { depth -= 1 }
                    i = text.index(after: i)
                }
                let call = String(text[r.upperBound..<i])
                search = i..<text.endIndex
                guard let n = call.range(of: "name: \""), let q = call[n.upperBound...].firstIndex(of: "\"") else { continue }
                let name = String(call[n.upperBound..<q])
                var set = Set<String>()
                if let d = call.range(of: "dependencies: ["), let end = call[d.upperBound...].firstIndex(of: "]") {
                    for part in call[d.upperBound..<end].split(separator: "\"").enumerated() where part.offset % 2 == 1 {
                        set.insert(String(part.element))
                    }
                }
                deps[name] = set
            }
        }
        return deps
    }

    @Test func everyModuleHasARow() throws {
        let table = try Self.allowedImports()
        #expect(!table.isEmpty)
        for m in try Self.sourceModules() {
            #expect(table[m] != nil, "Sources/\(m) has no row in ARCHITECTURE.md's module table")
        }
    }

    @Test func importsFollowTheLayers() throws {
        let table = try Self.allowedImports()
        let modules = Set(try Self.sourceModules())
        for m in modules.sorted() {
            let allowed = table[m] ?? []
            for (imp, file) in try Self.imports(of: m) where modules.contains(imp) && imp != m {
                #expect(allowed.contains(imp), "\(file) imports \(imp), which ARCHITECTURE.md does not allow \(m) to import")
            }
        }
    }

    @Test func packageDependenciesFollowTheLayers() throws {
        let table = try Self.allowedImports()
        let modules = Set(try Self.sourceModules())
        let deps = try Self.packageDependencies()
        #expect(deps["VigilCore"] != nil, "Package.swift parse found no VigilCore target")
        for m in modules.sorted() {
            for d in deps[m] ?? [] where modules.contains(d) {
                #expect(table[m]?.contains(d) == true,
                        "Package.swift: target \(m) depends on \(d), which ARCHITECTURE.md does not allow")
            }
        }
    }

    @Test func layersHaveNoCycle() throws {
        let table = try Self.allowedImports()
        // Kahn's algorithm over "may import" edges restricted to modules in the table.
        var indegree = table.mapValues { _ in 0 }
        for (_, allowed) in table { for a in allowed where indegree[a] != nil { indegree[a, default: 0] += 1 } }
        var queue = indegree.filter { $0.value == 0 }.map(\.key)
        var seen = 0
        while let m = queue.popLast() {
            seen += 1
            for a in table[m] ?? [] where indegree[a] != nil {
                indegree[a]! -= 1
                if indegree[a] == 0 { queue.append(a) }
            }
        }
        #expect(seen == table.count, "ARCHITECTURE.md's may-import table has a cycle: \(indegree.filter { $0.value > 0 }.keys.sorted())")
    }

    /// The checker itself: a made-up import of a higher module is caught.
    @Test func checkerCatchesAnUpwardImport() throws {
        let table = try Self.allowedImports()
        #expect(table["VigilCore"]?.contains("VigilServer") == false)
        #expect(table["VigilServer"]?.contains("VigilStore") == true)
        #expect(Self.backticked("`VigilCore`, `CBLAS` (system)") == ["VigilCore", "CBLAS"])
    }
}

import Foundation

/// Helpers the test targets share (never linked by production code).

/// The built `vigil` executable, next to the test bundle (`.build/debug/vigil`), for tests that run the real binary.
public func vigilExecutable() -> String? {
    let fm = FileManager.default
    var dirs = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    dirs += dirs.map { $0.deletingLastPathComponent() }
    for d in dirs {
        let p = d.appendingPathComponent("vigil").path
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue, fm.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

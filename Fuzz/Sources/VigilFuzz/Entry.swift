// libFuzzer entry point for every Vigil decoder and parser (docs/fuzzing.md).
//
// One executable holds all targets; `VIGIL_FUZZ_TARGET=<name>` picks the one this process fuzzes.
// Built only by `make fuzz` (Package.swift adds this target when VIGIL_FUZZ=1), with
//   swift build --scratch-path .build-fuzz --product VigilFuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// SwiftPM links an executable's entry point as `<module>_main` (`--defsym main=VigilFuzz_main`), which keeps
// libFuzzer's own `main` out of the link; `VigilFuzz_main` below hands argc/argv to libFuzzer's driver
// (LLVMFuzzerRunDriver), which calls LLVMFuzzerInitialize once and LLVMFuzzerTestOneInput per input.
// A target returns normally for any input, accepted or rejected: only a trap, an ASan report, a leak,
// a timeout or running out of memory is a finding.

import Foundation

/// The selected target, fixed by LLVMFuzzerInitialize before the first input.
nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let dir = getenv("VIGIL_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
        do { try Seeds.write(to: dir); exit(0) } catch {
            complain("VigilFuzz: cannot write seeds: \(error)")
            exit(1)
        }
    }
    let name = getenv("VIGIL_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let t = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        complain("VigilFuzz: set VIGIL_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    selected = t
    t.setUp()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected!.run(bytes)
    return 0
}

func complain(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("VigilFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOne(data, size) })
}

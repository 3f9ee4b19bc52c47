import Testing
@testable import VigilStore

@Test func moduleLinks() { #expect(VigilStoreModule.name == "VigilStore") }

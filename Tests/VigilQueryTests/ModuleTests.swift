import Testing
@testable import VigilQuery

@Test func moduleLinks() { #expect(VigilQueryModule.name == "VigilQuery") }

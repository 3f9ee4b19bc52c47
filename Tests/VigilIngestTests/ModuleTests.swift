import Testing
@testable import VigilIngest

@Test func moduleLinks() { #expect(VigilIngestModule.name == "VigilIngest") }

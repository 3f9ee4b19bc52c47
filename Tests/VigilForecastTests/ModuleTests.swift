import Testing
@testable import VigilForecast

@Test func moduleLinks() { #expect(VigilForecastModule.name == "VigilForecast") }

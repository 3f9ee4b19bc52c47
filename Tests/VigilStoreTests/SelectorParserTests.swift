import Testing
import VigilCore
@testable import VigilStore

@Test func parsesSelectors() throws {
    let m = try SelectorParser.parse(#"up{job="api", instance=~"a|b", env!="dev", x!~'y.*'}"#)
    #expect(m.map(\.description) == [#"__name__="up""#, #"job="api""#, #"instance=~"a|b""#, #"env!="dev""#, #"x!~"y.*""#])
    #expect(try SelectorParser.parse(#"{job="x"}"#).map(\.description) == [#"job="x""#])
    #expect(try SelectorParser.parse("node_load1").map(\.description) == [#"__name__="node_load1""#])
    #expect(try SelectorParser.parse(#"{a="q\"uote\\"}"#).first?.value == #"q"uote\"#)
}

@Test(arguments: [#"{job="x""#, #"{job=x}"#, "", "{}", #"{job=="x"}"#, #"up{a="b"} extra"#, #"{a=~"("}"#, #"{="x"}"#])
func rejectsBadSelectors(_ input: String) {
    #expect(throws: SelectorParser.ParseError.self) { try SelectorParser.parse(input) }
}

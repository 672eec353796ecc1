#include "core/strings.h"

#include <gtest/gtest.h>

#include <string>

namespace syncd {
namespace {

TEST(TerminalSafe, PrintableTextPassesUnchanged) {
  EXPECT_EQ(TerminalSafe(""), "");
  EXPECT_EQ(TerminalSafe("Alice Smith <alice@corp.example.com>"),
            "Alice Smith <alice@corp.example.com>");
  EXPECT_EQ(TerminalSafe("CN=Smith\\, John,OU=People"), "CN=Smith\\, John,OU=People");
  EXPECT_EQ(TerminalSafe("Zoë Ångström 山田 🙂"), "Zoë Ångström 山田 🙂");
}

// Regression (issue 14): a displayName with an OSC title, a clear-screen CSI
// and a newline that fakes a plan line reached the terminal raw.
TEST(TerminalSafe, EscapeSequencesAndNewlinesAreShownEscaped) {
  const std::string hostile = "x\x1b]0;pwned\a\x1b[2J\nFAKE: nothing to do";
  const std::string safe = TerminalSafe(hostile);
  EXPECT_EQ(safe, "x\\x1b]0;pwned\\x07\\x1b[2J\\nFAKE: nothing to do");
  for (char c : safe) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << safe;
}

TEST(TerminalSafe, EveryControlCharacterIsEscaped) {
  EXPECT_EQ(TerminalSafe("a\rb\tc"), "a\\rb\\tc");
  EXPECT_EQ(TerminalSafe(std::string("nul\0", 4)), "nul\\x00");
  EXPECT_EQ(TerminalSafe("del\x7f"), "del\\x7f");
  EXPECT_EQ(TerminalSafe("\x01\x1f"), "\\x01\\x1f");
  // C1 controls as UTF-8 (U+009B is CSI on 8-bit terminals), Unicode line
  // separators and a right-to-left override.
  EXPECT_EQ(TerminalSafe("a\xc2\x9b"
                         "2Jb"),
            "a\\u009b2Jb");
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xa8"
                         "b\xe2\x80\xa9"),
            "a\\u2028b\\u2029");
  EXPECT_EQ(TerminalSafe("evil\xe2\x80\xae"
                         "txt.exe"),
            "evil\\u202etxt.exe");
  EXPECT_EQ(TerminalSafe("\xe2\x81\xa6"
                         "x"),
            "\\u2066x");
}

TEST(TerminalSafe, InvalidUtf8IsShownByteByByte) {
  EXPECT_EQ(TerminalSafe("a\x9b"
                         "b"),
            "a\\x9bb");                                                 // a raw 8-bit CSI
  EXPECT_EQ(TerminalSafe("\xff\xfe"), "\\xff\\xfe");                    // never in UTF-8
  EXPECT_EQ(TerminalSafe("\xc3"), "\\xc3");                             // truncated
  EXPECT_EQ(TerminalSafe("\xc0\x8a"), "\\xc0\\x8a");                    // overlong newline
  EXPECT_EQ(TerminalSafe("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(TerminalSafe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(TerminalSafe("\xe5\xb1"
                         "x"),
            "\\xe5\\xb1x");  // cut short by ASCII
}

TEST(AppendJsonString, EscapesOnlyWhatJsonRequiresAndPassesBytesThrough) {
  std::string out = "x";
  AppendJsonString(&out, "a\"b\\c\n\x01\x1f \x7f\xff\xc3\xa9");
  EXPECT_EQ(out, "x\"a\\\"b\\\\c\\u000a\\u0001\\u001f \x7f\xff\xc3\xa9\"");
}

}  // namespace
}  // namespace syncd

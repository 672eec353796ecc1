#include "ldap/syntax.h"

#include <gtest/gtest.h>

#include <string>

namespace syncd::ldap {
namespace {

TEST(LdapSyntax, AttributeDescriptions) {
  for (const char* good : {"mail", "sn", "mS-DS-ConsistencyGuid", "msDS-cloudExtensionAttribute1",
                           "2.5.4.3", "1.2.840.113556.1.4.221", "cn;lang-fr", "cn;x-a;binary"}) {
    EXPECT_TRUE(IsAttributeDescription(good)) << good;
  }
  for (const char* bad : {"", "no such attr!", "1mail", "-mail", "mail;", ";x", "mail;a=b",
                          "2.05.4", "2.5.", "1", "mail address", "member;range=0-*"}) {
    EXPECT_FALSE(IsAttributeDescription(bad)) << bad;
  }
}

TEST(LdapSyntax, DnsThroughLibldap) {
  EXPECT_TRUE(CheckDn("DC=corp,DC=example,DC=com").ok());
  EXPECT_TRUE(CheckDn("CN=Smith\\, John,OU=People,DC=corp").ok());
  EXPECT_TRUE(CheckDn("CN=caf\xc3\xa9,DC=corp").ok());
  EXPECT_FALSE(CheckDn("not a dn").ok());
  EXPECT_FALSE(CheckDn("CN=a,,DC=b").ok());
  EXPECT_FALSE(CheckDn(std::string("CN=a\0b", 6)).ok());
  EXPECT_FALSE(CheckDn("").ok());
  EXPECT_TRUE(CheckDn("DC=" + std::string(kMaxDnLength - 3, 'x')).ok());
  EXPECT_FALSE(CheckDn("DC=" + std::string(kMaxDnLength - 2, 'x')).ok());
}

TEST(LdapSyntax, FilterForms) {
  EXPECT_TRUE(CheckFilter("(a=1)").ok());
  EXPECT_FALSE(CheckFilter("(a=1)(b=2)").ok()) << "one filter only";
  EXPECT_TRUE(CheckFilterList("(a=1)(b=2)").ok());
  EXPECT_FALSE(CheckFilterList("a=1").ok());
  EXPECT_TRUE(CheckFilterWithoutParentheses("a=1").ok());
  EXPECT_TRUE(CheckFilterWithoutParentheses("&(a=1)(!(b=2))").ok());
  EXPECT_FALSE(CheckFilter("").ok());
  EXPECT_FALSE(CheckFilter("()").ok());
  EXPECT_FALSE(CheckFilter("(a=1").ok());
  EXPECT_FALSE(CheckFilter("(!(a=1)(b=2))").ok()) << "! takes one filter";
  EXPECT_TRUE(CheckFilter("(a:=1)").ok());
  EXPECT_FALSE(CheckFilter("(:=1)").ok());
  EXPECT_FALSE(CheckFilter("(a:1.2.3:dn:=1)").ok()) << ":dn comes before the rule";
  EXPECT_FALSE(CheckFilter(std::string("(a=\0)", 5)).ok());
  EXPECT_FALSE(CheckFilter("(a=" + std::string(kMaxFilterLength, 'x') + ")").ok());
  const Status st = CheckFilter("(a=1)x");
  EXPECT_EQ(st.message(),
            "must be an LDAP filter (RFC 4515): unexpected text after the filter at character 6");
}

}  // namespace
}  // namespace syncd::ldap

// Syntax checks for the LDAP strings a config holds, so that a typo is an
// error at load naming the key, not a failed search at run time (or worse, a
// search that quietly matches nothing). Each returns InvalidArgument whose
// message is a predicate for the caller to prefix with the key ("must be ...").
#ifndef SYNCD_LDAP_SYNTAX_H_
#define SYNCD_LDAP_SYNTAX_H_

#include <cstddef>
#include <string_view>

#include "core/status.h"

namespace syncd::ldap {

// Far longer than any DN in a real directory; a bound so that a pasted blob
// is refused rather than sent to every search.
inline constexpr size_t kMaxDnLength = 8192;
// Room for a filter listing a few hundred values.
inline constexpr size_t kMaxFilterLength = 65536;
// Nested &, | and ! deeper than this are a mistake (and would recurse).
inline constexpr int kMaxFilterDepth = 64;

// An LDAPv3 DN (RFC 4514, as libldap's ldap_str2dn reads it), not empty.
Status CheckDn(std::string_view dn);

// RFC 4515 filters: exactly one "(...)"; one or more in a row, as the body of
// an AND takes them; or one filter without its outer parentheses
// ("department=Sales", "|(a=1)(b=2)"). Extensible matches (AD's
// "(userAccountControl:1.2.840.113556.1.4.803:=2)") are accepted, and spaces
// after "(" and between filters, as libldap allows. The message says what is
// wrong and at which character.
Status CheckFilter(std::string_view filter);
Status CheckFilterList(std::string_view filters);
Status CheckFilterWithoutParentheses(std::string_view filter);

// An RFC 4512 attribute description: a name (a letter, then letters, digits
// and hyphens) or a numeric OID, then any ";option"s ("member;range=0-*" is not
// one: options hold no "=").
bool IsAttributeDescription(std::string_view text);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_SYNTAX_H_

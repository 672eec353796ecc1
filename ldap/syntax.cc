#include "ldap/syntax.h"

#include <ldap.h>

#include <string>

#include "core/strings.h"

namespace syncd::ldap {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsKeyChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '-'; }

// RFC 4512 descr: ALPHA *(ALPHA / DIGIT / HYPHEN).
bool IsDescr(std::string_view text) {
  if (text.empty() || !IsAlpha(text.front())) return false;
  for (char c : text) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

// RFC 4512 numericoid: number 1*(DOT number), numbers without leading zeros.
bool IsNumericOid(std::string_view text) {
  int numbers = 0;
  size_t start = 0;
  for (;;) {
    size_t dot = text.find('.', start);
    std::string_view number = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (number.empty() || (number.size() > 1 && number.front() == '0')) return false;
    for (char c : number) {
      if (!IsDigit(c)) return false;
    }
    ++numbers;
    if (dot == std::string_view::npos) return numbers >= 2;
    start = dot + 1;
  }
}

bool IsOid(std::string_view text) { return IsDescr(text) || IsNumericOid(text); }

// A recursive-descent reader of RFC 4515's grammar. Every method returns
// false once an error is recorded; the first error wins.
class FilterParser {
 public:
  explicit FilterParser(std::string_view text) : text_(text) {}

  // `form` is what the whole text must be.
  enum class Form { kOne, kList, kWithoutParentheses };
  Status Parse(Form form) {
    if (text_.size() > kMaxFilterLength) {
      return Status::InvalidArgument("must be an LDAP filter of at most " +
                                     std::to_string(kMaxFilterLength) + " characters, not " +
                                     std::to_string(text_.size()));
    }
    SkipSpaces();
    bool ok = false;
    switch (form) {
      case Form::kOne:
        ok = Filter(0);
        break;
      case Form::kList:
        ok = FilterList(0, "a filter list");
        break;
      case Form::kWithoutParentheses:
        ok = Component(0);
        break;
    }
    if (ok) {
      SkipSpaces();
      if (pos_ < text_.size()) {
        Fail(Peek() == ')' ? "unbalanced \")\"" : "unexpected text after the filter");
      }
    }
    return error_;
  }

 private:
  bool Filter(int depth) {
    if (Peek() != '(') return Fail("expected \"(\"");
    ++pos_;
    SkipSpaces();
    if (!Component(depth)) return false;
    if (Peek() != ')') return Fail("expected \")\"");
    ++pos_;
    return true;
  }

  // filtercomp = and / or / not / item
  bool Component(int depth) {
    if (depth >= kMaxFilterDepth) {
      return Fail("nests deeper than " + std::to_string(kMaxFilterDepth) + " levels");
    }
    const char c = Peek();
    if (c == '&' || c == '|') {
      ++pos_;
      return FilterList(depth + 1, std::string("\"") + c + "\"");
    }
    if (c == '!') {
      ++pos_;
      SkipSpaces();
      return Filter(depth + 1);
    }
    return Item();
  }

  // 1*filter, spaces between them allowed.
  bool FilterList(int depth, const std::string& what) {
    SkipSpaces();
    if (Peek() != '(') return Fail(what + " needs at least one \"(...)\" filter");
    while (Peek() == '(') {
      if (!Filter(depth)) return false;
      SkipSpaces();
    }
    return true;
  }

  // item = simple / present / substring / extensible
  bool Item() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (IsKeyChar(text_[pos_]) || text_[pos_] == '.' || text_[pos_] == ';')) {
      ++pos_;
    }
    const std::string_view attr = text_.substr(start, pos_ - start);
    if (!attr.empty() && !IsAttributeDescription(attr)) {
      pos_ = start;
      return Fail("\"" + std::string(attr) + "\" is not an attribute name");
    }
    const char c = Peek();
    if (attr.empty() && c != ':') {
      if (c == '\0' || c == ')') return Fail("expected an attribute name");
      return Fail("expected an attribute name, not \"" + std::string(1, c) + "\"");
    }
    if (c == '=') {
      ++pos_;
      return Value(/*star_allowed=*/true);
    }
    if ((c == '~' || c == '>' || c == '<') && Peek(1) == '=') {
      pos_ += 2;
      return Value(/*star_allowed=*/false);
    }
    if (c == ':') return Extensible(!attr.empty());
    return Fail("expected \"=\", \"~=\", \">=\", \"<=\" or \":=\" after \"" + std::string(attr) +
                "\"");
  }

  // [":dn"] [":" matchingrule] ":=" assertionvalue, after the attribute.
  bool Extensible(bool has_attr) {
    bool dn = false, rule = false;
    while (Peek() == ':') {
      ++pos_;
      if (Peek() == '=') {
        ++pos_;
        if (!has_attr && !rule) {
          return Fail("an extensible match without an attribute needs a matching rule");
        }
        return Value(/*star_allowed=*/false);
      }
      const size_t start = pos_;
      while (pos_ < text_.size() && (IsKeyChar(text_[pos_]) || text_[pos_] == '.')) ++pos_;
      const std::string_view token = text_.substr(start, pos_ - start);
      if (!dn && !rule && AsciiLower(token) == "dn") {
        dn = true;
      } else if (!rule && IsOid(token)) {
        rule = true;
      } else {
        pos_ = start;
        return Fail("expected a matching rule OID or \"=\" after \":\"");
      }
    }
    return Fail("expected \":=\"");
  }

  // assertionvalue up to the closing ")" (or the end of an unparenthesised
  // item): "\" needs two hex digits; "(" must be escaped; "*" only with "=".
  bool Value(bool star_allowed) {
    while (pos_ < text_.size() && text_[pos_] != ')') {
      const char c = text_[pos_];
      if (c == '\\') {
        if (HexDigitValue(Peek(1)) < 0 || HexDigitValue(Peek(2)) < 0) {
          return Fail("\"\\\" in a value must start an escape of two hex digits, such as \\28");
        }
        pos_ += 3;
        continue;
      }
      if (c == '(') return Fail("\"(\" in a value must be written \\28");
      if (c == '\0') return Fail("a NUL byte in a value must be written \\00");
      if (c == '*' && !star_allowed) {
        return Fail("\"*\" in a value must be written \\2a (wildcards need \"=\")");
      }
      ++pos_;
    }
    return true;
  }

  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool Fail(const std::string& what) {
    if (error_.ok()) {
      const std::string where =
          pos_ < text_.size() ? "at character " + std::to_string(pos_ + 1) : "at the end";
      error_ = Status::InvalidArgument("must be an LDAP filter (RFC 4515): " + what + " " + where);
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  Status error_;
};

}  // namespace

Status CheckDn(std::string_view dn) {
  if (dn.empty()) return Status::InvalidArgument("must be a DN, not empty");
  if (dn.size() > kMaxDnLength) {
    return Status::InvalidArgument("must be a DN of at most " + std::to_string(kMaxDnLength) +
                                   " characters, not " + std::to_string(dn.size()));
  }
  const std::string text(dn);
  LDAPDN parsed = nullptr;
  const int rc = text.find('\0') == std::string::npos
                     ? ldap_str2dn(text.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3)
                     : LDAP_INVALID_DN_SYNTAX;
  if (parsed != nullptr) ldap_dnfree(parsed);
  if (rc != LDAP_SUCCESS) {
    return Status::InvalidArgument(
        "must be a DN (RFC 4514) such as \"OU=People,DC=corp,DC=example,DC=com\", not \"" +
        (text.size() > 80 ? text.substr(0, 80) + "..." : text) + "\"");
  }
  return Status::Ok();
}

Status CheckFilter(std::string_view filter) {
  return FilterParser(filter).Parse(FilterParser::Form::kOne);
}

Status CheckFilterList(std::string_view filters) {
  return FilterParser(filters).Parse(FilterParser::Form::kList);
}

Status CheckFilterWithoutParentheses(std::string_view filter) {
  return FilterParser(filter).Parse(FilterParser::Form::kWithoutParentheses);
}

bool IsAttributeDescription(std::string_view text) {
  const size_t semi = text.find(';');
  if (!IsOid(text.substr(0, semi))) return false;
  if (semi == std::string_view::npos) return true;
  std::string_view options = text.substr(semi + 1);
  for (;;) {
    const size_t next = options.find(';');
    std::string_view option = options.substr(0, next);
    if (option.empty()) return false;
    for (char c : option) {
      if (!IsKeyChar(c)) return false;
    }
    if (next == std::string_view::npos) return true;
    options = options.substr(next + 1);
  }
}

}  // namespace syncd::ldap

#include "syncd/output.h"

#include <boost/json.hpp>

#include "core/strings.h"
#include "syncd/planner.h"
#include "syncd/rendered_creates.h"

namespace syncd {
namespace json = boost::json;
namespace {

// Directory text (names, values, reasons) goes through TerminalSafe on its
// way into text output: AD data must not steer the operator's terminal or
// fake a line of the plan. JSON output escapes on its own.

std::string Quote(const std::optional<std::string>& v) {
  if (!v) return "(none)";
  std::string quoted = "\"";
  quoted += TerminalSafe(*v);
  quoted += '"';
  return quoted;
}

std::string Describe(const Operation& op) {
  std::string line =
      std::string(OpName(op.op)) + " " + KindName(op.kind) + " " + TerminalSafe(op.object->name);
  if (op.member) {
    line += (op.op == OpType::kAddMember ? " <- " : " -/- ") +
            std::string(KindName(op.member->kind)) + " " + TerminalSafe(op.member->name);
  }
  if (op.op == OpType::kCreate || op.op == OpType::kDelete) {
    line += " (" + TerminalSafe(op.object->external_id) + ")";
  }
  for (const auto& c : *op.changes) {
    line += "\n      " + TerminalSafe(c.attribute) + ": " + Quote(c.old_value) + " -> " +
            Quote(c.new_value);
  }
  return line;
}

char Sigil(OpType op) {
  switch (op) {
    case OpType::kCreate:
    case OpType::kAddMember:
      return '+';
    case OpType::kUpdate:
      return '~';
    case OpType::kDelete:
    case OpType::kRemoveMember:
      return '-';
  }
  return '?';
}

json::value OptionalString(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::object OperationJson(const Operation& op) {
  json::object o;
  o["op"] = OpName(op.op);
  o["kind"] = KindName(op.kind);
  o["externalId"] = op.object->external_id;
  o["name"] = op.object->name;
  if (op.op == OpType::kCreate) {
    json::object attrs;
    for (const auto& [k, v] : op.object->attributes) attrs[k] = v;
    o["attributes"] = std::move(attrs);
  }
  if (op.op == OpType::kUpdate) {
    json::object changes;
    for (const auto& c : *op.changes) {
      changes[c.attribute] = {{"old", OptionalString(c.old_value)},
                              {"new", OptionalString(c.new_value)}};
    }
    o["changes"] = std::move(changes);
  }
  if (op.member) {
    o["member"] = {{"kind", KindName(op.member->kind)},
                   {"externalId", op.member->external_id},
                   {"name", op.member->name}};
  }
  return o;
}

}  // namespace

std::string SummaryLine(const Plan& plan) {
  auto summary = Summarize(plan);
  std::string line;
  int held = 0;
  for (const char* kind : {"user", "group"}) {
    auto& s = summary[kind];
    line += std::string(kind) + "s +" + std::to_string(s["create"]) + " ~" +
            std::to_string(s["update"]) + " -" + std::to_string(s["delete"]) + ", ";
    held += s["held"];
  }
  auto& m = summary["membership"];
  line +=
      "memberships +" + std::to_string(m["add-member"]) + " -" + std::to_string(m["remove-member"]);
  held += m["held"];
  if (held > 0) line += ", " + std::to_string(held) + " held";
  if (!plan.quarantined.empty())
    line += ", " + std::to_string(plan.quarantined.size()) + " quarantined";
  return line;
}

void PrintPlanText(std::ostream& out, const Plan& plan, bool applied) {
  auto summary = Summarize(plan);
  if (plan.run_kind == "full") {
    out << "full reconciliation"
        << (plan.run_reason.empty() ? "" : ": " + TerminalSafe(plan.run_reason)) << "\n";
  } else if (!plan.run_kind.empty()) {
    out << plan.run_kind << " run\n";
  }
  auto verb = [applied](const char* base, const char* done) {
    return std::string(applied ? " " : " to ") + (applied ? done : base);
  };
  for (const char* kind : {"user", "group"}) {
    auto& s = summary[kind];
    out << kind << "s: " << s["create"] << verb("create", "created") << ", " << s["update"]
        << verb("update", "updated") << ", " << s["delete"] << verb("delete", "deleted")
        << (s["held"] ? ", " + std::to_string(s["held"]) + " held" : "") << "\n";
  }
  auto& m = summary["membership"];
  out << "memberships: " << m["add-member"] << verb("add", "added") << ", " << m["remove-member"]
      << verb("remove", "removed") << (m["held"] ? ", " + std::to_string(m["held"]) + " held" : "")
      << "\n";
  if (!plan.read_complete) {
    out << "read incomplete: " << TerminalSafe(plan.incomplete_reason) << "\n";
  }
  for (const auto& op : plan.operations) out << "  " << Sigil(op.op) << " " << Describe(op) << "\n";
  for (const auto& held : plan.held) {
    out << "  ! held: " << Describe(held.operation)
        << "\n      reason: " << TerminalSafe(held.reason) << "\n";
  }
  for (const auto& held : plan.quarantined) {
    out << "  ! quarantined: " << Describe(held.operation)
        << "\n      reason: " << TerminalSafe(held.reason) << "\n";
  }
  if (plan.empty()) out << "nothing to do\n";
}

std::string OperationJsonText(const Operation& op) { return json::serialize(OperationJson(op)); }

// Written as it goes, one operation at a time, so that the plan of a large
// directory never exists twice (as operations and as a JSON tree); the
// text is what serializing the whole document at once would give.
Status PrintPlanJson(std::ostream& out, const Plan& plan, const RenderedCreates* rendered) {
  // `to_text`: an item's JSON text, or why it cannot be had.
  auto array = [&out](const char* key, const auto& list, auto to_text) -> Status {
    out << json::serialize(json::string(key)) << ":[";
    const char* separator = "";
    for (const auto& item : list) {
      Result<std::string> text = to_text(item);
      if (!text.ok()) return text.status();
      out << separator << *text;
      separator = ",";
    }
    out << "]";
    return Status::Ok();
  };
  // A create rendered during the read (its operation holds a twin) comes
  // from `rendered`; everything else from its operation.
  auto operation = [rendered](const Operation& op) -> Result<std::string> {
    if (rendered != nullptr && op.op == OpType::kCreate) {
      auto text = rendered->Rendered(op.object.get());
      if (!text.ok()) return text.status();
      if (*text) return std::move(**text);
    }
    return OperationJsonText(op);
  };
  auto with_reason = [](const HeldOperation& h) -> Result<std::string> {
    json::object o = OperationJson(h.operation);
    o["reason"] = h.reason;
    return json::serialize(o);
  };
  out << "{";
  if (Status st = array("operations", plan.operations, operation); !st.ok()) return st;
  out << ",";
  if (Status st = array("held", plan.held, with_reason); !st.ok()) return st;
  out << ",";
  if (Status st = array("quarantined", plan.quarantined, with_reason); !st.ok()) return st;
  json::object summary;
  for (const auto& [kind, counts] : Summarize(plan)) {
    json::object c;
    for (const auto& [op, n] : counts) c[op] = n;
    summary[kind] = std::move(c);
  }
  json::object rest;
  rest["summary"] = std::move(summary);
  rest["readComplete"] = plan.read_complete;
  rest["kind"] = plan.run_kind;
  rest["reason"] = plan.run_reason;
  if (!plan.read_complete) rest["incompleteReason"] = plan.incomplete_reason;
  // The rest's own braces dropped: its members continue the document.
  const std::string tail = json::serialize(rest);
  out << "," << std::string_view(tail).substr(1) << "\n";
  return Status::Ok();
}

void PrintObjectsText(std::ostream& out, const std::vector<StoredObject>& objects) {
  for (const auto& o : objects) {
    out << KindName(o.kind) << "\t" << TerminalSafe(o.name) << "\t" << TerminalSafe(o.external_id);
    for (const auto& [k, v] : o.attributes) {
      if (k != "userName" && !(o.kind == ObjectKind::kGroup && k == "displayName")) {
        out << "\t" << TerminalSafe(k) << "=" << TerminalSafe(v);
      }
    }
    out << "\n";
  }
}

void PrintObjectsJson(std::ostream& out, const std::vector<StoredObject>& objects) {
  json::array array;
  for (const auto& o : objects) {
    json::object obj;
    obj["kind"] = KindName(o.kind);
    obj["externalId"] = o.external_id;
    obj["name"] = o.name;
    json::object attrs;
    for (const auto& [k, v] : o.attributes) attrs[k] = v;
    obj["attributes"] = std::move(attrs);
    obj["managed"] = o.managed;
    array.push_back(std::move(obj));
  }
  out << json::serialize(array) << "\n";
}

}  // namespace syncd

// How plans and store listings are shown: for people, and as JSON.
#ifndef SYNCD_SYNCD_OUTPUT_H_
#define SYNCD_SYNCD_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "store/sink.h"

namespace syncd {

// A summary line per object type, then one line per operation, then the
// held operations with their reasons.
// applied: word the summary for a plan that was applied ("3 created").
void PrintPlanText(std::ostream& out, const Plan& plan, bool applied = false);

// One line for logs: "users +2 ~1 -0, groups +0 ~0 -0, memberships +3 -1"
// (created, updated, deleted; added, removed), plus ", N held" if any.
std::string SummaryLine(const Plan& plan);

class RenderedCreates;

// {"operations": [...], "held": [...], "summary": {...}, "readComplete": bool}
// `rendered`: creates whose text a full read rendered as it went (the plan
// holds twins of them); null: every operation holds its image. An
// error when a rendered create cannot be read back; the document is then cut
// short.
Status PrintPlanJson(std::ostream& out, const Plan& plan,
                     const RenderedCreates* rendered = nullptr);
// One operation of PrintPlanJson's "operations", as it prints it.
std::string OperationJsonText(const Operation& op);

void PrintObjectsText(std::ostream& out, const std::vector<StoredObject>& objects);
void PrintObjectsJson(std::ostream& out, const std::vector<StoredObject>& objects);

}  // namespace syncd

#endif  // SYNCD_SYNCD_OUTPUT_H_

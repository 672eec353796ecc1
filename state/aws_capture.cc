// IAM Identity Center: the instance last seen and the capture of its
// assignments.
#include <optional>
#include <string_view>

#include "state/internal.h"

namespace syncd {

Result<std::optional<AwsInstanceState>> StateDb::LoadAwsInstance() {
  auto stmt = impl_->db->Prepare(
      "SELECT instance_arn, identity_store_id, previous_identity_store_id, switched_at, "
      "reapply_pending, checked_at FROM aws_instance WHERE id = 1");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  std::optional<AwsInstanceState> found;
  Status st = stmt->ForEachRow([&](const sql::Statement& row) {
    found = AwsInstanceState{.instance_arn = row.ColumnText(0),
                             .identity_store_id = row.ColumnText(1),
                             .previous_identity_store_id = row.ColumnText(2),
                             .switched_at = row.ColumnInt(3),
                             .reapply_pending = row.ColumnInt(4) != 0,
                             .checked_at = row.ColumnInt(5)};
    return Status::Ok();
  });
  if (!st.ok()) {
    return impl_->Context(st);
  }
  return found;
}

Status StateDb::SaveAwsInstance(const AwsInstanceState& instance) {
  if (Status st = impl_->CheckWritable(); !st.ok()) {
    return st;
  }
  auto stmt = impl_->db->Prepare(
      "INSERT OR REPLACE INTO aws_instance (id, instance_arn, identity_store_id, "
      "previous_identity_store_id, switched_at, reapply_pending, checked_at) "
      "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)");
  if (!stmt.ok()) {
    return impl_->Context(stmt.status());
  }
  return impl_->Context(stmt->Bind(1, std::string_view(instance.instance_arn))
                            .Bind(2, std::string_view(instance.identity_store_id))
                            .Bind(3, std::string_view(instance.previous_identity_store_id))
                            .Bind(4, instance.switched_at)
                            .Bind(5, static_cast<int64_t>(instance.reapply_pending ? 1 : 0))
                            .Bind(6, instance.checked_at)
                            .Run());
}

}  // namespace syncd

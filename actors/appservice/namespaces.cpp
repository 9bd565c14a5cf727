#include "actors/appservice/namespaces.hpp"

#include "common/config.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"

namespace myelin::appservice {

bool check_alias_creation(const homeserver_config& cfg, const std::string& appservice_id, const std::string& alias) {
  auto services = current_appservices(cfg);
  if (!appservice_id.empty()) {
    const auto* as = services->by_id(appservice_id);
    if (!as || !as->is_interested_in_alias(alias))
      throw protocol::matrix_error(403, "M_EXCLUSIVE", "This application service has not reserved this kind of alias.");
    return true;
  }
  if (services->exclusive_owner_of_alias(alias))
    throw protocol::errors::exclusive("This alias is reserved by an application service.");
  return false;
}

} // namespace myelin::appservice
